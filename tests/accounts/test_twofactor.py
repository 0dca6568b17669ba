"""TOTP two-factor authentication: set-up with a server-drawn QR code, the login's second step,
recovery codes, throttled codes, turning it off. Every step is a plain form (no JavaScript)."""

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from cara.accounts import twofactor
from cara.core.extensions import db
from cara.core.models import RecoveryCode, TwoFactor, User
from tests.factories import GOOD, login, person


def enable(client, user: User) -> tuple[str, list[str]]:
    """Turn 2FA on through the settings pages; returns the secret and the recovery codes."""
    assert client.post("/settings/two-factor/setup").status_code == 303
    page = client.get("/settings/two-factor").get_data(as_text=True)
    secret = "".join(
        re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1).split()
    )
    response = client.post("/settings/two-factor/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    return secret, codes


def forget_used_code(user: User) -> None:
    """Enabling used the current step's code; a login in the same 30 s needs a fresh one."""
    db.session.get(TwoFactor, user.id).last_step = 0
    db.session.commit()


def password_step(client) -> None:
    """Log out, then pass the login's first step again: the code is asked for next."""
    client.post("/logout")
    response = client.post("/login", data={"login": "ana", "password": GOOD})
    assert response.headers["Location"] == "/login/code"


def code_at(secret: str, steps_ago: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() - 30 * steps_ago)


def test_set_up_shows_an_svg_qr_code_and_the_key_then_ten_recovery_codes_once(client):
    ana = person("ana")
    login(client)
    start = client.get("/settings/two-factor").get_data(as_text=True)
    assert 'action="/settings/two-factor/setup"' in start
    client.post("/settings/two-factor/setup")
    page = client.get("/settings/two-factor")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<img src="data:image/svg\+xml[^"]+" alt="QR code for your', html)
    secret = db.session.get(TwoFactor, ana.id).secret
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    assert not twofactor.enabled(ana)  # not before a code confirms the app has it

    wrong = client.post("/settings/two-factor/confirm", data={"code": "000000"})
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    done = client.post("/settings/two-factor/confirm", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    assert done.headers["Cache-Control"] == "no-store"
    assert len(codes) == len(set(codes)) == 10 and twofactor.enabled(ana)
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept
    later = client.get("/settings/two-factor").get_data(as_text=True)
    assert not any(code in later for code in codes) and "Turn off" in later
    assert "Two-factor authentication</h2>\n  \n  <p>On:" in client.get("/settings").get_data(
        as_text=True
    )


def test_login_asks_for_the_code_after_the_password(app, client):
    ana = person("ana")
    login(client)
    secret, _ = enable(client, ana)
    client.post("/logout")
    response = client.post("/login?next=/settings", data={"login": "ana", "password": GOOD})
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    assert client.get("/settings").status_code == 302  # the password alone logs nobody in
    form = client.get("/login/code").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in form and ">Authentication code</label>" in form
    wrong = client.post("/login/code", data={"code": "123456"})
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    code = code_at(secret)
    # This step's code counts as spent (enabling used it, unless a step boundary passed since).
    db.session.get(TwoFactor, ana.id).last_step = int(time.time() // 30)
    db.session.commit()
    assert client.post("/login/code", data={"code": code}).status_code == 422
    forget_used_code(ana)
    response = client.post("/login/code", data={"code": code})
    assert response.status_code == 303 and response.headers["Location"] == "/settings"
    assert client.get("/settings").status_code == 200
    # The same code does not work twice (a code seen over a shoulder is spent).
    other = app.test_client()
    other.post("/login", data={"login": "ana", "password": GOOD})
    assert other.post("/login/code", data={"code": code}).status_code == 422


def test_a_code_from_the_previous_step_is_accepted_for_clock_drift(client):
    ana = person("ana")
    login(client)
    secret, _ = enable(client, ana)
    password_step(client)
    forget_used_code(ana)
    assert client.post("/login/code", data={"code": code_at(secret, 1)}).status_code == 303
    password_step(client)
    assert client.post("/login/code", data={"code": code_at(secret, 3)}).status_code == 422


def test_a_recovery_code_logs_in_once(client):
    ana = person("ana")
    login(client)
    _, codes = enable(client, ana)
    password_step(client)
    typed = " " + codes[0].upper().replace("-", " ") + " "  # read off paper, typed loosely
    assert client.post("/login/code", data={"code": typed}).status_code == 303
    password_step(client)
    assert client.post("/login/code", data={"code": codes[0]}).status_code == 422
    assert client.post("/login/code", data={"code": codes[1]}).status_code == 303
    assert db.session.scalar(select(db.func.count(RecoveryCode.id))) == 8


def test_code_attempts_are_limited_per_account(client, app):
    ana = person("ana")
    login(client)
    secret, _ = enable(client, ana)
    password_step(client)
    limit = int(app.config["TWO_FACTOR_LIMIT"].split()[0])
    assert limit == 5
    codes = [client.post("/login/code", data={"code": "999999"}).status_code for _ in range(6)]
    assert codes == [422] * 5 + [429]
    # Even the right code waits: the attacker who has the password cannot keep guessing.
    forget_used_code(ana)
    limited = client.post("/login/code", data={"code": code_at(secret)})
    assert limited.status_code == 429 and "Too many wrong codes" in limited.get_data(as_text=True)
    assert client.get("/settings").status_code == 302


def test_the_code_step_expires_and_needs_the_password_first(client, monkeypatch):
    ana = person("ana")
    login(client)
    secret, _ = enable(client, ana)
    client.post("/logout")
    assert client.get("/login/code").headers["Location"] == "/login"  # no password given
    client.post("/login", data={"login": "ana", "password": GOOD})
    later = time.time() + twofactor.PENDING_SECONDS + 1
    monkeypatch.setattr(twofactor.time, "time", lambda: later)
    response = client.post("/login/code", data={"code": code_at(secret)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/settings").status_code == 302


def test_turning_off_needs_the_password_and_a_code(client):
    ana = person("ana")
    login(client)
    secret, codes = enable(client, ana)
    url = "/settings/two-factor/disable"
    no_password = client.post(url, data={"password": "wrong wrong", "code": code_at(secret)})
    assert no_password.status_code == 422 and "not your password" in no_password.get_data(
        as_text=True
    )
    no_code = client.post(url, data={"password": GOOD, "code": "000000"})
    assert no_code.status_code == 422 and twofactor.enabled(ana)
    assert client.post(url, data={"password": GOOD, "code": codes[3]}).status_code == 303
    assert not twofactor.enabled(ana)
    assert db.session.scalar(select(RecoveryCode)) is None
    client.post("/logout")
    assert client.post("/login", data={"login": "ana", "password": GOOD}).headers["Location"] == "/"


@pytest.mark.parametrize("field", ["", "12345", "1234567", "abcdef", "12 34 5x", "٣٣٣٣٣٣"])
def test_malformed_codes_are_refused_not_errors(client, field):
    ana = person("ana")
    login(client)
    enable(client, ana)
    password_step(client)
    assert client.post("/login/code", data={"code": field}).status_code == 422
