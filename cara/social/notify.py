"""Notifications: written by notify(), listed grouped, marked read.

Kinds: follow, follow_request, follow_accepted, like, repost, comment, reply, mention,
moderation (a moderation outcome; its text says what happened), export (an archive is ready).
"""

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, event, func, insert, inspect, select, update
from sqlalchemy.orm import Session

from cara.core import pagination, policy
from cara.core import text as text_rules
from cara.core.extensions import db
from cara.core.models import Comment, Notification, Post, PostState, RemoteActor, User, utcnow

KINDS = {
    "follow",
    "follow_request",
    "follow_accepted",
    "like",
    "repost",
    "comment",
    "reply",
    "mention",
    "moderation",
    "export",
}
# Sent once per actor and subject: liking, unliking and liking again is one notification.
ONCE = {"follow", "follow_request", "like", "repost"}
# Grouped on a page: "Ana and 3 others liked your post". The rest stand alone.
GROUPED = {"like": ("post_id",), "repost": ("post_id",), "follow": (), "follow_request": ()}
PAGE_SIZE = 50
UNREAD_CAP = 99
MENTIONS_MAX = 10  # people notified per caption or comment
# How long a cached unread count may live. Every change of a user's notifications gives them a
# new generation (after its commit), which no cached count carries, so these bound only what
# the explicit invalidation does not see (a post deleted with notifications about it: the
# database's cascade). In-process (no REDIS_URL) each web process keeps its own copy and
# only sees its own changes at once: the short TTL bounds what another process shows.
UNREAD_TTL_REDIS = 300
UNREAD_TTL_LOCAL = 10
GENERATION_TTL = 86_400

log = logging.getLogger(__name__)


def notify(
    user_id: int,
    kind: str,
    actor_id: int | None = None,
    post_id: int | None = None,
    comment_id: int | None = None,
    text: str = "",
    remote_actor_id: int | None = None,
) -> Notification | None:
    """Tell `user_id` about something. Added to the session: the caller's commit saves it.
    `remote_actor_id`: the person on another server who did it (then `actor_id` is None).

    Nothing is sent to yourself, across a block, or from someone the user muted (nor from a
    limited server's people the user does not follow); a repeated
    follow, like or repost by the same person is not sent twice.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if actor_id is not None and (actor_id == user_id or policy.silenced(user_id, actor_id)):
        return None
    if remote_actor_id is not None and policy.remote_silenced(user_id, remote_actor_id):
        return None
    # A limited server's people notify only those who follow them (a follow request is still
    # told: it waits for the answer).
    limited = kind != "follow_request" and remote_actor_id is not None
    if limited and policy.remote_limited(user_id, remote_actor_id):
        return None
    if actor_id is not None or remote_actor_id is not None:
        once = select(Notification.id).filter_by(
            user_id=user_id,
            kind=kind,
            actor_id=actor_id,
            remote_actor_id=remote_actor_id,
            post_id=post_id,
        )
        if kind in ONCE and db.session.scalar(once.limit(1)):
            return None
    row = Notification(
        user_id=user_id,
        kind=kind,
        actor_id=actor_id,
        remote_actor_id=remote_actor_id,
        post_id=post_id,
        comment_id=comment_id,
        text=text,
    )
    db.session.add(row)
    changed(user_id)
    return row


def withdraw(
    user_id: int,
    kind: str,
    actor_id: int | None,
    post_id: int | None = None,
    remote_actor_id: int | None = None,
) -> None:
    """Remove an unread notification whose cause was undone (an unlike, a cancelled request);
    by a remote person when `remote_actor_id` is given."""
    who = (
        Notification.remote_actor_id == remote_actor_id
        if remote_actor_id is not None
        else Notification.actor_id == actor_id
    )
    db.session.execute(
        delete(Notification).where(
            Notification.user_id == user_id,
            Notification.kind == kind,
            who,
            Notification.post_id == post_id if post_id else Notification.post_id.is_(None),
            Notification.read_at.is_(None),
        )
    )
    changed(user_id)


def mentioned(text: str) -> list[str]:
    return text_rules.mentions(text, MENTIONS_MAX)


def mention_targets(author_id: int, names: list[str], post: Post) -> list[int]:
    """Ids of the named accounts that may hear from the author and may see the post."""
    if not names:
        return []
    users = db.session.scalars(select(User).where(User.username.in_(names), User.id != author_id))
    targets = []
    for user in users:
        if not policy.silenced(user.id, author_id) and policy.can_view(user, post):
            targets.append(user.id)
    return targets


def unread_count(user: User) -> int:
    """Unread notifications, counted up to UNREAD_CAP + 1 (shown as "99+"); cached (Redis
    when configured, else in-process) until the user's notifications change."""
    store = _unread_store()
    generation, cached = store.get(user.id)
    if cached is not None:
        return cached
    count = _count_unread(user.id)
    store.put(user.id, generation, count)
    return count


def _count_unread(user_id: int) -> int:
    unread = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(UNREAD_CAP + 1)
    )
    return db.session.scalar(select(func.count()).select_from(unread.subquery())) or 0


def changed(*user_ids: int | None) -> None:
    """The notifications of these users changed in the current transaction: their cached
    unread counts are dropped now and again after the commit (a page that counted in between
    cached the old figure under the old generation, which the second drop retires)."""
    ids = {uid for uid in user_ids if uid is not None}
    if ids:
        db.session.info.setdefault(_CHANGED, set()).update(ids)
        _unread_store().forget(ids)


_CHANGED = "cara.notifications_changed"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_changed(session) -> None:
    ids = session.info.pop(_CHANGED, None)
    if ids:
        _unread_store().forget(ids)


class _LocalCounts:
    """Unread counts of this process: user id -> (generation, count, expires)."""

    def __init__(self):
        self.counts: dict[int, tuple[int, int, float]] = {}
        self.generations: dict[int, int] = {}
        self.tick = itertools.count(1)
        self.lock = threading.Lock()

    def get(self, user_id: int) -> tuple:
        with self.lock:
            generation = self.generations.get(user_id, 0)
            hit = self.counts.get(user_id)
        if hit and hit[0] == generation and hit[2] > time.monotonic():
            return generation, hit[1]
        return generation, None

    def put(self, user_id: int, generation, count: int) -> None:
        with self.lock:
            if len(self.counts) > 50_000:
                self.counts.clear()
            self.counts[user_id] = (generation, count, time.monotonic() + UNREAD_TTL_LOCAL)

    def forget(self, user_ids) -> None:
        with self.lock:
            for uid in user_ids:
                self.generations[uid] = next(self.tick)
                self.counts.pop(uid, None)


class _RedisCounts:
    """Unread counts in Redis, shared by every process: `gen:<id>` is a random token that each
    change replaces, `count:<id>` is "<token> <count>" and counts only while the token is the
    user's current one. One round trip a page; on a Redis error the database answers."""

    def __init__(self, url: str):
        self.redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def _keys(self, user_id: int) -> tuple[str, str]:
        return (f"cara:unread:gen:{user_id}", f"cara:unread:count:{user_id}")

    def get(self, user_id: int) -> tuple:
        try:
            generation, hit = self.redis.mget(self._keys(user_id))
            if generation is None:
                generation = os.urandom(8).hex().encode()
                if not self.redis.set(
                    self._keys(user_id)[0], generation, nx=True, ex=GENERATION_TTL
                ):
                    return None, None  # someone else just made it: count without caching
            if hit is not None:
                token, _, count = hit.partition(b" ")
                if token == generation:
                    return generation, int(count)
            return generation, None
        except RedisError as exc:
            log.warning("unread count cache: %s", exc)
            return None, None

    def put(self, user_id: int, generation, count: int) -> None:
        if generation is None:
            return
        try:
            key = self._keys(user_id)[1]
            self.redis.set(key, generation + b" " + str(count).encode(), ex=UNREAD_TTL_REDIS)
        except RedisError as exc:
            log.warning("unread count cache: %s", exc)

    def forget(self, user_ids) -> None:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for uid in user_ids:
                    pipe.set(self._keys(uid)[0], os.urandom(8).hex(), ex=GENERATION_TTL)
                pipe.execute()
        except RedisError as exc:
            log.warning("unread count cache: %s", exc)


def _unread_store():
    extensions = current_app.extensions
    store = extensions.get("cara.unread_counts")
    if store is None:
        url = current_app.config.get("REDIS_URL")
        store = extensions.setdefault(
            "cara.unread_counts", _RedisCounts(url) if url else _LocalCounts()
        )
    return store


def mark_read(user: User, upto: int | None = None) -> int:
    """Mark unread notifications read (those up to id `upto`: not ones that came since)."""
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if upto is not None:
        stmt = stmt.where(Notification.id <= upto)
    count = db.session.execute(stmt.values(read_at=utcnow())).rowcount
    changed(user.id)
    db.session.commit()
    return count


@dataclass
class Group:
    """One line of the notifications page: one notification, or several alike."""

    kind: str
    newest: Notification
    actors: list[User] = field(default_factory=list)
    remote_actors: list[RemoteActor] = field(default_factory=list)  # people elsewhere
    post: Post | None = None
    comment: Comment | None = None
    unread: bool = False
    size: int = 0
    hidden: bool = False  # about a post or comment the recipient may no longer see

    @property
    def created_at(self) -> datetime:
        return self.newest.created_at


def page(user: User, before: str | None = None, limit: int = PAGE_SIZE):
    """A page of notifications, newest first, grouped; returns (groups, next_cursor, top_id)."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    key = pagination.decode_key(before, int)
    page = pagination.keyset(stmt, (Notification.id,), key, limit)
    rows = page.items
    return group(user, rows), page.next_cursor, (rows[0].id if rows else None)


def group(user: User, rows: list[Notification]) -> list[Group]:
    """Group alike notifications of a page (same kind, same post), keeping newest-first order.

    A notification shows only what `user` may see now: the caption and comment of a post that
    went followers-only, or whose artist they stopped following, are left out.
    """
    actors = _by_id(User, {n.actor_id for n in rows})
    remote = _by_id(RemoteActor, {n.remote_actor_id for n in rows})
    posts, hidden_posts = _seen(user, _by_id(Post, {n.post_id for n in rows}))
    comments, hidden_comments = _seen(user, _by_id(Comment, {n.comment_id for n in rows}))
    groups: dict = {}
    for n in rows:
        key = (n.kind, *(getattr(n, f) for f in GROUPED[n.kind])) if n.kind in GROUPED else n.id
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(
                n.kind,
                n,
                post=posts.get(n.post_id),
                comment=comments.get(n.comment_id),
                hidden=n.post_id in hidden_posts or n.comment_id in hidden_comments,
            )
        g.size += 1
        g.unread = g.unread or n.read_at is None
        actor = actors.get(n.actor_id)
        if actor is not None and actor not in g.actors:
            g.actors.append(actor)
        person = remote.get(n.remote_actor_id)
        if person is not None and person not in g.remote_actors:
            g.remote_actors.append(person)
    return list(groups.values())


def _seen(user: User, rows: dict) -> tuple[dict, dict]:
    """Split rows by id into those `user` may see and those they may not."""
    shown, hidden = {}, {}
    for row_id, row in rows.items():
        (shown if policy.can_view(user, row) else hidden)[row_id] = row
    return shown, hidden


def _by_id(model, ids: set) -> dict:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


# --- mentions in captions --------------------------------------------------------------------


def _caption_mentions(post: Post) -> list[str]:
    """Names newly mentioned by this flush: all of them at publication, new ones on an edit."""
    state = inspect(post)
    went_live = PostState.PUBLISHED in state.attrs.state.history.added
    if post.state != PostState.PUBLISHED:
        return []
    names = mentioned(post.caption or "")
    if went_live:
        return names
    history = state.attrs.caption.history
    if not history.has_changes():
        return []
    before = set(mentioned(history.deleted[0] or "")) if history.deleted else set()
    return [n for n in names if n not in before]


@event.listens_for(Session, "after_flush")
def _notify_caption_mentions(session, flush_context):
    """Mentions in a caption notify when the post goes live (or a later edit adds them)."""
    touched = {
        n.user_id
        for n in (*session.new, *session.dirty, *session.deleted)
        if isinstance(n, Notification)
    }
    if touched:  # rows added or changed through the ORM, however they were made
        session.info.setdefault(_CHANGED, set()).update(touched)
    rows = []
    for post in session.dirty:
        if isinstance(post, Post) and (names := _caption_mentions(post)):
            rows += [
                {"user_id": uid, "kind": "mention", "actor_id": post.author_id, "post_id": post.id}
                for uid in mention_targets(post.author_id, names, post)
            ]
    if rows:
        # Core insert: the session cannot take new objects while it flushes.
        session.connection().execute(insert(Notification.__table__), rows)
        session.info.setdefault(_CHANGED, set()).update(r["user_id"] for r in rows)
