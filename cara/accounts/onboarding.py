"""The welcome after sign-up: set up your profile, then follow a few suggested artists.

Shown once per account: sign-up sets `users.welcome_pending`, finishing or skipping clears it.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from cara.core import policy
from cara.core.extensions import db
from cara.core.models import Follow, Media, Post, PostState, User, utcnow
from cara.social import feeds

SUGGESTIONS = 12
ACTIVE_DAYS = 30  # an artist who published within this many days is "recently active"


def pending(user: User) -> bool:
    """Is the welcome still to come? Only for an account able to act (address confirmed,
    approved, not suspended): its second step follows people."""
    return user.welcome_pending and policy.can_act(user)


def finish(user: User) -> None:
    """Finished or skipped: never shown again."""
    user.welcome_pending = False
    db.session.commit()


@dataclass(frozen=True)
class Suggestion:
    user: User
    followers: int
    avatar: Media | None
    cover: Media | None  # the newest post's first image the viewer may see, if any
    following: bool = False
    requested: bool = False  # a follow request to a private account waits


def suggestions(viewer: User, keep=(), limit: int = SUGGESTIONS) -> list[Suggestion]:
    """The most followed artists who published in the last ACTIVE_DAYS days, then the most
    recently active: never the viewer, anyone blocked either way or muted, suspended or
    deleted accounts, nor people the viewer follows already (or asked to), except the ids in
    `keep` (those followed from this list, so the page keeps them with their new state)."""
    followers = (
        select(Follow.followee_id.label("id"), func.count().label("n"))
        .where(Follow.pending.is_(False))
        .group_by(Follow.followee_id)
        .subquery()
    )
    active = (
        select(Post.author_id.label("id"), func.max(Post.published_at).label("at"))
        .where(Post.state == PostState.PUBLISHED)
        .group_by(Post.author_id)
        .subquery()
    )
    followed = select(Follow.followee_id).where(
        Follow.follower_id == viewer.id, Follow.followee_id.not_in(list(keep))
    )
    count = func.coalesce(followers.c.n, 0)
    rows = db.session.execute(
        select(User, count)
        .join(active, active.c.id == User.id)
        .outerjoin(followers, followers.c.id == User.id)
        .where(
            User.id != viewer.id,
            active.c.at >= utcnow() - timedelta(days=ACTIVE_DAYS),
            User.deleted_at.is_(None),
            policy.not_suspended(),
            User.id.not_in(policy.hidden_authors(viewer)),
            User.id.not_in(followed),
        )
        .order_by(count.desc(), active.c.at.desc(), User.id)
        .limit(limit)
    ).all()
    return _described(viewer, rows)


def suggestion(viewer: User, user: User) -> Suggestion:
    """One artist as the list shows them (after a follow or unfollow from it)."""
    count = db.session.scalar(
        select(func.count()).where(Follow.followee_id == user.id, Follow.pending.is_(False))
    )
    return _described(viewer, [(user, count)])[0]


def _described(viewer: User, rows) -> list[Suggestion]:
    """Avatars, covers and the viewer's follows for `rows` of (user, followers), in 3 queries."""
    ids = [u.id for u, _ in rows]
    if not ids:
        return []
    avatars = feeds.media_by_ids(u.avatar_media_id for u, _ in rows)
    covers = _covers(viewer, ids)
    follows = {
        f.followee_id: f
        for f in db.session.scalars(
            select(Follow).where(Follow.follower_id == viewer.id, Follow.followee_id.in_(ids))
        )
    }
    return [
        Suggestion(
            user=u,
            followers=n,
            avatar=avatars.get(u.avatar_media_id),
            cover=covers.get(u.id),
            following=u.id in follows and not follows[u.id].pending,
            requested=u.id in follows and follows[u.id].pending,
        )
        for u, n in rows
    ]


def _covers(viewer: User, author_ids: list[int]) -> dict[int, Media]:
    """Each author's newest post the viewer may see (mature ones only if they asked to see
    them unblurred): its first processed image."""
    newest = (
        select(
            Post.id,
            func.row_number()
            .over(partition_by=Post.author_id, order_by=(Post.published_at.desc(), Post.id.desc()))
            .label("rank"),
        )
        .join(User, User.id == Post.author_id)
        .where(Post.author_id.in_(author_ids), *policy.visible(viewer))
    )
    if not viewer.show_mature:
        newest = newest.where(Post.mature.is_(False))
    newest = newest.subquery()
    posts = db.session.scalars(
        select(Post)
        .join(newest, newest.c.id == Post.id)
        .where(newest.c.rank == 1)
        .options(selectinload(Post.media))
    )
    return {p.author_id: m for p in posts if (m := feeds.first_image(p))}
