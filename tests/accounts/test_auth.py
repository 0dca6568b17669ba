"""Accounts: sign up, log in, log out, sessions, password change and reset."""

import re

import pytest
from sqlalchemy import select

from cara.accounts import auth
from cara.core.extensions import db
from cara.core.models import User
from tests.factories import csrf_token_from

GOOD = "correct horse battery"


def signup(client, username="ana", email="ana@example.com", password=GOOD):
    return client.post("/signup", data={"username": username, "email": email, "password": password})


def test_signup_page_has_labelled_fields(client):
    html = client.get("/signup").get_data(as_text=True)
    for label in ("Username", "Email", "Password"):
        assert f">{label}</label>" in html


def test_signup_logs_in_and_redirects(client):
    response = signup(client)
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.username == "ana"))
    assert user and user.email == "ana@example.com" and user.check_password(GOOD)
    assert "Log out" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "email", "password", "field_error"),
    [
        ("ab", "a@example.com", GOOD, "3 to 30 characters"),
        ("Has Space", "a@example.com", GOOD, "3 to 30 characters"),
        ("x" * 31, "a@example.com", GOOD, "This field"),  # over the form's length limit
        ("admin", "a@example.com", GOOD, "reserved"),
        ("settings", "a@example.com", GOOD, "reserved"),
        ("bob", "not-an-email", GOOD, "valid email"),
        ("bob", "b@example.com", "short", "at least 8"),
        ("bob", "b@example.com", "password123", "too common"),
        ("bob", "b@example.com", "x" * 129, "This field"),
    ],
)
def test_signup_rejects_bad_input_with_422_and_keeps_input(
    client, username, email, password, field_error
):
    response = signup(client, username, email, password)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error in html or "Field cannot be longer" in html
    assert 'aria-invalid="true"' in html
    assert password not in html  # passwords are never echoed back
    assert db.session.scalar(select(User)) is None


def test_password_of_64_characters_is_accepted(client):
    password = "violet harbour quietly stitching maps under lantern rain, 42 x"
    assert len(password) == 64 and signup(client, password=password).status_code == 303


def test_username_unique_regardless_of_case_and_email_not_enumerated(client, make_user):
    make_user("ana")
    response = signup(client, "ANA", "other@example.com")
    assert response.status_code == 422 and "taken" in response.get_data(as_text=True)
    response = signup(client, "bob", "ANA@example.com")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cannot be used" in html and "already" not in html


def test_login_by_username_or_email_and_logout(client, make_user):
    make_user("ana")
    for login in ("ana", "ANA@example.com"):
        response = client.post("/login", data={"login": login, "password": GOOD})
        assert response.status_code == 303
        assert client.get("/settings").status_code == 200
        assert client.post("/logout").status_code == 303
        assert client.get("/settings").status_code == 302


def test_login_failure_message_is_the_same_for_unknown_user_and_bad_password(client, make_user):
    make_user("ana")
    wrong_password = client.post("/login", data={"login": "ana", "password": "nope nope nope"})
    unknown_user = client.post("/login", data={"login": "zed", "password": "nope nope nope"})
    assert wrong_password.status_code == unknown_user.status_code == 422
    message = "That username, email or password is not right."
    assert message in wrong_password.get_data(as_text=True)
    assert message in unknown_user.get_data(as_text=True)


def test_login_next_only_follows_local_paths(client, make_user):
    make_user("ana")
    response = client.post("/login?next=//evil.example/", data={"login": "ana", "password": GOOD})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/settings", data={"login": "ana", "password": GOOD})
    assert response.headers["Location"] == "/settings"


def test_logout_requires_post(client, make_user, auth):
    make_user("ana")
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.get("/settings").status_code == 200


def test_logout_everywhere_ends_other_sessions(app, make_user):
    make_user("ana")
    laptop, phone = app.test_client(), app.test_client()
    for c in (laptop, phone):
        c.post("/login", data={"login": "ana", "password": GOOD})
        assert c.get("/settings").status_code == 200
    laptop.post("/logout/everywhere")
    assert phone.get("/settings").status_code == 302
    assert laptop.get("/settings").status_code == 302


def test_change_password_keeps_this_session_and_ends_others(app, make_user):
    make_user("ana")
    laptop, phone = app.test_client(), app.test_client()
    for c in (laptop, phone):
        c.post("/login", data={"login": "ana", "password": GOOD})
    response = laptop.post(
        "/settings/password",
        data={"current_password": GOOD, "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 303
    assert laptop.get("/settings").status_code == 200
    assert phone.get("/settings").status_code == 302
    assert auth.authenticate("ana", "a brand new passphrase") is not None


def test_change_password_errors(client, make_user, auth):
    make_user("ana")
    auth.login()
    wrong = client.post(
        "/settings/password", data={"current_password": "wrong wrong", "new_password": "x" * 12}
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)
    weak = client.post("/settings/password", data={"current_password": GOOD, "new_password": "abc"})
    assert weak.status_code == 422 and "at least 8" in weak.get_data(as_text=True)


def test_password_reset_link_is_logged_without_smtp_and_single_use(client, make_user, caplog):
    user = make_user("ana")
    client.post("/password/reset", data={"email": "ana@example.com"})
    mail = next(r.getMessage() for r in caplog.records if "reset link" in r.getMessage())
    path = re.search(r"http://cara\.test(/password/reset/\S+)", mail).group(1)  # BASE_URL
    assert path.startswith("/password/reset/")
    assert client.get(path).status_code == 200
    assert client.post(path, data={"password": "my fresh passphrase"}).status_code == 303
    assert user.check_password("my fresh passphrase")
    # Used once: the same link no longer works.
    response = client.post(path, data={"password": "another passphrase"})
    assert response.status_code == 303 and response.headers["Location"] == "/password/reset"
    assert user.check_password("my fresh passphrase")


def test_password_reset_link_ignores_the_request_host(client, make_user, caplog):
    """H1: a forged Host (or X-Forwarded-Host) must not end up in the mailed link."""
    make_user("ana")
    client.post(
        "/password/reset",
        data={"email": "ana@example.com"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    link = next(r.getMessage() for r in caplog.records if "reset link" in r.getMessage())
    assert "evil.example" not in link and "http://cara.test/password/reset/" in link


def test_password_reset_does_not_reveal_accounts(client, caplog):
    response = client.post("/password/reset", data={"email": "nobody@example.com"})
    assert response.status_code == 303
    assert not any("reset link" in r.getMessage() for r in caplog.records)


def test_tampered_reset_token_is_refused(client, make_user):
    make_user("ana")
    response = client.get("/password/reset/not-a-real-token")
    assert response.status_code == 303


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_csrf_is_required_for_forms_and_htmx_header_works(client, make_user):
    make_user("ana")
    response = client.post("/login", data={"login": "ana", "password": GOOD})
    assert response.status_code == 400
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": "ana", "password": GOOD, "csrf_token": token})
    assert response.status_code == 303
    # htmx requests send the token in a header (hx-headers on <body>).
    page = client.get("/settings").get_data(as_text=True)
    assert '"X-CSRFToken": "' in page
    header_token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", headers={"X-CSRFToken": header_token}).status_code == 303


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}]
)
def test_login_is_rate_limited(client):
    codes = [
        client.post("/login", data={"login": "x", "password": "y" * 8}).status_code
        for _ in range(4)
    ]
    assert codes == [422, 422, 422, 429]


def test_session_cookie_flags(client, make_user):
    make_user("ana")
    response = client.post("/login", data={"login": "ana", "password": GOOD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cli_users_create_makes_an_admin_who_can_log_in(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "root_admin",
            "--email",
            "r@example.com",
            "--password",
            GOOD,
            "--role",
            "admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert client.post("/login", data={"login": "root_admin", "password": GOOD}).status_code == 303
    user = db.session.scalar(select(User).where(User.username == "root_admin"))
    assert user.is_moderator and user.role.value == "admin"
    bad = runner.invoke(args=["users", "create", "x", "--email", "bad", "--password", "short"])
    assert bad.exit_code == 1 and "username" in bad.output


def test_cli_reset_link(app, make_user):
    make_user("ana")
    result = app.test_cli_runner().invoke(args=["users", "reset-link", "ana"])
    assert result.exit_code == 0 and "/password/reset/" in result.output
