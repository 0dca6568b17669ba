"""Moderation: the review queue, confirm or clear, appeals, reports; every decision audited.

Confirm AI: the post is rejected and its flagged images (all of them when none was flagged,
e.g. after a report) join the known-hash list. Clear: the post is published and its flagged
images join the allow list. The artist is notified of both, with the moderator's reason.
"""

import io
from dataclasses import dataclass, field

from PIL import Image
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, object_session, selectinload

from cara import imaging
from cara.core import pagination, storage
from cara.core.extensions import db
from cara.core.models import (
    Appeal,
    AppealStatus,
    AuditEntry,
    Comment,
    Media,
    MediaState,
    Post,
    PostState,
    Report,
    ReportStatus,
    User,
    utcnow,
)
from cara.posting import drafts, known, processing, screening
from cara.social import notify

PAGE_SIZE = 20
REASON_MAX = 2000
APPEAL_MAX = 5000
APPEAL_IMAGES_MAX = 5
PREVIEW_SIDE = 1600  # appeal images are shown to moderators re-encoded, at most this big
QUEUES = ("held", "appeals", "reports", "log")
DECIDABLE = {
    "confirm": (PostState.HELD, PostState.REJECTED, PostState.PUBLISHED),
    "clear": (PostState.HELD, PostState.REJECTED),
}


class ModerationError(ValueError):
    """A decision that cannot be taken; str() is the message for the moderator."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status  # 422: fix the form; 409: the subject is not in a decidable state


# --- the queue ---------------------------------------------------------------------------------


@dataclass
class QueuePage:
    items: list
    next_cursor: str | None
    appeals: dict[int, list[Appeal]] = field(default_factory=dict)  # post id -> open appeals
    posts: dict[int, Post] = field(default_factory=dict)  # appeals: post id -> post
    users: dict[int, User] = field(default_factory=dict)  # reporters, log actors


def _keyset(stmt, column, cursor: str | None, newest_first: bool = False) -> tuple[list, str]:
    """One page of `stmt` ordered by `column` (an id), and the cursor of the next page."""
    key = pagination.decode_key(cursor, int)
    page = pagination.keyset(stmt, (column,), key, PAGE_SIZE, ascending=not newest_first)
    return page.items, page.next_cursor


def _post_options():
    return (
        selectinload(Post.media).selectinload(Media.verdict),
        selectinload(Post.author),
    )


def open_appeals_for(post_ids: list[int]) -> dict[int, list[Appeal]]:
    out: dict[int, list[Appeal]] = {}
    if post_ids:
        stmt = select(Appeal).where(
            Appeal.post_id.in_(post_ids), Appeal.status == AppealStatus.OPEN
        )
        for appeal in db.session.scalars(stmt.order_by(Appeal.id)):
            out.setdefault(appeal.post_id, []).append(appeal)
    return out


def queue(name: str, cursor: str | None = None) -> QueuePage:
    """One page of a queue, oldest first (the audit log newest first)."""
    if name == "held":
        stmt = select(Post).where(Post.state == PostState.HELD).options(*_post_options())
        posts, nxt = _keyset(stmt, Post.id, cursor)
        return QueuePage(posts, nxt, appeals=open_appeals_for([p.id for p in posts]))
    if name == "appeals":
        appeals, nxt = _keyset(
            select(Appeal).where(Appeal.status == AppealStatus.OPEN), Appeal.id, cursor
        )
        ids = list({a.post_id for a in appeals})
        stmt = select(Post).where(Post.id.in_(ids)).options(*_post_options())
        return QueuePage(appeals, nxt, posts={p.id: p for p in db.session.scalars(stmt)})
    if name == "reports":
        reports, nxt = _keyset(
            select(Report).where(Report.status == ReportStatus.OPEN), Report.id, cursor
        )
        return QueuePage(reports, nxt, users=users_by_id(r.reporter_id for r in reports))
    if name == "log":
        entries, nxt = _keyset(select(AuditEntry), AuditEntry.id, cursor, newest_first=True)
        return QueuePage(entries, nxt, users=users_by_id(e.actor_id for e in entries))
    raise ValueError(f"no queue named {name!r}")


def counts() -> dict[str, int]:
    """How many items wait in each queue."""
    return {
        "held": db.session.scalar(select(func.count(Post.id)).where(Post.state == PostState.HELD)),
        "appeals": db.session.scalar(
            select(func.count(Appeal.id)).where(Appeal.status == AppealStatus.OPEN)
        ),
        "reports": db.session.scalar(
            select(func.count(Report.id)).where(Report.status == ReportStatus.OPEN)
        ),
    }


def users_by_id(ids) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


@dataclass(frozen=True)
class ReportTarget:
    """What a report is about, as data (the web layer builds the link from kind and id).

    `exists` is False when it is gone; `post_id` is a comment's post, `username` a user's.
    """

    kind: str
    id: int
    label: str
    exists: bool = False
    post_id: int | None = None
    username: str | None = None


def report_targets(reports: list[Report]) -> dict[int, ReportTarget]:
    """Report id -> what it is about, for a page of reports: one query per kind of subject."""
    ids: dict[str, set[int]] = {}
    for report in reports:
        ids.setdefault(report.subject_kind, set()).add(report.subject_id)

    def existing(kind: str, *columns) -> list:
        if not (wanted := ids.get(kind)):
            return []
        return db.session.execute(select(*columns).where(columns[0].in_(wanted))).all()

    posts = {post_id for (post_id,) in existing("post", Post.id)}
    comments = dict(existing("comment", Comment.id, Comment.post_id))
    users = dict(existing("user", User.id, User.username))
    out = {}
    for report in reports:
        kind, sid = report.subject_kind, report.subject_id
        if kind == "post":
            target = ReportTarget(kind, sid, f"Post {sid}", sid in posts)
        elif kind == "comment":
            target = ReportTarget(kind, sid, f"Comment {sid}", sid in comments, comments.get(sid))
        elif kind == "user" and sid in users:
            target = ReportTarget(kind, sid, f"@{users[sid]}", True, username=users[sid])
        else:  # a deleted user, or a kind with no page to link (a job)
            target = ReportTarget(kind, sid, f"{kind.capitalize()} {sid}")
        out[report.id] = target
    return out


# --- what the artist and the moderators are shown ------------------------------------------


def open_appeal(post: Post) -> Appeal | None:
    stmt = select(Appeal).where(Appeal.post_id == post.id, Appeal.status == AppealStatus.OPEN)
    return db.session.scalar(stmt.limit(1))


# --- decisions ---------------------------------------------------------------------------------


def audit(actor: User | None, action: str, kind: str, subject_id: int, reason: str) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        subject_kind=kind,
        subject_id=subject_id,
        reason=reason,
    )
    db.session.add(entry)
    return entry


def _reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ModerationError("Give a reason: the artist reads it, and it is kept in the log.")
    if len(reason) > REASON_MAX:
        raise ModerationError(f"Use at most {REASON_MAX:,} characters for the reason.")
    return reason


def _check(post: Post, action: str) -> None:
    if post.state not in DECIDABLE[action]:
        raise ModerationError(f"A {post.state.value} post cannot be {action}ed.", 409)


def _settle_appeals(post: Post, status: str) -> None:
    for appeal in open_appeals_for([post.id]).get(post.id, []):
        appeal.status = status


def confirm_ai(post: Post, moderator: User, reason: str) -> None:
    """Reject the post as AI-made; its images' hashes join the known list (source moderator)."""
    reason = _reason(reason, required=True)
    _check(post, "confirm")
    images = screening.flagged(post) or [m for m in post.media if m.state == MediaState.DONE]
    for media in images:
        known.list_image(media, source="moderator", who=moderator)
    post.state = PostState.REJECTED
    _settle_appeals(post, AppealStatus.DENIED)
    audit(moderator, "confirm-ai", "post", post.id, reason)
    notify.notify(
        post.author_id,
        "moderation",
        post_id=post.id,
        text=f"A moderator reviewed your post and confirmed it as AI-generated. Reason: {reason}",
    )
    db.session.commit()
    processing.follow_visibility(post)  # a published post's public image names must go


def clear(post: Post, moderator: User, reason: str = "") -> None:
    """Publish the post; its flagged images join the allow list and are not flagged again."""
    reason = _reason(reason, required=False)
    _check(post, "clear")
    for media in screening.flagged(post):
        known.allow_image(media, who=moderator)
    post.state = PostState.PUBLISHED
    post.published_at = post.published_at or utcnow()
    _settle_appeals(post, AppealStatus.GRANTED)
    audit(moderator, "clear", "post", post.id, reason)
    text = "A moderator reviewed your post and published it."
    notify.notify(post.author_id, "moderation", post_id=post.id, text=text)
    db.session.commit()
    processing.follow_visibility(post)


def close_report(report: Report, moderator: User, reason: str = "") -> None:
    reason = _reason(reason, required=False)
    if report.status != ReportStatus.OPEN:
        raise ModerationError("This report is already closed.", 409)
    report.status = ReportStatus.CLOSED
    audit(moderator, "close-report", "report", report.id, reason)
    db.session.commit()


# --- appeals -----------------------------------------------------------------------------------


def can_appeal(post: Post) -> bool:
    return post.state in (PostState.HELD, PostState.REJECTED)


def submit_appeal(post: Post, author: User, message: str, uploads: list, limits) -> dict:
    """Appeal a held or rejected post with a message and optional process images (sketches,
    layers, WIP), stored privately like originals. Returns errors by field; all or nothing."""
    message = (message or "").strip()
    errors: dict[str, list[str]] = {}
    if not can_appeal(post):
        errors["message"] = ["Only a held or rejected post can be appealed."]
    elif open_appeal(post) is not None:
        errors["message"] = ["This post already has an appeal waiting for a moderator."]
    elif not message:
        errors["message"] = ["Tell the moderators how you made this work."]
    elif len(message) > APPEAL_MAX:
        errors["message"] = [f"Use at most {APPEAL_MAX:,} characters ({len(message):,} now)."]
    if len(uploads) > APPEAL_IMAGES_MAX:
        errors["images"] = [f"Add at most {APPEAL_IMAGES_MAX} images."]
    checked = []
    for upload in uploads[:APPEAL_IMAGES_MAX]:
        try:
            checked.append((upload, imaging.inspect_upload(upload.data, upload.filename, limits)))
        except imaging.UploadError as exc:
            errors.setdefault("images", []).append(str(exc))
    if errors:
        return errors
    # Stored as done at once: evidence is never processed into public derivatives.
    evidence = [
        drafts.store_original(author.id, upload, info, state=MediaState.DONE)
        for upload, info in checked
    ]
    db.session.add_all(evidence)
    db.session.flush()
    appeal = Appeal(
        post_id=post.id,
        author_id=author.id,
        message=message,
        evidence_media_ids=[m.id for m in evidence],
    )
    db.session.add(appeal)
    db.session.flush()
    audit(author, "appeal", "post", post.id, message)
    db.session.commit()
    return {}


def evidence_media(appeal: Appeal, media_id: int) -> Media | None:
    """One of the appeal's process images, or None."""
    if media_id not in (appeal.evidence_media_ids or []):
        return None
    return db.session.get(Media, media_id)


def evidence_preview(media: Media) -> bytes | None:
    """An appeal image for moderators: decoded and re-encoded (WebP, no metadata), so the
    uploaded bytes themselves are never served. None when the file is gone or unreadable."""
    try:
        with storage.original_file(media.original_path) as path:
            img, _, _ = imaging.load_oriented(path, PREVIEW_SIDE)
    except (OSError, ValueError):  # deleted with the account, or damaged on disk
        return None
    img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "PA", "P") else "RGB")
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=85)
    return buf.getvalue()


# Deleting a post (or an account) takes the process images of its appeals along: the rows in
# the same transaction, the files once it commits (as drafts.delete does for the post's own).
_DOOMED = "cara.appeal_files"


@event.listens_for(Post, "before_delete")
def _forget_appeal_images(mapper, connection, post: Post) -> None:
    # Before: the database's ON DELETE CASCADE removes the appeals with the post.
    lists = connection.scalars(select(Appeal.evidence_media_ids).where(Appeal.post_id == post.id))
    ids = [media_id for ids in lists for media_id in ids or []]
    if not ids:
        return
    rows = connection.execute(select(Media.id, Media.original_path).where(Media.id.in_(ids)))
    object_session(post).info.setdefault(_DOOMED, []).extend(rows.all())
    connection.execute(delete(Media).where(Media.id.in_(ids)))


@event.listens_for(Session, "after_commit")
def _delete_appeal_files(session: Session) -> None:
    for media_id, original in session.info.pop(_DOOMED, []):
        storage.delete_media_files(media_id, original)


@event.listens_for(Session, "after_rollback")
def _keep_appeal_files(session: Session) -> None:
    session.info.pop(_DOOMED, None)
