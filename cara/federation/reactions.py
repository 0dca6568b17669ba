"""Remote likes and reposts (Announce) of local posts: kept as rows, counted on the post."""

import re

from sqlalchemy import select, update

from cara.core.extensions import db
from cara.core.models import Post, RemoteActor, RemoteReaction
from cara.core.policy import remote_blocked, remote_hidden, remote_may_see, repostable, signed_in
from cara.core.text import site_url
from cara.social import notify

COUNTERS = {"like": Post.like_count, "announce": Post.repost_count}
NOTICE = {"like": "like", "announce": "repost"}  # the notification kind


def local_post(uri: str) -> Post | None:
    """The post a Note id (/ap/posts/<id>) or post page (/posts/<id>) of this site names."""
    for prefix in (site_url("/ap/posts/"), site_url("/posts/")):
        if isinstance(uri, str) and uri.startswith(prefix):
            match = re.fullmatch(r"\d{1,18}", uri.removeprefix(prefix))
            return db.session.get(Post, int(match.group())) if match else None
    return None


def people(viewer, post: Post, kind: str = "like", limit: int = 40) -> list[RemoteActor]:
    """The people elsewhere who liked (or reposted) `post`, newest first, for the list of
    likers; those the viewer blocked or muted are left out."""
    stmt = (
        select(RemoteActor)
        .join(RemoteReaction, RemoteReaction.actor_id == RemoteActor.id)
        .where(RemoteReaction.post_id == post.id, RemoteReaction.kind == kind)
        .order_by(RemoteReaction.created_at.desc(), RemoteReaction.id.desc())
        .limit(limit)
    )
    if (viewer := signed_in(viewer)) is not None:
        stmt = stmt.where(RemoteActor.id.not_in(remote_hidden(viewer)))
    return list(db.session.scalars(stmt))


def _may_react(actor: RemoteActor, post: Post, kind: str) -> bool:
    """Public posts take likes from anyone and reposts if repostable; followers-only posts
    take likes from accepted followers only, and no reposts; nothing from someone the artist
    blocked."""
    if kind == "announce":
        return repostable(post) and not remote_blocked(post.author_id, actor.id)
    return remote_may_see(actor.id, post)


def _bump(post_id: int, kind: str, step: int) -> None:
    column = COUNTERS[kind]
    db.session.execute(update(Post).where(Post.id == post_id).values({column: column + step}))


def react(actor: RemoteActor, kind: str, obj: str, activity_uri: str) -> None:
    post = local_post(obj)
    if post is None or not _may_react(actor, post, kind):
        return
    stmt = select(RemoteReaction).filter_by(actor_id=actor.id, post_id=post.id, kind=kind)
    if db.session.scalar(stmt) is not None:
        return
    db.session.add(
        RemoteReaction(actor_id=actor.id, post_id=post.id, kind=kind, activity_uri=activity_uri)
    )
    _bump(post.id, kind, 1)
    notify.notify(post.author_id, NOTICE[kind], post_id=post.id, remote_actor_id=actor.id)
    db.session.commit()


def undo(actor: RemoteActor, kind: str, activity: dict) -> None:
    """Undo{Like} or Undo{Announce}, by the activity's id or by what it was about."""
    stmt = select(RemoteReaction).filter_by(actor_id=actor.id, kind=kind)
    post = local_post(activity.get("object") if isinstance(activity.get("object"), str) else "")
    for row in db.session.scalars(stmt):
        if row.activity_uri == activity.get("id") or (post is not None and row.post_id == post.id):
            db.session.delete(row)
            _bump(row.post_id, kind, -1)
            author_id = db.session.get(Post, row.post_id).author_id
            notify.withdraw(author_id, NOTICE[kind], None, row.post_id, remote_actor_id=actor.id)
    db.session.commit()


def forget_actors(actor_ids: list[int]) -> None:
    """Before actors are deleted (a Delete of the actor, an instance block): their likes and
    reposts leave the counts (the rows go with the actors, ON DELETE CASCADE). Not committed."""
    if not actor_ids:
        return
    for row in db.session.scalars(
        select(RemoteReaction).where(RemoteReaction.actor_id.in_(actor_ids))
    ):
        _bump(row.post_id, row.kind, -1)
