"""Server-side sessions: logging out ends them, the list in settings, ending one, idle expiry."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from cara.accounts import sessions
from cara.core.extensions import db
from cara.core.models import User, UserSession, utcnow
from tests.factories import GOOD, login, person

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser(app, agent=FIREFOX, ip="203.0.113.9"):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    return client


def remembered_login(client, username="ana"):
    response = client.post("/login", data={"login": username, "password": GOOD, "remember": "y"})
    assert response.status_code == 303
    return response


def cookies(client) -> dict:
    return {name: client.get_cookie(name).value for name in ("session", "remember_token")}


def test_logout_ends_the_session_so_copied_cookies_no_longer_work(app):
    """M2: the session and remember cookies copied before logging out open nothing after."""
    person("ana")
    client = browser(app)
    remembered_login(client)
    copied = cookies(client)
    assert client.post("/logout").status_code == 303
    for names in (("session", "remember_token"), ("remember_token",), ("session",)):
        thief = browser(app)
        for name in names:
            thief.set_cookie(name, copied[name])
        assert thief.get("/settings").status_code == 302, names
    assert db.session.scalar(select(UserSession)) is None


def test_remember_cookie_alone_logs_in_while_the_session_lives(app):
    person("ana")
    client = browser(app)
    remembered_login(client)
    other = browser(app)
    other.set_cookie("remember_token", cookies(client)["remember_token"])
    assert other.get("/settings").status_code == 200


def test_cookies_carry_a_random_token_and_only_its_hash_is_stored(app):
    client, row = logged_in_session(app)
    ana = db.session.get(User, row.user_id)
    assert ana.username == "ana" and len(row.token_hash) == 64
    with client.session_transaction() as s:
        assert sessions.token_hash(s["_user_id"]) == row.token_hash
        assert str(ana.id) != s["_user_id"] and len(s["_user_id"]) >= 40


def test_settings_lists_sessions_with_this_device_and_ends_another(app):
    ana = person("ana")
    laptop, phone = browser(app), browser(app, IPHONE, "2001:db8:abcd:12::7")
    login(laptop)
    login(phone)
    html = laptop.get("/settings").get_data(as_text=True)
    assert "Firefox on Linux</strong> (this device)" in html
    assert "Safari on iOS</strong>" in html and "Safari on iOS</strong> (this device)" not in html
    assert "network 203.0.113.0/24" in html and "network 2001:db8:abcd::/48" in html
    assert html.count("End this session") == 2
    phone_row = db.session.scalar(
        select(UserSession).where(UserSession.user_agent == "Safari on iOS")
    )
    response = laptop.post(f"/settings/sessions/{phone_row.id}/end")
    assert response.status_code == 303
    assert phone.get("/settings").status_code == 302
    assert laptop.get("/settings").status_code == 200
    assert [s.user_agent for s in sessions.active(ana, timedelta(days=1))] == ["Firefox on Linux"]


def test_ending_this_device_logs_out_and_others_sessions_are_not_found(app):
    ana_user, bob_user = person("ana"), person("bob")
    ana, bob = browser(app), browser(app)
    login(ana)
    login(bob, "bob")
    bob_row = db.session.scalar(select(UserSession).filter_by(user_id=bob_user.id))
    assert ana.post(f"/settings/sessions/{bob_row.id}/end").status_code == 404
    assert bob.get("/settings").status_code == 200
    assert ana.post("/settings/sessions/99999999999999999999/end").status_code == 404
    assert ana.get("/settings/sessions/1/end").status_code == 405  # POST only
    own = db.session.scalar(select(UserSession).filter_by(user_id=ana_user.id))
    response = ana.post(f"/settings/sessions/{own.id}/end")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert ana.get("/settings").status_code == 302


def test_log_out_everywhere_deletes_every_session(app):
    person("ana")
    laptop, phone = browser(app), browser(app)
    login(laptop)
    remembered_login(phone)
    copied = cookies(phone)
    laptop.post("/logout/everywhere")
    thief = browser(app)
    thief.set_cookie("remember_token", copied["remember_token"])
    assert thief.get("/settings").status_code == 302
    assert db.session.scalar(select(UserSession)) is None


def logged_in_session(app):
    """A browser logged in as a new account "ana", and its session's row."""
    person("ana")
    client = browser(app)
    login(client)
    return client, db.session.scalar(select(UserSession))


def test_a_session_unused_for_too_long_ends(app):
    client, row = logged_in_session(app)
    row.last_seen_at = utcnow() - timedelta(days=app.config["SESSION_IDLE_DAYS"], minutes=1)
    db.session.commit()
    assert client.get("/settings").status_code == 302
    assert db.session.scalar(select(UserSession)) is None


def test_last_seen_is_written_at_most_every_few_minutes(app):
    client, row = logged_in_session(app)
    recent = row.last_seen_at - timedelta(minutes=1)
    row.last_seen_at = recent
    db.session.commit()
    client.get("/settings")
    db.session.refresh(row)
    assert row.last_seen_at == recent
    row.last_seen_at = stale = recent - timedelta(minutes=10)
    db.session.commit()
    client.get("/settings")
    db.session.refresh(row)
    assert row.last_seen_at > stale + timedelta(minutes=10)


def test_an_old_style_cookie_logs_nobody_in(app):
    """Cookies of before the upgrade carried "id:generation": they now name no session."""
    ana = person("ana")
    client = browser(app)
    with client.session_transaction() as s:
        s["_user_id"] = f"{ana.id}:0"
        s["_fresh"] = True
    assert client.get("/settings").status_code == 302


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "Unknown browser"),
        ("", "Unknown browser"),
    ],
)
def test_user_agent_summary(agent, summary):
    assert sessions.describe_agent(agent) == summary


def test_ip_prefix_keeps_the_network_only():
    assert sessions.ip_prefix("198.51.100.77") == "198.51.100.0/24"
    assert sessions.ip_prefix("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert sessions.ip_prefix("not an address") == ""


def test_accounts_compare_by_id_not_by_session(app):
    """UserMixin compares get_id(), the session token: None for every account not logged in,
    which made all of them equal (grouped notifications merged different people)."""
    ana, bob = person("ana"), person("bob")
    assert ana != bob and ana == db.session.get(User, ana.id)
    assert len({ana, bob}) == 2 and [ana, bob].count(bob) == 1


def test_the_session_and_its_user_are_one_query(app):
    from sqlalchemy import event

    person("ana")
    browser = app.test_client()
    login(browser, "ana")
    browser.get("/latest")  # past the first touch of last_seen
    statements = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert browser.get("/latest").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    loads = [s for s in statements if "user_sessions.token_hash = " in s]
    assert len(loads) == 1 and "JOIN user_sessions" in loads[0], loads
    assert not [s for s in statements if "FROM users \nWHERE users.id = ?" in s]
