"""Whole-account operations: export and deletion."""

from sqlalchemy import select

from cara.core import storage, text
from cara.core.extensions import db
from cara.core.models import Comment, Follow, Media, Post, User
from cara.posting import drafts


def export(user: User) -> dict:
    """Everything the artist wrote, as plain data (their images are linked, not embedded)."""
    posts = db.session.scalars(select(Post).where(Post.author_id == user.id).order_by(Post.id))
    return {
        "account": {
            "username": user.username,
            "email": user.email,
            "display_name": user.display_name,
            "bio": user.bio,
            "links": user.links,
            "created_at": user.created_at.isoformat(),
            "licence": user.licence,
        },
        "posts": [
            {
                "url": text.site_url(f"/posts/{p.id}"),
                "state": p.state.value,
                "caption": p.caption,
                "tags": [t.name for t in p.tags],
                "created_at": p.created_at.isoformat(),
                "images": [
                    {"alt_text": m.alt_text, "sha256": m.sha256, "original_name": m.original_name}
                    for m in p.media
                ],
            }
            for p in posts
        ],
        "comments": [
            {"post_id": c.post_id, "body": c.body, "created_at": c.created_at.isoformat()}
            for c in db.session.scalars(select(Comment).where(Comment.author_id == user.id))
        ],
        "following": [
            u.username
            for u in db.session.scalars(
                select(User)
                .join(Follow, Follow.followee_id == User.id)
                .where(Follow.follower_id == user.id)
            )
        ],
    }


def delete(user: User) -> None:
    """Delete the account, its posts and every stored file."""
    for post in list(user.posts):
        drafts.delete(post)
    leftovers = db.session.scalars(select(Media).where(Media.owner_id == user.id)).all()
    files = [(m.id, m.original_path) for m in leftovers]
    user.avatar_media_id = None
    db.session.flush()
    db.session.delete(user)
    db.session.commit()
    for media_id, original in files:
        storage.delete_media_files(media_id, original)
