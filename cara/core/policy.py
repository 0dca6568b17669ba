"""The one authorization policy: who may see or change what, in Python and in SQL."""

from sqlalchemy import and_, or_, select, union

from cara.core.extensions import db
from cara.core.models import (
    Block,
    Comment,
    Follow,
    Job,
    Media,
    Mute,
    Post,
    PostState,
    Role,
    User,
    UserSession,
    Visibility,
)


def blocked(a_id: int, b_id: int) -> bool:
    """True if either user blocks the other."""
    stmt = select(Block.blocker_id).where(
        or_(
            and_(Block.blocker_id == a_id, Block.blocked_id == b_id),
            and_(Block.blocker_id == b_id, Block.blocked_id == a_id),
        )
    )
    return db.session.scalar(stmt.limit(1)) is not None


def silenced(user_id: int, actor_id: int) -> bool:
    """True if `user_id` must not hear from `actor_id`: a block either way, or a mute."""
    muted = select(Mute.muter_id).where(Mute.muter_id == user_id, Mute.muted_id == actor_id)
    return blocked(user_id, actor_id) or db.session.scalar(muted.limit(1)) is not None


def _blocked(a: User | None, b: User) -> bool:
    return a is not None and a.id != b.id and blocked(a.id, b.id)


def can_view(viewer: User | None, obj) -> bool:
    """May `viewer` (None when logged out) see this post, media or profile?"""
    viewer = viewer if viewer is not None and viewer.is_authenticated else None
    if isinstance(obj, Media):
        if obj.post is None:  # an avatar is as visible as its owner's profile
            owner = db.session.get(User, obj.owner_id)
            return obj.id == owner.avatar_media_id and can_view(viewer, owner)
        return can_view(viewer, obj.post)
    if isinstance(obj, User):
        return not _blocked(viewer, obj)
    if isinstance(obj, Post):
        if _owns(viewer, obj):
            return True
        if obj.state in (PostState.HELD, PostState.REJECTED):
            return viewer is not None and viewer.is_moderator
        if obj.state != PostState.PUBLISHED or _blocked(viewer, obj.author):
            return False
        if obj.visibility == Visibility.FOLLOWERS or obj.author.is_private:
            return viewer is not None and (viewer.follows(obj.author) or viewer.is_moderator)
        return True
    if isinstance(obj, Comment):
        post = db.session.get(Post, obj.post_id)
        return can_view(viewer, post) and not _blocked(viewer, obj.author)
    if isinstance(obj, Job):
        return not _blocked(viewer, db.session.get(User, obj.owner_id))
    raise TypeError(f"no view policy for {type(obj).__name__}")


def can_change(viewer: User | None, obj) -> bool:
    """May `viewer` edit or delete this object?"""
    if viewer is None or not viewer.is_authenticated:
        return False
    if isinstance(obj, User):
        return viewer.id == obj.id
    if isinstance(obj, Post | Media):
        return _owns(viewer, obj)
    if isinstance(obj, Comment):
        # Its author, the artist whose post it is on, or a moderator may delete a comment.
        post = db.session.get(Post, obj.post_id)
        return viewer.id in (obj.author_id, post.author_id) or viewer.is_moderator
    if isinstance(obj, Job):
        return viewer.id == obj.owner_id
    if isinstance(obj, UserSession):  # ending a session: only its own account's
        return viewer.id == obj.user_id
    raise TypeError(f"no change policy for {type(obj).__name__}")


def can_interact(viewer: User | None, post: Post) -> bool:
    """May `viewer` like, bookmark or comment on the post? (Seeing it is enough, when logged in.)"""
    return viewer is not None and viewer.is_authenticated and can_view(viewer, post)


def repostable(post: Post) -> bool:
    """Only public posts of public accounts are reposted: followers-only art stays in its circle."""
    return post.visibility == Visibility.PUBLIC and not post.author.is_private


def can_repost(viewer: User | None, post: Post) -> bool:
    return can_interact(viewer, post) and viewer.id != post.author_id and repostable(post)


def can_follow(viewer: User | None, user: User) -> bool:
    """Follow anyone but yourself, unless a block stands between you."""
    return (
        viewer is not None
        and viewer.is_authenticated
        and viewer.id != user.id
        and not _blocked(viewer, user)
    )


def _owns(viewer: User | None, obj) -> bool:
    owner_id = obj.author_id if isinstance(obj, Post) else obj.owner_id
    return viewer is not None and viewer.id == owner_id


def can_moderate(viewer: User | None) -> bool:
    """Moderators and admins review held posts, appeals and reports."""
    return viewer is not None and viewer.is_authenticated and viewer.is_moderator


def can_admin(viewer: User | None) -> bool:
    """Admins only: site-wide settings such as the known-hash lists."""
    return viewer is not None and viewer.is_authenticated and viewer.role == Role.ADMIN


# --- the same rules as SQL, for queries over many rows ---------------------------------------


def signed_in(viewer) -> User | None:
    """The viewer when logged in, else None (flask-login gives an anonymous user object)."""
    return viewer if viewer is not None and viewer.is_authenticated else None


def _block_ids(viewer: User) -> list:
    return [
        select(Block.blocked_id).where(Block.blocker_id == viewer.id),
        select(Block.blocker_id).where(Block.blocked_id == viewer.id),
    ]


def blocked_either_way(viewer: User):
    """Ids of users `viewer` blocks or is blocked by (the SQL form of `blocked`)."""
    return union(*_block_ids(viewer))


def hidden_authors(viewer: User):
    """Ids hidden from `viewer`: blocked either way, or muted."""
    return union(*_block_ids(viewer), select(Mute.muted_id).where(Mute.muter_id == viewer.id))


def followed_ids(viewer: User):
    return select(Follow.followee_id).where(
        Follow.follower_id == viewer.id, Follow.pending.is_(False)
    )


def visible(viewer: User | None, moderator: bool = False) -> list:
    """WHERE clauses (posts joined to their author) for what `viewer` may see in a feed.

    The SQL form of policy.can_view for posts; `moderator` lets moderators see every audience.
    """
    viewer = signed_in(viewer)
    public = and_(Post.visibility == Visibility.PUBLIC, User.is_private.is_(False))
    if viewer is None:
        return [Post.state == PostState.PUBLISHED, public]
    hidden = Post.author_id.not_in(hidden_authors(viewer))
    if moderator and viewer.is_moderator:
        return [Post.state.in_([PostState.PUBLISHED, PostState.HELD, PostState.REJECTED]), hidden]
    audience = or_(public, Post.author_id == viewer.id, Post.author_id.in_(followed_ids(viewer)))
    return [Post.state == PostState.PUBLISHED, audience, hidden]
