"""Delivery out: activities POSTed, signed, to followers' inboxes by background jobs.

One Delivery row per activity and inbox (an instance's shared inbox once for all its
followers). A failed attempt is retried with exponential backoff; an instance that keeps
failing is marked unreachable and tried again only after a pause, growing with its failures.
Posts announce themselves: a session hook turns a post's publishing, edit and deletion into
Create, Update and Delete activities for its author's followers.
"""

import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import (
    Delivery,
    Instance,
    Post,
    PostState,
    RemoteActor,
    RemoteFollow,
    User,
    utcnow,
)
from cara.federation import capability, documents, fetch, keys

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # about two days of retries
RETRY_BASE = 60  # seconds before the first retry; each next waits four times longer
UNREACHABLE_AFTER = 5  # failures in a row mark an instance unreachable
SWEEP_BATCH = 200
POST_KEY = "cara:post"  # a queued Create/Update names its post; _render writes it when sent


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_BASE * 4 ** (attempts - 1), 12 * 3600))


def follower_inboxes(user: User) -> list[str]:
    """One inbox per instance among the accepted remote followers (its shared inbox if any)."""
    rows = db.session.execute(
        select(RemoteActor.shared_inbox, RemoteActor.inbox)
        .join(RemoteFollow, RemoteFollow.actor_id == RemoteActor.id)
        .where(
            RemoteFollow.user_id == user.id,
            RemoteFollow.inbound.is_(True),
            RemoteFollow.pending.is_(False),
        )
    )
    return sorted({shared or inbox for shared, inbox in rows})


def queue(user: User | None, inboxes: list[str], activity: dict) -> list[Delivery]:
    """Delivery rows (added to the session, not committed) for `activity` to each inbox,
    signed by `user` (None: the instance actor)."""
    rows = [
        Delivery(
            user_id=user.id if user is not None else None,
            inbox=inbox,
            domain=urlsplit(inbox).netloc.lower(),
            activity=activity,
            next_attempt_at=utcnow(),
        )
        for inbox in inboxes
    ]
    db.session.add_all(rows)
    return rows


def send(user: User | None, inboxes: list[str], activity: dict) -> None:
    """Queue and commit deliveries, then start their jobs."""
    rows = queue(user, inboxes, activity)
    db.session.commit()
    for row in rows:
        tasks.enqueue(deliver, row.id)


def deliver(delivery_id: int) -> None:
    """One attempt (the job); reschedules itself on failure. Idempotent: a done or not yet
    due delivery is left alone."""
    row = db.session.get(Delivery, delivery_id)
    now = utcnow()
    if row is None or row.done or row.next_attempt_at > now:
        return
    instance = db.session.get(Instance, row.domain) or Instance(domain=row.domain, failures=0)
    db.session.add(instance)
    if instance.blocked:
        row.done, row.error = True, "the server is blocked"
        db.session.commit()
        return
    if instance.unreachable_until and instance.unreachable_until > now:
        row.next_attempt_at = instance.unreachable_until  # not an attempt: wait for it
        db.session.commit()
        tasks.enqueue(deliver, row.id, delay=(row.next_attempt_at - now).total_seconds())
        return
    row.next_attempt_at = now + tasks.lease()  # a sweep does not start it twice meanwhile
    db.session.commit()
    user = db.session.get(User, row.user_id) if row.user_id is not None else None
    activity = _render(row.activity)
    if activity is None:  # the post is gone or hidden since: nothing to say
        row.done, row.error = True, "the post is no longer published"
        db.session.commit()
        return
    body = json.dumps(activity).encode()
    try:
        response = keys.signed_post(user, row.inbox, body)
        error = "" if 200 <= response.status < 300 else f"answered {response.status}"
    except fetch.FetchError as failure:
        error = str(failure)
    row.attempts += 1
    if not error:
        row.done, row.error, instance.failures, instance.unreachable_until = True, "", 0, None
        db.session.commit()
        return
    row.error = error[:500]
    instance.failures += 1
    if instance.failures >= UNREACHABLE_AFTER:
        instance.unreachable_until = now + backoff(instance.failures - UNREACHABLE_AFTER + 2)
    if row.attempts >= MAX_ATTEMPTS or (response_is_final(error)):
        row.done = True  # given up: kept, with its error, for the record
        log.warning("delivery %s to %s given up: %s", row.id, row.inbox, error)
        db.session.commit()
        return
    row.next_attempt_at = now + backoff(row.attempts)
    db.session.commit()
    tasks.enqueue(deliver, row.id, delay=backoff(row.attempts).total_seconds())


def response_is_final(error: str) -> bool:
    """A 4xx other than 408/429 will not change by retrying (the inbox refuses it)."""
    code = error.removeprefix("answered ")
    return code.isdigit() and 400 <= int(code) < 500 and code not in ("408", "429")


@tasks.sweeper
def sweep_deliveries() -> int:
    """Start the deliveries that are due (after a restart, a lost job, or inline runs)."""
    due = db.session.scalars(
        select(Delivery.id)
        .where(Delivery.done.is_(False), Delivery.next_attempt_at <= utcnow())
        .order_by(Delivery.next_attempt_at)
        .limit(SWEEP_BATCH)
    ).all()
    for delivery_id in due:
        tasks.enqueue(deliver, delivery_id)
    return len(due)


# --- posts announce themselves ----------------------------------------------------------------


def attachments(post: Post) -> list[dict]:
    """The post's images, each by its largest JPEG: a public post's at their public URLs, a
    followers-only post's at capability URLs its followers' servers can fetch without a
    session (cara.federation.capability)."""
    public = documents.is_public(post)
    images = []
    for media in post.media:
        full = [r for r in media.renditions if not r.get("sq") and bool(r.get("pub")) == public]
        jpegs = [r for r in full if r["fmt"] == "jpeg"] or full
        if jpegs:
            best = max(jpegs, key=lambda r: r["w"])
            url = None if public else capability.url(media.id, best["name"])
            images.append(documents.image(media, best, f"image/{best['fmt']}", url))
    return images


def _render(activity: dict) -> dict | None:
    """The document to send: Create and Update of a post are written when sent, from the post
    as it is then (its images get their public names after it goes live)."""
    post_id = activity.get(POST_KEY)
    if post_id is None:
        return activity
    post = db.session.get(Post, post_id)
    if post is None or post.state != PostState.PUBLISHED:
        return None
    return post_activity(activity["type"], post)


def post_activity(kind: str, post: Post) -> dict:
    actor = documents.actor_url(post.author)
    url = documents.note_url(post.id)
    if kind == "Delete":
        tombstone = {"id": url, "type": "Tombstone"}
        return documents.activity("Delete", actor, tombstone, f"{url}#delete", [documents.PUBLIC])
    note = documents.note(post, attachments(post))
    stamp = int(post.updated_at.timestamp()) if kind == "Update" else "create"
    return documents.activity(
        kind, actor, note, f"{url}#{kind.lower()}-{stamp}", note["to"], note["cc"]
    )


def _changes(session: Session) -> list[tuple[str, Post | User]]:
    changes = []
    for user in session.dirty:
        if isinstance(user, User) and inspect(user).attrs.deleted_at.history.added:
            if user.deleted_at is not None:
                changes.append(("Delete", user))
    for post in session.deleted:
        if isinstance(post, Post) and _was(post, PostState.PUBLISHED):
            changes.append(("Delete", post))
    for post in session.dirty:
        if not isinstance(post, Post):
            continue
        history = inspect(post).attrs.state.history
        if history.has_changes():
            was_live = PostState.PUBLISHED in (history.deleted or ())
            if post.state == PostState.PUBLISHED and not was_live:
                changes.append(("Create", post))
            elif was_live and post.state != PostState.PUBLISHED:
                changes.append(("Delete", post))
        elif post.state == PostState.PUBLISHED and inspect(post).attrs.updated_at.history.added:
            changes.append(("Update", post))
    return changes


def _was(post: Post, state: PostState) -> bool:
    history = inspect(post).attrs.state.history
    return (history.deleted or [post.state])[0] == state


@event.listens_for(Session, "before_flush")
def _announce(session: Session, flush_context, instances) -> None:
    """Queue deliveries for posts that went live, changed or went away, in the same
    transaction as the change (the database row is the truth)."""
    from flask import has_app_context

    from cara import federation

    if not has_app_context():
        return
    changes = _changes(session)
    if not changes:
        return
    with session.no_autoflush:
        if not federation.enabled():
            return
        for kind, subject in changes:
            author = subject if isinstance(subject, User) else subject.author
            inboxes = follower_inboxes(author)
            if inboxes:
                rows = queue(author, inboxes, _pending(kind, subject))
                session.info.setdefault("cara.deliveries", []).extend(rows)


def _pending(kind: str, subject: Post | User) -> dict:
    """What a Delivery row keeps: a Delete in full (its subject is going away), a Create or
    Update as the post's id (written when sent)."""
    if isinstance(subject, User):  # the account was deleted: its actor goes too
        actor = documents.actor_url(subject)
        return documents.activity("Delete", actor, actor, f"{actor}#delete", [documents.PUBLIC])
    if kind == "Delete":
        return post_activity(kind, subject)
    return {"type": kind, POST_KEY: subject.id}


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, flush_context) -> None:
    rows = session.info.pop("cara.deliveries", [])
    session.info.setdefault("cara.delivery_ids", []).extend(row.id for row in rows)


@event.listens_for(Session, "after_commit")
def _start(session: Session) -> None:
    ids = session.info.pop("cara.delivery_ids", [])
    # Inline (tests, CLI): no SQL may run inside a commit; the next sweep starts them.
    if ids and tasks.runner_status() != "inline":
        for delivery_id in ids:
            tasks.enqueue(deliver, delivery_id)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("cara.deliveries", None)
    session.info.pop("cara.delivery_ids", None)
