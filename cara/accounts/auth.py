"""Accounts: registration rules, sign-up, authentication, throttling, sessions, password reset."""

import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from limits import parse_many
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cara.accounts import sessions
from cara.core import mail, settings, text
from cara.core.extensions import db, login_manager
from cara.core.models import Invite, LoginFailure, PasswordReset, Role, User, utcnow
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


# zxcvbn's scores run 0-4; 3 is "safely unguessable: moderate protection from offline attacks".
PASSWORD_MIN_SCORE = 3
# zxcvbn's own cap: its cost grows with length while a longer password only gets stronger.
ZXCVBN_MAX = 72
DEVICES_KEPT = 5


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The cookies carry a server-side session's token; an ended session loads nobody, and a
    suspended or deleted account has no session at all."""
    idle = timedelta(days=current_app.config["SESSION_IDLE_DAYS"])
    user = sessions.load(token, idle) if token else None
    if user is None or user.is_suspended or user.deleted_at is not None:
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
    inputs = [w for w in (username, email, email.partition("@")[0]) if w]
    strength = zxcvbn(password[:ZXCVBN_MAX], user_inputs=inputs)
    if strength["score"] < PASSWORD_MIN_SCORE:
        feedback = strength["feedback"]
        hints = [feedback["warning"], *feedback["suggestions"]]
        return [" ".join(["That password is too easy to guess.", *filter(None, hints)])]
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
    user = _new_user(
        username, email, password, email_verified=False, approved=approved, welcome_pending=True
    )
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


def find_account(login: str) -> User | None:
    """The account a login names: its username (any case) or its email."""
    login = login.strip().lower()
    return db.session.scalar(
        select(User).where(or_(func.lower(User.username) == login, User.email == login))
    )


def authenticate(login: str, password: str) -> User | None:
    """Username or email plus password; None for any mismatch (no enumeration)."""
    return _checked(find_account(login), password)


def _checked(user: User | None, password: str) -> User | None:
    if user is None:
        # Spend the same time as a real check so timing does not reveal unknown names.
        check_password_hash(_dummy_hash(), password)
        return None
    # A deleted account cannot log in, even before its purge scrubs the password.
    return user if user.check_password(password) and user.deleted_at is None else None


# --- throttling: failed attempts counted in the database, per scope ---------------------------

DAY = timedelta(days=1)  # failures are kept this long: more than any limit's window


def throttled(scope: str, limit: str) -> bool:
    """Has `scope` reached any of the Flask-Limiter-style limits ("10 per 15 minutes")?"""
    for item in parse_many(limit) if limit else []:
        since = utcnow() - timedelta(seconds=item.get_expiry())
        stmt = select(func.count()).where(
            LoginFailure.scope == scope, LoginFailure.created_at > since
        )
        if db.session.scalar(stmt) >= item.amount:
            return True
    return False


def record_failure(*scopes: str) -> None:
    """Count one failed attempt against each scope; forget failures older than a day."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < utcnow() - DAY))
    db.session.add_all(LoginFailure(scope=scope) for scope in scopes)
    db.session.commit()


def clear_failures(scope: str) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.scope == scope))
    db.session.commit()


WRONG = "That username, email or password is not right."
LIMITED = "Too many failed attempts. Wait a few minutes, or reset your password."


@dataclass
class Attempt:
    """The password step's outcome: a user, or an error (limited: answer 429)."""

    user: User | None = None
    error: str = ""
    limited: bool = False


def check_login(login: str, password: str, *, ip: str, device: str | None = None) -> Attempt:
    """The password step of logging in, throttled per account and per IP.

    A browser this account logged in on before (`device`, the DEVICE_COOKIE_NAME cookie) is
    exempt from both limits and has its own: an attacker can neither guess from a limited
    address nor lock the owner out of their devices (docs/decisions.md).
    """
    cfg = current_app.config
    user = find_account(login)
    # Unknown names are throttled too, so the limit does not tell which accounts exist.
    account = f"account:{user.id}" if user else f"login:{login.strip().lower()[:254]}"
    address = f"ip:{sessions.ip_prefix(ip, v4=32, v6=64)}"
    nonce = trusted_device(device, user.id) if user else None
    if nonce:
        scopes = [f"device:{nonce}"]
        limited = throttled(scopes[0], cfg["ACCOUNT_LOGIN_LIMIT"])
    else:
        scopes = [account, address]
        limited = throttled(account, cfg["ACCOUNT_LOGIN_LIMIT"]) or (
            cfg["RATELIMIT_ENABLED"] and throttled(address, cfg["LOGIN_RATE_LIMIT"])
        )
    if limited:
        return Attempt(error=LIMITED, limited=True)
    if _checked(user, password) is None:
        record_failure(*scopes)
        return Attempt(error=WRONG)
    clear_failures(scopes[0])
    return Attempt(user=user)


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="device")


def _devices(cookie: str | None) -> dict[str, str]:
    try:
        entries = _device_serializer().loads(cookie) if cookie else {}
    except BadSignature:
        return {}
    return entries if isinstance(entries, dict) else {}


def trusted_device(cookie: str | None, user_id: int) -> str | None:
    """This browser's nonce for the account when it logged in here before, else None."""
    nonce = _devices(cookie).get(str(user_id))
    return nonce if isinstance(nonce, str) else None


def remember_device(cookie: str | None, user: User) -> str:
    """The device cookie's new value once `user` logged in on this browser."""
    entries = _devices(cookie)
    nonce = entries.pop(str(user.id), None) or secrets.token_urlsafe(16)
    kept = list(entries.items())[-(DEVICES_KEPT - 1) :]
    return _device_serializer().dumps({**dict(kept), str(user.id): nonce})


# --- sessions and passwords ----------------------------------------------------------------


def revoke_sessions(user: User) -> None:
    """End every session of this user (the current one too: log in again after)."""
    sessions.end_all(user)


def _password_changed(user: User) -> None:
    """After a new password: no reset link, session or account throttle of the old one lives."""
    db.session.execute(delete(PasswordReset).where(PasswordReset.user_id == user.id))
    db.session.commit()
    clear_failures(f"account:{user.id}")
    revoke_sessions(user)


def change_password(user: User, current: str, new: str) -> dict:
    """Change the password and end all sessions (the caller starts a new one). Errors by field."""
    if not user.check_password(current):
        return {"current_password": ["That is not your current password."]}
    errors = password_errors(new, username=user.username, email=user.email)
    if errors:
        return {"new_password": errors}
    user.set_password(new)
    _password_changed(user)
    return {}


def reset_token(user: User) -> str:
    """A new reset link's token: random, so it says nothing; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(seconds=current_app.config["PASSWORD_RESET_MAX_AGE"])
    db.session.add(
        PasswordReset(user_id=user.id, token_hash=sessions.token_hash(token), expires_at=expires)
    )
    db.session.commit()
    return token


def user_for_reset_token(token: str) -> User | None:
    """The account of an unused, unexpired reset token."""
    row = db.session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == sessions.token_hash(token))
    )
    if row is None or row.expires_at <= utcnow():
        return None
    return db.session.get(User, row.user_id)


def reset_password(user: User, new: str) -> dict:
    """Set a new password through a reset link (the caller checked its token). Errors by field."""
    errors = password_errors(new, username=user.username, email=user.email)
    if errors:
        return {"password": errors}
    user.set_password(new)
    _password_changed(user)  # this link and every other one die with the old password
    return {}


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
