"""Social actions as idempotent set/unset functions (never blind toggles)."""

from sqlalchemy import select, update

from .extensions import db
from .models import Comment, Follow, Like, Post, User, count

COMMENT_MAX = 1000


def follow(follower: User, followee: User) -> Follow | None:
    """Follow (a request when the account is private). Idempotent."""
    if follower.id == followee.id:
        return None
    existing = db.session.get(Follow, (follower.id, followee.id))
    if existing:
        return existing
    row = Follow(follower_id=follower.id, followee_id=followee.id, pending=followee.is_private)
    db.session.add(row)
    db.session.commit()
    return row


def like(user: User, post: Post) -> bool:
    """Like a post; returns False if it was already liked."""
    if db.session.get(Like, (user.id, post.id)):
        return False
    db.session.add(Like(user_id=user.id, post_id=post.id))
    db.session.execute(
        update(Post).where(Post.id == post.id).values(like_count=Post.like_count + 1)
    )
    db.session.commit()
    return True


def comment(author: User, post: Post, body: str, parent: Comment | None = None):
    """Add a comment; returns (comment, errors)."""
    body = body.strip()
    if not body:
        return None, ["Write something first."]
    if len(body) > COMMENT_MAX:
        return None, [f"Use at most {COMMENT_MAX:,} characters."]
    row = Comment(post_id=post.id, author_id=author.id, body=body, parent_id=parent and parent.id)
    db.session.add(row)
    db.session.execute(
        update(Post).where(Post.id == post.id).values(comment_count=Post.comment_count + 1)
    )
    db.session.commit()
    return row, []


def follow_counts(user: User) -> dict[str, int]:
    """Approved followers and followings of a user."""
    followers = select(Follow).where(Follow.followee_id == user.id, Follow.pending.is_(False))
    following = select(Follow).where(Follow.follower_id == user.id, Follow.pending.is_(False))
    return {"followers": count(followers), "following": count(following)}


def likers(post: Post) -> list[User]:
    return list(
        db.session.scalars(
            select(User).join(Like, Like.user_id == User.id).where(Like.post_id == post.id)
        )
    )
