"""Accounts: registration rules, authentication, sessions, password reset. Plain functions."""

import logging
import re
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cara.core import mail, text
from cara.core.extensions import db, login_manager
from cara.core.models import Role, User

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[a-z0-9_]{3,30}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
# Words that are, or may become, top-level URLs, or that impersonate staff.
RESERVED_USERNAMES = frozenset(
    """about admin administrator api app assets auth bookmarks cara explore feed feeds following
    healthz help jobs latest login logout media mod moderation moderator new notifications posts
    privacy root search settings signup static staff support system tags terms trending user users
    well_known www""".split()
)
# 30,000 most common passwords (zxcvbn's list): refused at sign-up and on change.
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The session carries "id:generation"; an old generation means the session was revoked.
    A suspended account has no session at all."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_generation != int(generation) or user.is_suspended:
        return None
    return user


def normalize_email(email: str) -> str:
    return email.strip().lower()


def username_errors(username: str) -> list[str]:
    if not USERNAME_RE.match(username):
        return ["Use 3 to 30 characters: lower-case letters a-z, digits 0-9 and _."]
    if username in RESERVED_USERNAMES:
        return ["That username is reserved. Please choose another."]
    return []


def password_errors(password: str, *, username: str = "", email: str = "") -> list[str]:
    if len(password) < PASSWORD_MIN:
        return [f"Use at least {PASSWORD_MIN} characters."]
    if len(password) > PASSWORD_MAX:
        return [f"Use at most {PASSWORD_MAX} characters."]
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered in {username.lower(), email.lower()}:
        return ["That password is too common or too easy to guess. Please choose another."]
    return []


def email_errors(email: str) -> list[str]:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return ["Enter a valid email address."]
    return []


def register(username: str, email: str, password: str, *, role: Role = Role.MEMBER):
    """Create an account. Returns (user, {}) or (None, {field: [messages]})."""
    username, email = username.strip().lower(), normalize_email(email)
    errors = {
        "username": username_errors(username),
        "email": email_errors(email),
        "password": password_errors(password, username=username, email=email),
    }
    errors = {field: msgs for field, msgs in errors.items() if msgs}
    if not errors:
        taken = db.session.scalars(
            select(User).where(or_(User.username == username, User.email == email))
        ).all()
        if any(u.username == username for u in taken):
            errors["username"] = ["That username is taken. Please choose another."]
        elif taken:
            # Do not reveal that an account exists for this address.
            errors["email"] = ["This email address cannot be used. Log in or reset your password."]
    if errors:
        return None, errors
    user = User(username=username, email=email, display_name=username, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user, {}


def authenticate(login: str, password: str) -> User | None:
    """Username or email plus password; None for any mismatch (no enumeration)."""
    login = login.strip().lower()
    user = db.session.scalar(
        select(User).where(or_(func.lower(User.username) == login, User.email == login))
    )
    if user is None:
        # Spend the same time as a real check so timing does not reveal unknown names.
        check_password_hash(_dummy_hash(), password)
        return None
    # A deleted account cannot log in, even before its purge scrubs the password.
    return user if user.check_password(password) and user.deleted_at is None else None


def revoke_sessions(user: User) -> None:
    """End every session of this user (the current one too: log in again after)."""
    user.session_generation += 1
    db.session.commit()


def change_password(user: User, current: str, new: str) -> dict:
    """Change the password and end all other sessions. Returns errors by field."""
    if not user.check_password(current):
        return {"current_password": ["That is not your current password."]}
    errors = password_errors(new, username=user.username, email=user.email)
    if errors:
        return {"new_password": errors}
    user.set_password(new)
    revoke_sessions(user)
    return {}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def reset_token(user: User) -> str:
    # The hash's tail makes the token single-use: it changes once the password does.
    return _serializer().dumps([user.id, user.password_hash[-16:]])


def user_for_reset_token(token: str) -> User | None:
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        user_id, fingerprint = _serializer().loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.password_hash[-16:] != fingerprint:
        return None
    return user


def reset_link(user: User) -> str:
    return text.site_url(f"/password/reset/{reset_token(user)}")


def send_reset_email(email: str) -> None:
    """Mail a reset link if an account has this address; log the link when SMTP is not set up."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        return
    mail.send(
        user.email,
        f"Reset your {current_app.config['SITE_NAME']} password",
        f"Hello {user.name},\n\nYour password reset link, valid for an hour:\n"
        f"{reset_link(user)}\n\nIf you did not ask for this, ignore this message.\n",
    )


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not a real password")
