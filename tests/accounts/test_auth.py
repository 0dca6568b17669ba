"""Accounts: sign up, log in, log out, sessions, password change and reset."""

import base64
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from cara.accounts import auth, sessions
from cara.core.extensions import db
from cara.core.models import PasswordReset, User, utcnow
from tests.factories import csrf_token_from, login, person

GOOD = "correct horse battery"


def signup(client, username="ana", email="ana@example.com", password=GOOD):
    return client.post("/signup", data={"username": username, "email": email, "password": password})


def test_signup_page_has_labelled_fields(client):
    html = client.get("/signup").get_data(as_text=True)
    for label in ("Username", "Email", "Password"):
        assert f">{label}</label>" in html


def test_signup_makes_an_unconfirmed_account_and_sends_to_log_in(client):
    response = signup(client)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    user = db.session.scalar(select(User).where(User.username == "ana"))
    assert user and user.email == "ana@example.com" and user.check_password(GOOD)
    assert not user.email_verified  # tests/accounts/test_signup.py: confirming it


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
    password = "violet harbour quietly stitching maps under lantern rain, 42 xyz"
    assert len(password) == 64 and signup(client, password=password).status_code == 303


def test_username_unique_regardless_of_case(client, make_user):
    make_user("ana")
    response = signup(client, "ANA", "other@example.com")
    assert response.status_code == 422 and "taken" in response.get_data(as_text=True)


def test_login_by_username_or_email_and_logout(client, make_user):
    make_user("ana")
    for name in ("ana", "ANA@example.com"):
        response = client.post("/login", data={"login": name, "password": GOOD})
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


# --- login throttling: per account and per IP (docs/decisions.md) ---------------------------


def from_ip(client, ip: str):
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def fail(client, login="ana", times=1):
    return [
        client.post("/login", data={"login": login, "password": "wrong password here"}).status_code
        for _ in range(times)
    ]


def test_failed_passwords_are_limited_per_account_across_addresses(app):
    """Per-account throttling: ten wrong passwords from ten addresses lock the account's
    password step for a while, the right password included (from a browser it never used)."""
    person("ana")
    for i in range(10):
        assert fail(from_ip(app.test_client(), f"198.51.100.{i}")) == [422]
    attacker = from_ip(app.test_client(), "198.51.100.200")
    response = attacker.post("/login", data={"login": "ana", "password": GOOD})
    assert response.status_code == 429 and "Too many failed attempts" in response.get_data(
        as_text=True
    )
    assert attacker.get("/settings").status_code == 302


def test_unknown_names_are_limited_like_accounts_so_the_limit_reveals_nothing(app):
    person("ana")
    client = from_ip(app.test_client(), "198.51.100.1")
    assert fail(client, "ana", 11) == fail(client, "nobody_here", 11) == [422] * 10 + [429]


def test_the_owner_logs_in_from_a_known_browser_while_the_account_is_attacked(app):
    person("ana")
    laptop = from_ip(app.test_client(), "192.0.2.10")
    login(laptop)
    laptop.post("/logout")
    for i in range(12):
        fail(from_ip(app.test_client(), f"198.51.100.{i}"))
    assert login(laptop).status_code == 303  # the device cookie proves an earlier login
    laptop.post("/logout")
    # ...but a stolen or shared device cookie has its own limit.
    assert fail(laptop, times=11) == [422] * 10 + [429]


def test_a_tampered_device_cookie_is_ignored(app):
    person("ana")
    for i in range(10):
        fail(from_ip(app.test_client(), f"198.51.100.{i}"))
    client = from_ip(app.test_client(), "192.0.2.10")
    client.set_cookie(client.application.config["DEVICE_COOKIE_NAME"], "eyIxIjoieCJ9.forged")
    assert client.post("/login", data={"login": "ana", "password": GOOD}).status_code == 429


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}]
)
def test_a_limited_address_gets_429_but_a_known_browser_with_the_password_logs_in(app):
    """The decision for "a correct password is refused once the IP is limited": a browser
    that logged in to this account before gets in; a new browser waits, like the attacker."""
    person("ana")
    person("bob")
    laptop = from_ip(app.test_client(), "203.0.113.5")
    login(laptop)
    laptop.post("/logout")
    office = from_ip(app.test_client(), "203.0.113.5")  # the same address, another browser
    assert fail(office, "bob", 4) == [422, 422, 422, 429]
    new_browser = office.post("/login", data={"login": "ana", "password": GOOD})
    assert new_browser.status_code == 429
    assert login(laptop).status_code == 303
    # Successes are not counted: the limit is on failures only.
    elsewhere = from_ip(app.test_client(), "203.0.113.77")
    for _ in range(5):
        login(elsewhere)
        elsewhere.post("/logout")


def test_a_new_password_lifts_the_account_limit(app, client):
    user = person("ana")
    for i in range(10):
        fail(from_ip(app.test_client(), f"198.51.100.{i}"))
    assert auth.reset_password(user, "a brand new passphrase") == {}
    assert (
        client.post(
            "/login", data={"login": "ana", "password": "a brand new passphrase"}
        ).status_code
        == 303
    )


# --- password strength (zxcvbn) ------------------------------------------------------------


@pytest.mark.parametrize("weak", ["aaaaaaaa", "eve12345", "qwertyuiop1", "ana_example", "ana2026!"])
def test_weak_passwords_are_refused_with_zxcvbn_feedback(client, weak):
    response = signup(client, "ana", "ana@example.com", weak)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "too easy to guess" in html or "too common" in html
    assert db.session.scalar(select(User)) is None


def test_weak_password_message_carries_the_feedback():
    errors = auth.password_errors("aaaaaaaa", username="ana", email="ana@example.com")
    assert errors == [
        'That password is too easy to guess. Repeats like "aaa" are easy to guess. '
        "Add another word or two. Uncommon words are better. "
        "Avoid repeated words and characters."
    ]
    assert auth.password_errors("correct horse battery") == []
    assert auth.password_errors("Tr0ub4dor&3 " * 10) == []  # 120 characters: no error


def test_weak_new_password_is_refused_on_change_and_reset(client, make_user, caplog):
    user = make_user("ana")
    login(client)
    change = client.post(
        "/settings/password", data={"current_password": GOOD, "new_password": "eve12345"}
    )
    assert change.status_code == 422 and "too easy to guess" in change.get_data(as_text=True)
    reset = client.post(f"/password/reset/{auth.reset_token(user)}", data={"password": "aaaaaaaa"})
    assert reset.status_code == 422 and user.check_password(GOOD)


# --- reset tokens reveal nothing --------------------------------------------------------------


def test_reset_token_is_opaque_and_stored_hashed(make_user):
    user = make_user("ana")
    token = auth.reset_token(user)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    padded = token + "=" * (-len(token) % 4)
    decoded = base64.urlsafe_b64decode(padded)
    assert user.password_hash[-16:].encode() not in decoded  # no dots: not a signed payload
    row = db.session.scalar(select(PasswordReset))
    assert row.token_hash == sessions.token_hash(token) and token not in row.token_hash
    assert auth.reset_token(user) != token  # random, not derived from the account


def test_reset_link_expires(client, make_user):
    user = make_user("ana")
    token = auth.reset_token(user)
    row = db.session.scalar(select(PasswordReset))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/password/reset/{token}").headers["Location"] == "/password/reset"


def test_a_password_change_or_reset_ends_every_reset_link(client, make_user):
    user = make_user("ana")
    first, second = auth.reset_token(user), auth.reset_token(user)
    assert (
        client.post(
            f"/password/reset/{first}", data={"password": "my fresh passphrase"}
        ).status_code
        == 303
    )
    assert client.get(f"/password/reset/{second}").status_code == 303  # the other link too
    third = auth.reset_token(user)
    login(client, password="my fresh passphrase")
    client.post(
        "/settings/password",
        data={"current_password": "my fresh passphrase", "new_password": "a brand new passphrase"},
    )
    assert client.get(f"/password/reset/{third}").status_code == 303
    assert db.session.scalar(select(PasswordReset)) is None
