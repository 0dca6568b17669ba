"""What every view needs, written once: safe redirects, uploads, loading rows or a 404, ids.

- `safe_next(target)`: a same-site path to redirect to, or None (never an open redirect).
- `back(default)`: where a form post returns (its `next`, else the referring page of this site).
- `read_uploads(field)`: the files of a multipart field as `drafts.Upload`s, read with a cap.
- `get_or_404(model, id, allowed)` and `user_or_404(username, allowed)`: a row, or a 404 also
  when the policy passed by the caller (from `cara.core.policy`) says the viewer may not see it.
- `DatabaseId`: the `int` URL converter; an id the database cannot hold is a 404, not a 500.
- `sign_in(user, remember)`: log this browser in with a new server-side session.
"""

from collections.abc import Callable
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import abort, current_app, request
from flask_login import current_user, login_user
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from cara.accounts import sessions
from cara.core.extensions import db
from cara.core.models import User
from cara.core.pagination import MAX_ID
from cara.posting import drafts

# --- redirects ---------------------------------------------------------------------------------

# The WHATWG URL parser removes tab, LF and CR anywhere, and C0 controls and spaces at both ends.
_REMOVED = {0x09: None, 0x0A: None, 0x0D: None}
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def _as_browser_reads(target: str) -> str:
    return target.translate(_REMOVED).strip(_C0_AND_SPACE)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (path and query), else None.

    Read as a browser would: `/\\t/evil.example` is `//evil.example` to it, another host.
    Refused: a scheme or a host, `//` and `/\\` (backslash is a slash to browsers), any
    backslash or control character, and the same once percent-decoded (`/%09/evil.example`).
    """
    if not target or not isinstance(target, str):
        return None
    cleaned = _as_browser_reads(target)
    for candidate in (cleaned, _as_browser_reads(unquote(cleaned))):
        if not candidate.startswith("/") or candidate[1:2] in ("/", "\\"):
            return None
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return None
    return urlunsplit(("", "", parts.path, parts.query, ""))


def _referrer_path() -> str | None:
    """The Referer's path and query when it is a page of this host, else None."""
    try:
        parts = urlsplit(request.referrer or "")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    return urlunsplit(("", "", parts.path, parts.query, ""))


def back(default: str) -> str:
    """Where a plain form post returns: its `next`, else the referring page, else `default`."""
    return safe_next(request.form.get("next")) or safe_next(_referrer_path()) or default


# --- uploads -----------------------------------------------------------------------------------


def read_uploads(field: str, limit: int | None = None) -> list[drafts.Upload]:
    """The files sent in the multipart `field` (empty file inputs left out).

    Each is read up to one byte past `limit` (MAX_UPLOAD_BYTES by default): enough for the
    validation to refuse an oversized file without holding all of it in memory.
    """
    limit = current_app.config["MAX_UPLOAD_BYTES"] if limit is None else limit
    files = [f for f in request.files.getlist(field) if f and f.filename]
    return [drafts.Upload(f.filename, f.stream.read(limit + 1)) for f in files]


# --- loading or 404 ----------------------------------------------------------------------------

Policy = Callable[[object, object], bool]  # e.g. cara.core.policy.can_view(viewer, obj)


def get_or_404(model, object_id: int, allowed: Policy | None = None):
    """The `model` row with this id, else 404; also 404 when `allowed(current_user, row)` is
    false: what the viewer may not see does not exist for them."""
    if not 0 < object_id <= MAX_ID:
        abort(404)
    row = db.session.get(model, object_id)
    if row is None or (allowed is not None and not allowed(current_user, row)):
        abort(404)
    return row


def user_or_404(username: str, allowed: Policy | None = None) -> User:
    """The account named `username` (any case), else 404, as `get_or_404`."""
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or (allowed is not None and not allowed(current_user, user)):
        abort(404)
    return user


# --- sessions ----------------------------------------------------------------------------------


def sign_in(user: User, remember: bool = False) -> None:
    """Log this browser in: a new server-side session, referenced from the cookies."""
    sessions.start(user, user_agent=request.user_agent.string, ip=request.remote_addr or "")
    login_user(user, remember=remember)


# --- ids -----------------------------------------------------------------------------------------


def parse_id(text: str | None) -> int | None:
    """A database id from a form field, or None (not digits, or too big for the database)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: an id bigger than the database's ids names nothing (404),
    instead of overflowing in SQL (500)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # Not ValidationError: werkzeug answers that with 405 when a rule for another
            # method has the same path (GET and POST /posts/<id>/comments).
            raise NotFound()
        return number


def init_app(app) -> None:
    """Before any blueprint: rules look their converter up when they are added."""
    app.url_map.converters["int"] = DatabaseId
