"""Email change with confirmation (issue 12), mailed through a real SMTP server."""

import re
from datetime import timedelta

from sqlalchemy import select

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import EmailChange, User
from tests.factories import GOOD, login, person

FORM = "change-"  # the form's prefix


def _ask(client, email="ana@new.example", password=GOOD):
    return client.post("/settings/email", data={FORM + "email": email, FORM + "password": password})


def _link(message) -> str:
    body = message.get_content()
    return re.search(r"http://cara\.test(/settings/email/confirm/\S+)", body).group(1)


def _email(username="ana") -> str:
    return db.session.scalar(select(User.email).filter_by(username=username))


def test_the_new_address_confirms_and_the_old_one_is_told(client, smtp):
    person("ana")
    login(client, "ana")
    response = _ask(client)
    assert response.status_code == 303
    (confirm,) = smtp.to("ana@new.example")
    (notice,) = smtp.to("ana@example.com")
    assert "ana@new.example" in notice.get_content()
    assert _email() == "ana@example.com"  # nothing changes before the confirmation
    assert "Waiting for" in client.get("/settings").get_data(as_text=True)

    link = _link(confirm)
    row = db.session.scalar(select(EmailChange))
    assert link.rsplit("/", 1)[1] not in row.token_hash  # only a hash of the token is stored
    page = client.get(link)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    assert _email() == "ana@example.com"  # opening the link (a mail scanner) changes nothing
    assert client.post(link).status_code == 303
    assert _email() == "ana@new.example"
    assert len(smtp.to("ana@example.com")) == 2  # "was changed"
    assert "is now ana@new.example" in smtp.to("ana@example.com")[1].get_content()

    assert client.get(link).status_code == 404  # single use
    client.post(link)
    assert _email() == "ana@new.example"


def test_the_link_works_without_being_logged_in(client, smtp):
    person("ana")
    login(client, "ana")
    _ask(client)
    client.post("/logout")
    link = _link(smtp.to("ana@new.example")[0])
    assert client.post(link).status_code == 303
    assert _email() == "ana@new.example"


def test_bad_requests_are_refused_with_a_message(client, smtp):
    person("ana")
    login(client, "ana")
    for email, password, message in [
        ("ana@new.example", "not my password", "That is not your password."),
        ("not-an-address", GOOD, "Enter a valid email address."),
        ("ANA@example.com", GOOD, "That is already your address."),
        ("", GOOD, "This field is required."),
    ]:
        response = _ask(client, email, password)
        assert response.status_code == 422, email
        assert message in response.get_data(as_text=True)
    assert smtp.messages == [] and db.session.scalar(select(EmailChange)) is None


def test_the_link_expires(client, smtp):
    person("ana")
    login(client, "ana")
    _ask(client)
    link = _link(smtp.to("ana@new.example")[0])
    row = db.session.scalar(select(EmailChange))
    row.expires_at = tasks.now() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(link).status_code == 404
    client.post(link)
    assert _email() == "ana@example.com"


def test_a_taken_address_gets_the_same_answer_and_its_owner_is_told(client, smtp):
    person("ana")
    person("bob")
    login(client, "ana")
    taken = _ask(client, "bob@example.com")
    assert taken.status_code == 303
    taken_page = client.get("/settings").get_data(as_text=True)
    assert "We sent a confirmation link to bob@example.com" in taken_page
    (told,) = smtp.to("bob@example.com")
    assert "already has an account" in told.get_content()
    assert db.session.scalar(select(EmailChange)) is None
    free = _ask(client, "free@example.com")
    assert free.status_code == taken.status_code


def test_uniqueness_is_checked_again_at_confirmation(client, smtp):
    person("ana")
    login(client, "ana")
    _ask(client)
    late = person("late")
    late.email = "ana@new.example"  # someone took the address meanwhile
    db.session.commit()
    link = _link(smtp.to("ana@new.example")[0])
    client.post(link)
    assert _email() == "ana@example.com"
    assert _email("late") == "ana@new.example"


def test_a_pending_change_can_be_cancelled(client, smtp):
    person("ana")
    login(client, "ana")
    _ask(client)
    link = _link(smtp.to("ana@new.example")[0])
    assert client.post("/settings/email/cancel").status_code == 303
    client.post(link)
    assert _email() == "ana@example.com"
