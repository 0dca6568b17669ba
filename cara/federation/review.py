"""Held images from elsewhere, in front of the moderators: a remote post whose image the filter
held waits in the "From elsewhere" queue with our derivative of it (served to moderators only).
Confirming makes each held image a known AI image (hashes, local features, and an entry of
our shared feed, as a local confirmation); clearing puts its hashes on the allow list and
shows it. Either way the decision is audited and final."""

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from cara import moderation
from cara.core import pagination, storage
from cara.core.extensions import db
from cara.core.models import RemotePost, User
from cara.federation import media
from cara.posting import known


def queue(cursor: str | None = None) -> moderation.QueuePage:
    """One page of remote posts with a held image, oldest first."""
    stmt = (
        select(RemotePost).where(RemotePost.awaiting_review).options(selectinload(RemotePost.actor))
    )
    key = pagination.decode_key(cursor, int)
    page = pagination.keyset(stmt, (RemotePost.id,), key, moderation.PAGE_SIZE, ascending=True)
    return moderation.QueuePage(page.items, page.next_cursor)


def waiting() -> int:
    return db.session.scalar(select(func.count(RemotePost.id)).where(RemotePost.awaiting_review))


def held(post: RemotePost) -> list[tuple[int, dict]]:
    """(index, attachment) of the post's held images."""
    return [(i, item) for i, item in enumerate(post.attachments) if item.get("state") == media.HELD]


def send_held(post: RemotePost, name: str):
    """Our derivative of one of the post's held images (moderators only), else None."""
    if not any(item.get("file") == name for _, item in held(post)):
        return None
    return storage.send_remote(post.id, name, storage.MIME[name.rpartition(".")[2]])


def confirm(post: RemotePost, moderator: User, reason: str) -> None:
    """Its held images are AI-made: they join the known list and our shared feed; files go."""
    _decide(post, moderator, moderation.check_reason(reason, required=True), allow=False)


def clear(post: RemotePost, moderator: User, reason: str = "") -> None:
    """Its held images are not AI-made: allowed from now on, and shown."""
    _decide(post, moderator, moderation.check_reason(reason, required=False), allow=True)


def _decide(post: RemotePost, moderator: User, reason: str, *, allow: bool) -> None:
    images = held(post)
    if not images:
        raise moderation.ModerationError("Nothing of this post waits for a decision.", 409)
    attachments = list(post.attachments)
    for index, item in images:
        with storage.remote_file(post.id, item["file"]) as path:
            if path is not None:
                work = known.load_work_image(path)
                known.decide_work_image(work, f"r{post.id}-{index}", allow=allow, who=moderator)
        attachments[index] = {**item, "state": media.SHOWN if allow else media.REJECTED}
    post.attachments = attachments
    post.awaiting_review = False
    moderation.audit(moderator, "clear" if allow else "confirm-ai", "remote_post", post.id, reason)
    db.session.commit()
    if not allow:
        storage.delete_remote_files(post.id, [item["file"] for _, item in images])
