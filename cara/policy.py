"""The one authorization policy: who may see or change what."""

from sqlalchemy import select

from .extensions import db
from .models import Block, Comment, Job, Media, Post, PostState, Role, User, Visibility


def _blocked(a: User | None, b: User) -> bool:
    """True if either user blocks the other."""
    if a is None or a.id == b.id:
        return False
    stmt = select(Block).where(
        ((Block.blocker_id == a.id) & (Block.blocked_id == b.id))
        | ((Block.blocker_id == b.id) & (Block.blocked_id == a.id))
    )
    return db.session.scalar(stmt) is not None


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
