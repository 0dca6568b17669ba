"""Feed queries with keyset pagination on each feed's own sort key (never OFFSET)."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import Media, Post, PostState, User, Visibility

PAGE_SIZE = 24


@dataclass
class Page:
    items: list
    next_cursor: str | None


def encode_cursor(*values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list | None:
    """An opaque cursor back to its values; None for a missing or malformed one (page 1)."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return values if isinstance(values, list) else None


def _published_cursor(cursor: str | None):
    values = decode_cursor(cursor)
    try:
        when, post_id = datetime.fromisoformat(values[0]), int(values[1])
    except (TypeError, ValueError, IndexError):
        return None
    return when, post_id


def latest(viewer: User | None, before: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Public published posts, newest first."""
    stmt = select(Post).join(Post.author).where(
        Post.state == PostState.PUBLISHED,
        Post.visibility == Visibility.PUBLIC,
        User.is_private.is_(False),
    )
    return _newest_first(stmt, before, limit)


def by_author(viewer: User | None, author: User, before: str | None = None, limit=PAGE_SIZE):
    """An artist's timeline: what `viewer` may see of it, newest first."""
    from .policy import can_view

    stmt = select(Post).where(Post.author_id == author.id, Post.published_at.is_not(None))
    page = _newest_first(stmt, before, limit)
    page.items = [p for p in page.items if can_view(viewer, p)]
    return page


def _newest_first(stmt, before: str | None, limit: int) -> Page:
    """Keyset pagination on (published_at, id), newest first."""
    stmt = (
        stmt.options(selectinload(Post.media), selectinload(Post.author))
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(limit + 1)
    )
    key = _published_cursor(before)
    if key:
        when, post_id = key
        stmt = stmt.where(
            or_(Post.published_at < when, and_(Post.published_at == when, Post.id < post_id))
        )
    posts = list(db.session.scalars(stmt))
    more = len(posts) > limit
    posts = posts[:limit]
    cursor = encode_cursor(posts[-1].published_at, posts[-1].id) if more else None
    return Page(posts, cursor)


def media_by_id(media_id: int) -> Media | None:
    return db.session.get(Media, media_id)


def first_image(post: Post) -> Media | None:
    return next((m for m in post.media if m.renditions), None)
