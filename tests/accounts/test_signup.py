"""Sign-up on the site: registration modes, invites, email confirmation (mailed through a real
SMTP server), accounts waiting for approval, and answers that reveal no one's address."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cara.core import settings
from cara.core.extensions import db
from cara.core.models import Invite, User, utcnow
from tests.factories import GOOD, login


def signup(client, username="bob", email="bob@example.com", invite=""):
    data = {"username": username, "email": email, "password": GOOD, "invite": invite}
    return client.post("/signup", data=data)


def user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def set_registration(mode: str) -> None:
    settings.save({"registration": mode})
    db.session.commit()


def make_invite(**fields) -> Invite:
    values = {"code": "invite-code-1", "max_uses": 1, "expires_at": utcnow() + timedelta(days=1)}
    invite = Invite(**{**values, **fields})
    db.session.add(invite)
    db.session.commit()
    return invite


def like_status(client, post) -> int:
    return client.post(f"/posts/{post.id}/like").status_code


def test_a_taken_email_gets_the_same_answer_and_its_owner_is_mailed(client, make_user, smtp):
    make_user("ana")
    new = signup(client, "bob", "bob@example.com")
    taken = signup(client, "carl", "ANA@example.com")
    assert new.status_code == taken.status_code == 303
    assert new.headers["Location"] == taken.headers["Location"] == "/login"
    answers = [r.get_data(as_text=True) for r in (new, taken)]
    assert answers[0] == answers[1]
    assert user("carl") is None
    # The owner of the address is told, with a way in; the new account gets its link.
    (warning,) = smtp.to("ana@example.com")
    assert "tried to sign up" in warning["Subject"]
    assert "http://cara.test/password/reset" in warning.get_body().get_content()
    assert smtp.link("bob@example.com", "/verify/").startswith("http://cara.test/verify/")


def test_the_flash_after_sign_up_is_the_same_for_a_taken_email(app, make_user, smtp):
    make_user("ana")
    flashes = []
    for username, email in [("bob", "bob@example.com"), ("carl", "ana@example.com")]:
        client = app.test_client()
        signup(client, username, email)
        page = client.get("/login").get_data(as_text=True)
        flashes.append(page.split('<div id="flashes"', 1)[1].split("</div>", 1)[0])
    assert flashes[0] == flashes[1] and "Check your inbox" in flashes[0]


def test_an_unconfirmed_account_logs_in_but_cannot_interact_until_it_confirms(
    client, make_post, smtp
):
    post = make_post()
    signup(client)
    login(client, "bob")
    page = client.get("/").get_data(as_text=True)
    assert "Confirm your email address" in page and "Send the link again" in page
    refused = client.post(f"/posts/{post.id}/like")
    assert refused.status_code == 403
    assert "Confirm your email address" in refused.get_data(as_text=True)
    assert client.post("/verify/resend", data={"next": "/"}).status_code == 303
    assert len(smtp.to("bob@example.com")) == 2
    link = smtp.link("bob@example.com", "/verify/")
    assert client.get(link.removeprefix("http://cara.test")).status_code == 303
    assert user("bob").email_verified
    assert like_status(client, post) in (200, 303)
    assert "Confirm your email address" not in client.get("/").get_data(as_text=True)


def test_a_bad_or_expired_confirmation_link_confirms_nothing(app, client, smtp):
    signup(client)
    link = smtp.link("bob@example.com", "/verify/").removeprefix("http://cara.test")
    assert client.get(link + "x").status_code == 303
    app.config["EMAIL_VERIFY_MAX_AGE"] = -1
    assert client.get(link).status_code == 303
    assert not user("bob").email_verified


def test_sign_up_still_answers_when_the_mail_server_is_down(app, client):
    from tests.support import free_port

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    assert signup(client).status_code == 303
    assert user("bob") is not None  # the link can be sent again after logging in


def test_closed_registration_says_so_and_refuses_a_post(client):
    set_registration("closed")
    page = client.get("/signup")
    assert page.status_code == 200 and "Sign-ups are closed" in page.get_data(as_text=True)
    assert 'name="password"' not in page.get_data(as_text=True)
    assert signup(client).status_code == 403
    assert user("bob") is None
    make_invite()  # invites do not open a closed site
    assert signup(client, invite="invite-code-1").status_code == 403


def test_invite_only_needs_a_valid_invite_and_counts_its_uses(client):
    set_registration("invite")
    assert signup(client).status_code == 403
    invite = make_invite(max_uses=2)
    assert "by invitation only" not in client.get("/signup?invite=invite-code-1").get_data(
        as_text=True
    )
    assert signup(client, "bob", "bob@example.com", "invite-code-1").status_code == 303
    assert signup(client, "cyd", "cyd@example.com", "invite-code-1").status_code == 303
    assert signup(client, "dan", "dan@example.com", "invite-code-1").status_code == 403
    db.session.refresh(invite)
    assert invite.uses == 2 and user("cyd") and user("dan") is None


@pytest.mark.parametrize(
    "fields",
    [{"revoked": True}, {"expires_at": utcnow() - timedelta(seconds=1)}, {"uses": 1}],
    ids=["revoked", "expired", "used-up"],
)
def test_an_unusable_invite_is_refused(client, fields):
    set_registration("invite")
    make_invite(**fields)
    response = signup(client, invite="invite-code-1")
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)
    assert user("bob") is None


def test_approval_mode_accounts_wait_for_an_admin(client, make_post, smtp):
    set_registration("approval")
    post = make_post()
    signup(client)
    bob = user("bob")
    assert not bob.approved
    bob.email_verified = True
    db.session.commit()
    login(client, "bob")
    assert "waiting for an admin" in client.get("/").get_data(as_text=True)
    refused = client.post(f"/posts/{post.id}/like")
    assert refused.status_code == 403 and "approval" in refused.get_data(as_text=True)
    assert client.get("/settings").status_code == 200  # the account itself is theirs


def test_an_invite_skips_approval(client):
    set_registration("approval")
    make_invite()
    signup(client, invite="invite-code-1")
    assert user("bob").approved
