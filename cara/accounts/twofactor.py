"""Optional TOTP two-factor authentication (RFC 6238, via pyotp) with one-time recovery codes.

Set up: `begin` makes a secret shown as a QR code and in text, `confirm` enables it once a
code from the app matches and returns 10 recovery codes (shown once, stored hashed). Logging
in asks for a code after the password (`check_code`, throttled per account); `disable` needs
the password and a code.
"""

import hmac
import secrets
import time

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, select

from cara.accounts import auth, sessions
from cara.core.extensions import db
from cara.core.models import RecoveryCode, TwoFactor, User, utcnow

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
PENDING_SECONDS = 300  # between the password step and the code
WRONG_CODE = "That code is not right. Use the 6 digits your app shows now, or a recovery code."
LIMITED = "Too many wrong codes. Wait a few minutes and try again."


def _record(user: User) -> TwoFactor | None:
    return db.session.get(TwoFactor, user.id)


def enabled(user: User) -> bool:
    record = _record(user)
    return record is not None and record.enabled_at is not None


def pending(user: User) -> TwoFactor | None:
    """The secret being set up (not confirmed yet), if any."""
    record = _record(user)
    return record if record is not None and record.enabled_at is None else None


def begin(user: User) -> TwoFactor:
    """A new secret to set up (replacing an unconfirmed one); 2FA is not on until `confirm`."""
    record = _record(user) or TwoFactor(user_id=user.id)
    assert record.enabled_at is None, "two-factor authentication is already on"
    record.secret = pyotp.random_base32()
    db.session.add(record)
    db.session.commit()
    return record


def provisioning_uri(user: User, record: TwoFactor) -> str:
    site = current_app.config["SITE_NAME"]
    return pyotp.TOTP(record.secret).provisioning_uri(name=user.username, issuer_name=site)


def qr_data_uri(uri: str) -> str:
    """The otpauth URI as a QR code: an SVG data URI (drawn on the server, no script)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4)


def _match_step(record: TwoFactor, code: str) -> int | None:
    """The time step a 6-digit code belongs to (now, or one step either side for clock drift),
    if it is newer than the last one accepted: a code works once."""
    code = "".join(code.split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp, now = pyotp.TOTP(record.secret), int(time.time())
    for step in (now // 30 - 1, now // 30, now // 30 + 1):
        if step > record.last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normalize(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _use_recovery_code(user: User, code: str) -> bool:
    digest = sessions.token_hash(_normalize(code))
    row = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest
        )
    )
    if row is None:
        return False
    db.session.delete(row)
    db.session.commit()
    return True


def _accept(user: User, record: TwoFactor, code: str) -> bool:
    """A current TOTP code (used up) or an unused recovery code (deleted)."""
    step = _match_step(record, code)
    if step is not None:
        record.last_step = step
        db.session.commit()
        return True
    return _use_recovery_code(user, code)


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with 10 new ones; the plain codes exist only here."""
    codes = [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=sessions.token_hash(_normalize(c))) for c in codes
    )
    db.session.commit()
    return codes


def confirm(user: User, code: str) -> tuple[list[str], dict]:
    """Turn 2FA on when `code` matches the pending secret: (recovery codes, {}) or ([], errors)."""
    record = pending(user)
    if record is None:
        return [], {"code": ["Start the set-up again: there is no secret waiting for a code."]}
    # No recovery codes exist yet, so only a code of the new secret is accepted.
    error = _throttled_check(user, lambda: _accept(user, record, code))
    if error:
        return [], {"code": [error]}
    record.enabled_at = utcnow()
    db.session.commit()
    return new_recovery_codes(user), {}


def _throttled_check(user: User, check) -> str:
    """Run `check` unless the account has too many wrong codes; "" or an error message."""
    scope = f"code:{user.id}"
    if auth.throttled(scope, current_app.config["TWO_FACTOR_LIMIT"]):
        return LIMITED
    if not check():
        auth.record_failure(scope)
        return WRONG_CODE
    return ""


def check_code(user: User, code: str) -> str:
    """The login's second step: "" when the code (or a recovery code) is right, else why not."""
    record = _record(user)
    return _throttled_check(user, lambda: _accept(user, record, code))


def pending_login(state: dict | None) -> User | None:
    """The account whose password was right moments ago (`state` is what the login kept:
    {"user_id", "at"}), or None when there is none or it is too old."""
    if not isinstance(state, dict):
        return None
    user_id, at = state.get("user_id"), state.get("at")
    if not isinstance(user_id, int) or not isinstance(at, int | float):
        return None
    if not 0 <= time.time() - at <= PENDING_SECONDS:
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and enabled(user) else None


def disable(user: User, password: str, code: str) -> dict:
    """Turn 2FA off: the password and a current code (or a recovery code). Errors by field."""
    if not user.check_password(password):
        return {"password": ["That is not your password."]}
    error = _throttled_check(user, lambda: _accept(user, _record(user), code))
    if error:
        return {"code": [error]}
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    db.session.commit()
    return {}
