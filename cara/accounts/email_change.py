"""Changing the account's email address: the new address confirms by a mailed link; the old
one is told. Nothing changes until the link is used, and the link expires."""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from cara.accounts.auth import email_errors, normalize_email
from cara.core import mail, tasks, text
from cara.core.extensions import db
from cara.core.models import EmailChange, User

SENT = "We sent a confirmation link to {email}. Your address changes when you open it."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _taken(email: str, user: User) -> bool:
    stmt = select(User.id).where(User.email == email, User.id != user.id)
    return db.session.scalar(stmt) is not None


def request_change(user: User, new_email: str, password: str) -> tuple[str, dict]:
    """Mail a confirmation link to `new_email` and a notice to the current address.

    Returns (message, {}) or ("", errors by field). The answer is the same whether or not the
    address belongs to another account (that account's owner is mailed instead), so the form
    tells nobody which addresses are registered.
    """
    email = normalize_email(new_email)
    if not user.check_password(password):
        return "", {"password": ["That is not your password."]}
    if errors := email_errors(email):
        return "", {"email": errors}
    if email == user.email:
        return "", {"email": ["That is already your address."]}
    site = current_app.config["SITE_NAME"]
    if _taken(email, user):
        mail.send(
            email,
            f"Someone tried to use this address on {site}",
            f"Someone asked to move another {site} account to this address, which already "
            "has an account. Nothing was changed. If it was you, log in with this address.\n",
        )
        return SENT.format(email=email), {}
    token = secrets.token_urlsafe(32)
    max_age = timedelta(seconds=current_app.config["EMAIL_CHANGE_MAX_AGE"])
    row = db.session.get(EmailChange, user.id) or EmailChange(user_id=user.id)
    row.new_email, row.token_hash, row.expires_at = email, _hash(token), tasks.now() + max_age
    db.session.add(row)
    db.session.commit()
    hours = round(max_age.total_seconds() / 3600)
    mail.send(
        email,
        f"Confirm your new {site} address",
        f"Hello {user.name},\n\nOpen this link within {hours} hours to make this your "
        f"address on {site}:\n{text.site_url(f'/settings/email/confirm/{token}')}\n\n"
        "If you did not ask for this, ignore this message.\n",
    )
    mail.send(
        user.email,
        f"Your {site} address is about to change",
        f"Hello {user.name},\n\nSomeone (you, we hope) asked to change the address of "
        f"@{user.username} to {email}. It changes only when the new address confirms.\n"
        "If this was not you, change your password now and cancel the change in Settings.\n",
    )
    return SENT.format(email=email), {}


def pending(user: User) -> EmailChange | None:
    """The change waiting for confirmation, unless it expired."""
    row = db.session.get(EmailChange, user.id)
    return row if row is not None and row.expires_at > tasks.now() else None


def change_for_token(token: str) -> EmailChange | None:
    """The unexpired change a mailed link names, for a live account."""
    row = db.session.scalar(select(EmailChange).where(EmailChange.token_hash == _hash(token)))
    if row is None or row.expires_at <= tasks.now():
        return None
    user = db.session.get(User, row.user_id)
    return row if user.deleted_at is None else None


def confirm(token: str) -> tuple[User | None, str]:
    """Apply the change a link names: (user, "") or (None, why not)."""
    row = change_for_token(token)
    if row is None:
        return None, "This link has expired or was already used. Ask for a new one in Settings."
    user = db.session.get(User, row.user_id)
    if _taken(row.new_email, user):  # someone signed up with it since the link was sent
        db.session.delete(row)
        db.session.commit()
        return None, "That address now belongs to another account. Nothing was changed."
    old, user.email = user.email, row.new_email
    db.session.delete(row)
    db.session.commit()
    site = current_app.config["SITE_NAME"]
    mail.send(
        old,
        f"Your {site} address was changed",
        f"Hello {user.name},\n\nThe address of @{user.username} is now {user.email}. "
        "If this was not you, reset your password from the new address or contact the "
        "moderators.\n",
    )
    return user, ""


def cancel(user: User) -> None:
    """Forget a pending change (the owner's "Cancel" in Settings)."""
    if (row := db.session.get(EmailChange, user.id)) is not None:
        db.session.delete(row)
        db.session.commit()
