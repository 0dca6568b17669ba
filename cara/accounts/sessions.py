"""Server-side sessions: one UserSession row per logged-in browser.

The session and remember cookies carry a random token; the row keeps only its hash. Deleting
the row (log out, "end this session", log out everywhere, a password change) makes every copy
of those cookies worthless.
"""

import hashlib
import ipaddress
import re
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update

from cara.core.extensions import db
from cara.core.models import User, UserSession, utcnow

# last_seen_at is written at most this often: a few writes per browser per hour, not one per
# request (SQLite has one writer).
TOUCH_EVERY = timedelta(minutes=5)

_BROWSERS = [("Edge", r"Edg/"), ("Opera", r"OPR/"), ("Firefox", r"Firefox/"),
             ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/")]  # fmt: skip
_SYSTEMS = [("Android", r"Android"), ("iOS", r"iPhone|iPad"), ("Windows", r"Windows"),
            ("macOS", r"Mac OS X|Macintosh"), ("Linux", r"Linux|X11")]  # fmt: skip


def token_hash(token: str) -> str:
    """The stored form of a random token (sessions, reset links): SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def describe_agent(user_agent: str) -> str:
    """ "Firefox on Linux": enough to recognise a device in the list, nothing more kept."""
    browser = next((name for name, rx in _BROWSERS if re.search(rx, user_agent)), "")
    system = next((name for name, rx in _SYSTEMS if re.search(rx, user_agent)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def ip_prefix(address: str, v4: int = 24, v6: int = 48) -> str:
    """The network an address is in ("203.0.113.0/24"); the full address is not kept."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    bits = v4 if ip.version == 4 else v6
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def start(user: User, *, user_agent: str = "", ip: str = "") -> str:
    """A new session for `user`; returns its token (what the cookies carry)."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        user_agent=describe_agent(user_agent),
        ip_prefix=ip_prefix(ip),
    )
    db.session.add(row)
    db.session.commit()
    user.session_token, user.session_id = token, row.id
    return token


# The user and their session's id and last use in one query: every signed-in request pays it,
# so the statement is built once (building and keying it cost as much CPU as running it), and
# the session is read as two columns rather than a second object.
_LOAD = (
    select(User, UserSession.id, UserSession.last_seen_at)
    .join(UserSession, UserSession.user_id == User.id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)


def load(token: str, max_idle: timedelta) -> User | None:
    """The user of a live session, with `session_id` set; None when ended or idle too long."""
    found = db.session.execute(_LOAD, {"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    user, session_id, last_seen = found
    now = utcnow()
    if now - last_seen > max_idle:
        end(session_id)
        return None
    if now - last_seen > TOUCH_EVERY:
        touch = update(UserSession).where(UserSession.id == session_id)
        db.session.execute(touch.values(last_seen_at=now))
        db.session.commit()
    user.session_token, user.session_id = token, session_id
    return user


def active(user: User, max_idle: timedelta) -> list[UserSession]:
    """The user's live sessions, most recently seen first (idle ones are deleted)."""
    mine = UserSession.user_id == user.id
    db.session.execute(
        delete(UserSession).where(mine, UserSession.last_seen_at < utcnow() - max_idle)
    )
    db.session.commit()
    stmt = select(UserSession).where(mine).order_by(UserSession.last_seen_at.desc())
    return list(db.session.scalars(stmt))


def end(session_id: int | None) -> None:
    """End one session (its cookies no longer log anyone in)."""
    db.session.execute(delete(UserSession).where(UserSession.id == session_id))
    db.session.commit()


def end_all(user: User) -> None:
    """End every session of `user`, the current one too."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    db.session.commit()
