"""Tombstones: an object this server served over ActivityPub and that is gone answers 410 Gone
with a Tombstone document (as Mastodon's do), so other servers drop their copies; an id never
served stays 404. Public posts record theirs when deleted (a flush listener: every way a post
is deleted), likes, reposts and replies sent out when undone or deleted; a deleted account's
actor and what it served are gone from the moment of deletion."""

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from cara.core.extensions import db
from cara.core.models import Post, PostState, Tombstone, User, Visibility
from cara.federation import documents


def post_path(post_id: int) -> str:
    return f"/ap/posts/{post_id}"


def record(path: str, former_type: str) -> None:
    """Keep `path`'s tombstone (in the caller's transaction)."""
    db.session.merge(Tombstone(path=path, former_type=former_type))


def find(path: str) -> dict | None:
    """The Tombstone document of `path`, if something served there is gone."""
    row = db.session.get(Tombstone, path)
    return documents.tombstone(path, row.former_type, row.deleted_at) if row else None


def of_account(user: User, path: str, former_type: str) -> dict | None:
    """The Tombstone of `path`, which `user`'s account served, once the account is deleted."""
    if user.deleted_at is None:
        return None
    return documents.tombstone(path, former_type, user.deleted_at)


def of_post(post_id: int) -> dict | None:
    """A gone post's Tombstone: deleted, or its account deleted, after it was served."""
    post = db.session.get(Post, post_id)
    if post is None:
        return find(post_path(post_id))
    return of_account(post.author, post_path(post_id), "Note") if _served(post) else None


def _served(post: Post) -> bool:
    """The post's Note was served (published, public, of a public account)."""
    history = inspect(post).attrs.state.history
    was = (history.deleted or [post.state])[0]
    public = post.visibility == Visibility.PUBLIC and not post.author.is_private
    return was == PostState.PUBLISHED and public


@event.listens_for(Session, "before_flush")
def _posts_deleted(session: Session, flush_context, instances) -> None:
    with session.no_autoflush:
        for post in [p for p in session.deleted if isinstance(p, Post)]:
            if _served(post):
                session.merge(Tombstone(path=post_path(post.id), former_type="Note"))
