"""Remote replies to local posts: a Note whose inReplyTo names a post here, kept as a
RemoteComment (sanitised text, by its actor, its id for Update and Delete) and shown among the
post's comments. Public replies are counted in the post's comment count; the others are not
(who sees which: policy.visible_remote_comments)."""

import html
from datetime import datetime

import nh3
from sqlalchemy import case, select, update
from sqlalchemy.orm import contains_eager

from cara.core import policy
from cara.core.extensions import db
from cara.core.models import Notification, Post, RemoteActor, RemoteComment, User
from cara.social import notify

PUBLIC, FOLLOWERS, DIRECT = "public", "followers", "direct"


def _bump(post_id: int, step: int) -> None:
    count = case((Post.comment_count + step < 0, 0), else_=Post.comment_count + step)
    db.session.execute(update(Post).where(Post.id == post_id).values(comment_count=count))


def store(
    actor: RemoteActor,
    post: Post,
    uri: str,
    *,
    url: str,
    content: str,
    audience: str,
    published: datetime,
    updated: datetime,
    create: bool,
) -> tuple[RemoteComment | None, bool]:
    """Keep (Create) or edit (Update) the actor's reply `uri` to `post`; returns it and
    whether it is new (the artist is told of a new one). Refused: a post the actor may not see
    (policy.remote_may_see), and an Update of someone else's reply. Not committed: the caller
    commits."""
    row = db.session.scalar(select(RemoteComment).filter_by(uri=uri[:500]))
    if row is not None and (row.actor_id != actor.id or row.removed_at is not None):
        return None, False  # someone else's, or hidden here: a redelivery changes nothing
    new = row is None
    if new:
        if not create or not policy.remote_may_see(actor.id, post):
            return None, False
        row = RemoteComment(uri=uri[:500], post_id=post.id, actor_id=actor.id, audience=DIRECT)
        row.created_at = published
        db.session.add(row)
    was_public = row.audience == PUBLIC
    row.url, row.content, row.audience, row.updated_at = url[:500], content, audience, updated
    if was_public != (audience == PUBLIC):
        _bump(row.post_id, 1 if audience == PUBLIC else -1)
    if new:
        notify.notify(
            post.author_id,
            "comment",
            post_id=post.id,
            text=plain(content),
            remote_actor_id=actor.id,
        )
    return row, new


def plain(content: str) -> str:
    """The text of sanitised HTML, for a notification's quote."""
    return " ".join(html.unescape(nh3.clean(content.replace("<", " <"), tags=set())).split())[:300]


def tell_mentioned(actor: RemoteActor, users: list[User], post: Post | None, content: str):
    """Notify the local people a remote Note mentions (once per Note's text): about `post` when
    it replies to one they may see. Not committed."""
    text = plain(content)
    for user in users:
        about = post.id if post is not None and policy.can_view(user, post) else None
        seen = select(Notification.id).filter_by(
            user_id=user.id, kind="mention", remote_actor_id=actor.id, text=text
        )
        if db.session.scalar(seen.limit(1)) is None:
            notify.notify(user.id, "mention", post_id=about, text=text, remote_actor_id=actor.id)


def remove(actor: RemoteActor, uri: str) -> bool:
    """Delete of the actor's reply `uri` (only theirs). A reply hidden here keeps its row, its
    text dropped, so that the same Note delivered again stays hidden. Not committed."""
    row = db.session.scalar(select(RemoteComment).filter_by(uri=uri[:500], actor_id=actor.id))
    if row is None:
        return False
    if row.removed_at is not None:
        row.content = ""
        return True
    if row.audience == PUBLIC:
        _bump(row.post_id, -1)
    db.session.delete(row)
    return True


def forget_actors(actor_ids: list[int]) -> None:
    """Before actors are deleted (a Delete of the actor, an instance block): their public
    replies leave the comment counts (the rows go with the actors, ON DELETE CASCADE)."""
    if not actor_ids:
        return
    stmt = select(RemoteComment).where(
        RemoteComment.actor_id.in_(actor_ids),
        RemoteComment.audience == PUBLIC,
        RemoteComment.removed_at.is_(None),
    )
    for row in db.session.scalars(stmt):
        _bump(row.post_id, -1)


def shown(viewer, post: Post) -> list[RemoteComment]:
    """The replies from elsewhere `viewer` sees on `post` (which they may see), oldest first,
    with their actors."""
    stmt = (
        select(RemoteComment)
        .join(RemoteComment.actor)
        .options(contains_eager(RemoteComment.actor))
        .where(*policy.visible_remote_comments(viewer, post))
        .order_by(RemoteComment.created_at, RemoteComment.id)
    )
    return list(db.session.scalars(stmt))
