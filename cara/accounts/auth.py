"""Accounts: registration rules, authentication, sessions, password reset. Plain functions."""

import logging
import re
import smtplib
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cara.core import mail, settings, text
from cara.core.extensions import db, login_manager
from cara.core.models import Invite, Role, User, utcnow
from cara.core.settings import Registration

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


def _account_errors(username: str, email: str, password: str) -> tuple[dict, User | None]:
    """Errors by field for a new account (a taken username among them), and the account that
    already has this email address, if one does. Both arguments are normalized already."""
    errors = {
        "username": username_errors(username),
        "email": email_errors(email),
        "password": password_errors(password, username=username, email=email),
    }
    errors = {field: msgs for field, msgs in errors.items() if msgs}
    if errors:
        return errors, None
    taken = db.session.scalars(
        select(User).where(or_(User.username == username, User.email == email))
    ).all()
    if any(u.username == username for u in taken):  # usernames are public anyway
        return {"username": ["That username is taken. Please choose another."]}, None
    return {}, next(iter(taken), None)


def _new_user(username: str, email: str, password: str, **fields) -> User:
    user = User(username=username, email=email, display_name=username, **fields)
    user.set_password(password)
    db.session.add(user)
    return user


def register(username: str, email: str, password: str, *, role: Role = Role.MEMBER):
    """Create an active account (the CLI, the demo). Returns (user, {}) or (None, errors by
    field). People signing up on the site go through `sign_up`."""
    username, email = username.strip().lower(), normalize_email(email)
    errors, owner = _account_errors(username, email, password)
    if owner is not None:
        errors["email"] = ["An account already uses this email address."]
    if errors:
        return None, errors
    user = _new_user(username, email, password, role=role)
    db.session.commit()
    return user, {}


# --- sign-up on the site: registration modes, invites, email confirmation ------------------


class SignupRefused(Exception):
    """Sign-up is not possible now (closed, or invite-only without a valid invite): a 403."""


def valid_invite(code: str | None) -> Invite | None:
    """The invite with this code, if it can still be used."""
    if not code:
        return None
    invite = db.session.scalar(select(Invite).where(Invite.code == code))
    return invite if invite is not None and invite.usable(utcnow()) else None


def signup_refusal(invite_code: str | None) -> str | None:
    """Why no one may sign up here now (with this invite code), or None when they may."""
    mode = settings.registration()
    if mode == Registration.CLOSED:
        return "Sign-ups are closed on this site for now."
    if mode == Registration.INVITE and valid_invite(invite_code) is None:
        if invite_code:
            return "That invite link has expired, been used up or been withdrawn."
        return "Sign-ups on this site are by invitation only: ask for an invite link."
    return None


def _use_invite(code: str) -> bool:
    """Count one use of the invite, atomically, so concurrent sign-ups never exceed its limit."""
    done = db.session.execute(
        update(Invite)
        .where(
            Invite.code == code,
            Invite.revoked.is_(False),
            Invite.uses < Invite.max_uses,
            Invite.expires_at > utcnow(),
        )
        .values(uses=Invite.uses + 1)
    )
    return done.rowcount == 1


def sign_up(username: str, email: str, password: str, invite_code: str | None = None) -> dict:
    """Sign up on the site. Returns errors by field ({} when accepted); raises SignupRefused.

    The answer for an email address that already has an account is the same as for a new one
    (no account is made, its owner is mailed instead), so sign-up does not reveal who is here.
    The new account must confirm its address and, in approval mode, wait for an admin.
    """
    refusal = signup_refusal(invite_code)
    if refusal:
        raise SignupRefused(refusal)
    username, email = username.strip().lower(), normalize_email(email)
    errors, owner = _account_errors(username, email, password)
    if errors:
        return errors
    if owner is not None:
        generate_password_hash(password)  # the time a new account takes, so timing tells nothing
        mail_quietly(owner.email, *_address_taken_mail(owner))
        return {}
    invited = bool(invite_code) and _use_invite(invite_code)
    if settings.registration() == Registration.INVITE and not invited:
        db.session.rollback()  # used up by a concurrent sign-up since the check above
        raise SignupRefused("That invite link has expired, been used up or been withdrawn.")
    # An invite is an admin's approval given in advance.
    approved = invited or settings.registration() != Registration.APPROVAL
    user = _new_user(username, email, password, email_verified=False, approved=approved)
    db.session.commit()
    send_verification(user)
    return {}


def _site_name() -> str:
    return settings.get("site_name")


def _address_taken_mail(owner: User) -> tuple[str, str]:
    site = _site_name()
    return (
        f"Someone tried to sign up on {site} with your address",
        f"Hello {owner.name},\n\nSomeone (maybe you) tried to create a new {site} account "
        f"with this email address, which already has one: {owner.username}.\n\n"
        f"If it was you, log in: {text.site_url('/login')}\n"
        f"Forgot your password? Reset it: {text.site_url('/password/reset')}\n\n"
        "If it was not you, ignore this message: nothing has changed.\n",
    )


def mail_quietly(to: str, subject: str, body: str) -> None:
    """Mail without failing the request: the person can ask for the message again."""
    try:
        mail.send(to, subject, body)
    except (OSError, smtplib.SMTPException):
        log.exception("could not mail %s: %s", to, subject)


def _verify_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="verify-email")


def verification_link(user: User) -> str:
    return text.site_url(f"/verify/{_verify_serializer().dumps(user.email)}")


def send_verification(user: User) -> None:
    """Mail the link that confirms the account's address (nothing when it is confirmed)."""
    if user.email_verified:
        return
    site = _site_name()
    days = current_app.config["EMAIL_VERIFY_MAX_AGE"] // 86400
    mail_quietly(
        user.email,
        f"Confirm your email address for {site}",
        f"Hello {user.name},\n\nWelcome to {site}! Confirm your address to start posting "
        f"(the link works for {days} days):\n{verification_link(user)}\n\n"
        "If you did not sign up, ignore this message.\n",
    )


def verify_email(token: str) -> User | None:
    """Confirm the address a link was mailed to; the account, or None for a bad or old link."""
    max_age = current_app.config["EMAIL_VERIFY_MAX_AGE"]
    try:
        email = _verify_serializer().loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    user = (
        db.session.scalar(select(User).where(User.email == email))
        if isinstance(email, str)
        else None
    )
    if user is not None and not user.email_verified:
        user.email_verified = True
        db.session.commit()
    return user


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
