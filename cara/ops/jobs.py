"""Failed background work, for admins: posts and images whose processing gave up, and retry."""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState, User
from cara.posting import processing

log = logging.getLogger(__name__)

LIMIT = 200  # the page lists the most recent; older ones are retried the same way


@dataclass(frozen=True)
class Failures:
    posts: list[Post]  # state failed, with their failed images
    media: list[tuple[Media, User]]  # failed images of no post (avatars), with their owner


def failed() -> Failures:
    posts = db.session.scalars(
        select(Post)
        .where(Post.state == PostState.FAILED)
        .options(selectinload(Post.media), selectinload(Post.author))
        .order_by(Post.id.desc())
        .limit(LIMIT)
    ).all()
    loose = db.session.execute(
        select(Media, User)
        .join(User, User.id == Media.owner_id)
        .where(Media.state == MediaState.FAILED, Media.post_id.is_(None))
        .order_by(Media.id.desc())
        .limit(LIMIT)
    ).all()
    return Failures(list(posts), [tuple(row) for row in loose])


def retry(post: Post, admin: User) -> bool:
    """Give the post's failed images a fresh set of attempts; False when nothing had failed.
    Logged (who, which post): the audit log belongs to moderation, a layer above this one."""
    if not any(m.state == MediaState.FAILED for m in post.media):
        return False
    log.info("admin @%s retried the failed processing of post %s", admin.username, post.id)
    processing.retry_failed(post)
    return True
