"""The documents about this server's own accounts and posts: what the routes serve."""

from datetime import timedelta

from sqlalchemy import select

from cara.core import settings
from cara.core.extensions import db
from cara.core.models import Follow, Media, Post, PostState, RemoteFollow, User, count, utcnow
from cara.core.policy import can_view, followers_may_see, visible
from cara.federation import delivery, documents, keys

MIME = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif", "png": "image/png"}


def user(username: str) -> User | None:
    """A local account that may be federated: not deleted, not suspended."""
    row = db.session.scalar(select(User).filter_by(username=username.lower()))
    ok = row is not None and row.deleted_at is None and not row.is_suspended
    return row if ok else None


def deleted_user(username: str) -> User | None:
    """A local account deleted by its owner (its actor answers 410)."""
    row = db.session.scalar(select(User).filter_by(username=username.lower()))
    return row if row is not None and row.deleted_at is not None else None


def actor(user: User) -> dict:
    avatar = None
    media = db.session.get(Media, user.avatar_media_id) if user.avatar_media_id else None
    if media is not None and media.renditions:
        best = max(media.renditions, key=lambda r: r["w"])
        avatar = {
            "url": documents.site_url(f"/media/{media.id}/{best['name']}"),
            "mediaType": MIME.get(best["fmt"], "image/jpeg"),
        }
    return documents.person(user, keys.key_for(user).public_pem, avatar)


def webfinger(resource: str) -> User | None:
    """The account `acct:name@this-domain` (or its actor URL) names, else None."""
    name = documents.local_username(resource)
    if name is None and resource.startswith("acct:"):
        local, _, host = resource.removeprefix("acct:").partition("@")
        name = local if host.lower() == documents.domain().lower() else None
    return user(name) if name else None


def nodeinfo() -> dict:
    now = utcnow()
    people = select(User).where(User.deleted_at.is_(None))

    def active(days: int) -> int:
        since = now - timedelta(days=days)
        authors = select(Post.author_id).where(Post.published_at >= since).distinct()
        return count(authors)

    posts = select(Post.id).where(Post.state == PostState.PUBLISHED)
    return documents.nodeinfo(
        count(people),
        active(30),
        active(180),
        count(posts),
        settings.get("site_name"),
        settings.registration() == settings.Registration.OPEN,
    )


def public_posts(author: User):
    return (
        select(Post)
        .join(Post.author)
        .where(*visible(None), Post.author_id == author.id)
        .order_by(Post.published_at.desc(), Post.id.desc())
    )


def outbox(author: User) -> dict:
    """The account's last public posts as Create activities."""
    stmt = public_posts(author)
    items = [
        delivery.post_activity("Create", post)
        for post in db.session.scalars(stmt.limit(documents.MAX_ITEMS))
    ]
    for item in items:
        item.pop("@context")
    url = documents.collection_url(author, "outbox")
    return {"@context": documents.CONTEXT, **documents.collection(url, count(stmt), items)}


def followers(author: User) -> dict:
    """How many follow the account, here and elsewhere (who they are is not published)."""
    local = select(Follow).filter_by(followee_id=author.id, pending=False)
    remote = select(RemoteFollow).filter_by(user_id=author.id, inbound=True, pending=False)
    url = documents.collection_url(author, "followers")
    return documents.collection(url, count(local) + count(remote))


def following(author: User) -> dict:
    local = select(Follow).filter_by(follower_id=author.id, pending=False)
    remote = select(RemoteFollow).filter_by(user_id=author.id, inbound=False, pending=False)
    url = documents.collection_url(author, "following")
    return documents.collection(url, count(local) + count(remote))


def note(post_id: int) -> dict | None:
    """A public post's Note; None for anything not public."""
    post = db.session.get(Post, post_id)
    if post is None or not can_view(None, post):
        return None
    return {"@context": documents.CONTEXT, **documents.note(post, delivery.attachments(post))}


def shared_file(media_id: int, name: str) -> Media | None:
    """The image behind a capability URL (checked by the caller), if its post is still one
    its author's followers see and `name` is still one of its derivatives."""
    media = db.session.get(Media, media_id)
    if media is None or media.post is None or not followers_may_see(media.post):
        return None
    if not any(r["name"] == name for r in media.renditions):
        return None
    return media
