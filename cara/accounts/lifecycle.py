"""Leaving with your data: the export archive (a zip built by a job) and account deletion
(hidden at once, purged by an idempotent job that the sweeper finishes after a crash)."""

import json
import logging
import re
import secrets
import zipfile
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, delete, or_, select, update

from cara.accounts import auth
from cara.core import policy, storage, tasks, text
from cara.core.extensions import db
from cara.core.models import (
    Appeal,
    Block,
    Bookmark,
    Comment,
    EmailChange,
    Export,
    ExportState,
    Follow,
    Job,
    Like,
    Media,
    Mute,
    Notification,
    Post,
    Report,
    Repost,
    User,
)
from cara.posting import drafts
from cara.social import actions, notify

log = logging.getLogger(__name__)

# --- export ----------------------------------------------------------------------------------


def latest_export(user: User) -> Export | None:
    return db.session.scalar(
        select(Export).where(Export.user_id == user.id).order_by(Export.id.desc()).limit(1)
    )


def request_export(user: User) -> tuple[Export | None, str]:
    """Start building an archive; returns (export, "") or (None, why not yet)."""
    last = latest_export(user)
    if last is not None and last.state == ExportState.PENDING:
        return last, ""  # already being built: asking twice is not an error
    cooldown = timedelta(seconds=current_app.config["EXPORT_COOLDOWN_SECONDS"])
    # A failed export does not count: asking again at once is the way to retry it.
    if last is not None and last.state != ExportState.FAILED:
        again = last.created_at + cooldown
        if tasks.now() < again:
            return None, f"You asked for an export recently. Ask again after {_when(again)}."
    row = Export(user_id=user.id, filename=f"{secrets.token_urlsafe(18)}.zip")
    db.session.add(row)
    db.session.commit()
    tasks.enqueue(build_export, row.id, low=True)
    return row, ""


def build_export(export_id: int) -> None:
    """The job: write the zip, mark the export ready, tell its owner. Runs again harmlessly."""
    row = db.session.get(Export, export_id)
    if row is None or row.state != ExportState.PENDING:
        return
    user = db.session.get(User, row.user_id)
    path = storage.export_path(row.filename)
    partial = path.with_name(path.name + ".part")  # a crash leaves only this, rewritten on retry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in export_documents(user).items():
                archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False))
            for media in _owned_media(user):
                # Images are compressed already: store them as they are.
                data = storage.original_bytes(media.original_path)
                archive.writestr(_archive_name(media), data, zipfile.ZIP_STORED)
        partial.chmod(0o600)
        partial.replace(path)
    except OSError:
        log.exception("export %s failed", export_id)
        partial.unlink(missing_ok=True)
        row.state = ExportState.FAILED
        db.session.commit()
        return
    ttl = timedelta(seconds=current_app.config["EXPORT_EXPIRY_SECONDS"])
    row.state, row.size, row.expires_at = ExportState.READY, path.stat().st_size, tasks.now() + ttl
    until = _when(row.expires_at)
    notify.notify(user.id, "export", text=f"Your data export is ready until {until}.")
    db.session.commit()


def export_documents(user: User) -> dict[str, object]:
    """Everything the account made or chose, as JSON documents by file name in the archive."""
    posts = db.session.scalars(select(Post).where(Post.author_id == user.id).order_by(Post.id))
    return {
        "profile.json": {
            "username": user.username,
            "email": user.email,
            "display_name": user.display_name,
            "bio": user.bio,
            "links": user.links,
            "created_at": user.created_at.isoformat(),
            "is_private": user.is_private,
            "licence": user.licence,
            "data_mining": user.data_mining,
            "avatar": _archive_name(db.session.get(Media, user.avatar_media_id))
            if user.avatar_media_id
            else None,
            "banner": _archive_name(db.session.get(Media, user.banner_media_id))
            if user.banner_media_id
            else None,
        },
        "posts.json": [
            {
                "id": p.id,
                "url": _post_url(p.id),
                "state": p.state.value,
                "visibility": p.visibility.value,
                "caption": p.caption,
                "tags": [t.name for t in p.tags],
                "mature": p.mature,
                "created_at": p.created_at.isoformat(),
                "published_at": p.published_at.isoformat() if p.published_at else None,
                "images": [
                    {
                        "file": _archive_name(m),
                        "alt_text": m.alt_text,
                        "original_name": m.original_name,
                        "sha256": m.sha256,
                    }
                    for m in p.media
                ],
            }
            for p in posts
        ],
        "comments.json": [
            {
                "post_url": _post_url(c.post_id),
                "reply_to": c.parent_id,
                "id": c.id,
                "body": c.body,
                "created_at": c.created_at.isoformat(),
            }
            for c in _rows(Comment, Comment.author_id == user.id)
        ],
        "likes.json": _post_marks(Like, user),
        "bookmarks.json": _post_marks(Bookmark, user),
        "follows.json": {
            "following": _people(Follow.followee_id, Follow.follower_id == user.id),
            "followers": _people(Follow.follower_id, Follow.followee_id == user.id),
        },
        "blocks.json": {
            "blocked": _people(Block.blocked_id, Block.blocker_id == user.id),
            "muted": _people(Mute.muted_id, Mute.muter_id == user.id),
        },
        "reports.json": [
            {
                "subject": r.subject_kind,
                "subject_id": r.subject_id,
                "reason": r.reason,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
            }
            for r in _rows(Report, Report.reporter_id == user.id)
        ],
    }


def _rows(model, where):
    return db.session.scalars(select(model).where(where).order_by(model.created_at))


def _post_marks(model, user: User) -> list[dict]:
    return [
        {"post_url": _post_url(row.post_id), "created_at": row.created_at.isoformat()}
        for row in _rows(model, model.user_id == user.id)
    ]


def _people(other_id, where) -> list[dict]:
    """Usernames at the other end of the user's follows, blocks or mutes, with the date."""
    table = other_id.class_
    stmt = (
        select(User.username, table.created_at)
        .join(table, other_id == User.id)
        .where(where)
        .order_by(table.created_at)
    )
    return [{"username": name, "since": at.isoformat()} for name, at in db.session.execute(stmt)]


def _owned_media(user: User):
    """Every image the account uploaded: post images, drafts, avatars, appeal evidence."""
    return db.session.scalars(select(Media).where(Media.owner_id == user.id).order_by(Media.id))


def _archive_name(media: Media) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", media.original_name).strip("._")[:80] or "image"
    folder = f"post-{media.post_id}" if media.post_id else "other"
    return f"originals/{folder}/{media.id}-{stem}"


def _post_url(post_id: int) -> str:
    return text.site_url(f"/posts/{post_id}")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cara-export")


def download_token(row: Export) -> str:
    """The signed part of an export's download link (the link also needs the owner logged in)."""
    return _signer().dumps(row.id)


def export_for_download(viewer: User, token: str) -> tuple[Export | None, str]:
    """The export a link names, if `viewer` may download it now: (export, "") or
    (None, "missing" | "expired")."""
    try:
        export_id = _signer().loads(token)
    except BadSignature:
        return None, "missing"
    row = db.session.get(Export, export_id) if isinstance(export_id, int) else None
    if row is None or not policy.can_view(viewer, row):
        return None, "missing"
    if row.state == ExportState.EXPIRED or (row.expires_at and row.expires_at <= tasks.now()):
        return None, "expired"
    if row.state != ExportState.READY:
        return None, "missing"
    return row, ""


@tasks.sweeper
def sweep_exports() -> int:
    """Remove the files of expired exports; re-enqueue exports whose job died."""
    now = tasks.now()
    for row in db.session.scalars(
        select(Export).where(Export.state == ExportState.READY, Export.expires_at <= now)
    ):
        _remove_export_files(row)
        row.state = ExportState.EXPIRED
    db.session.commit()
    stuck = db.session.scalars(
        select(Export.id).where(
            Export.state == ExportState.PENDING, Export.created_at <= now - tasks.lease()
        )
    ).all()
    for export_id in stuck:
        tasks.enqueue(build_export, export_id, low=True)
    return len(stuck)


def _remove_export_files(row: Export) -> None:
    path = storage.export_path(row.filename)
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".part").unlink(missing_ok=True)


# --- deletion --------------------------------------------------------------------------------


def delete_account(user: User, password: str) -> dict[str, list[str]]:
    """Mark the account deleted (hidden from everyone from now on), end its sessions, and
    enqueue the purge of its files and rows. Returns errors by field."""
    if not user.check_password(password):
        return {"password": ["That is not your password."]}
    remove(user)
    return {}


def remove(user: User) -> None:
    """Delete an account without asking again (its owner confirmed, or an admin refused it
    while it waited for approval): hidden at once, sessions ended, the purge enqueued."""
    user.deleted_at = tasks.now()
    auth.revoke_sessions(user)  # commits
    tasks.enqueue(purge, user.id, low=True)


def purge(user_id: int) -> None:
    """Remove a deleted account's files and rows, keeping a tombstone that holds the username.

    Each step commits and only looks at what is left, so a purge cut short by a crash is
    finished by running it again (the sweeper does).
    """
    if not _claim_purge(user_id):
        return  # purged already, or another worker holds the purge
    with tasks.keep_leased(lambda: _lease_purge(user_id)):
        _purge(db.session.get(User, user_id))


def _purge_pending():
    return and_(User.deleted_at.is_not(None), User.purged_at.is_(None))


def _lease_purge(user_id: int, *, unless_held: bool = False) -> int:
    """Take (or extend) the purge's lease; with `unless_held`, only if none is held now."""
    t = tasks.now()
    stmt = update(User).where(User.id == user_id, _purge_pending())
    if unless_held:
        stmt = stmt.where(or_(User.purge_lease_until.is_(None), User.purge_lease_until < t))
    stmt = stmt.values(purge_lease_until=t + tasks.lease())
    return db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def _claim_purge(user_id: int) -> bool:
    """Atomically take the purge of this account: one worker at a time."""
    claimed = _lease_purge(user_id, unless_held=True) == 1
    db.session.commit()
    return claimed


def _purge(user: User) -> None:
    # Files go before their rows: a crash in between leaves rows to find again, never files
    # that nothing points to.
    for media in _owned_media(user).all():
        storage.delete_media_files(media.id, media.original_path)
    for post in db.session.scalars(select(Post).where(Post.author_id == user.id)).all():
        drafts.delete(post)
    user.avatar_media_id = user.banner_media_id = None
    db.session.execute(delete(Media).where(Media.owner_id == user.id))  # avatars, evidence
    db.session.commit()
    for row in db.session.scalars(select(Export).where(Export.user_id == user.id)).all():
        _remove_export_files(row)
        db.session.delete(row)
        db.session.commit()
    # What the account did to others' posts, undone through the actions that keep counts right.
    for model, undo in ((Like, actions.unlike), (Repost, actions.unrepost)):
        for post in db.session.scalars(select(Post).join(model).where(model.user_id == user.id)):
            undo(user, post)
    # One at a time: deleting a comment also deletes its replies, some of them the user's.
    mine = select(Comment).filter_by(author_id=user.id).limit(1)
    while (row := db.session.scalar(mine)) is not None:
        actions.delete_comment(row)
    me = user.id
    heard = select(Notification.user_id).where(Notification.actor_id == me).distinct()
    notify.changed(me, *db.session.scalars(heard))  # their unread counts drop
    for stmt in (
        delete(Bookmark).where(Bookmark.user_id == me),
        delete(Follow).where(or_(Follow.follower_id == me, Follow.followee_id == me)),
        delete(Block).where(or_(Block.blocker_id == me, Block.blocked_id == me)),
        delete(Mute).where(or_(Mute.muter_id == me, Mute.muted_id == me)),
        delete(Notification).where(or_(Notification.user_id == me, Notification.actor_id == me)),
        delete(Job).where(Job.owner_id == me),
        delete(Appeal).where(Appeal.author_id == me),
        delete(EmailChange).where(EmailChange.user_id == me),
        # Reports stay for the moderators, without their author.
        update(Report).where(Report.reporter_id == me).values(reporter_id=None),
    ):
        db.session.execute(stmt)
    user.email = f"deleted-{me}@deleted.invalid"  # frees the address for a new account
    user.password_hash = "!"  # matches no password
    user.display_name, user.bio, user.links = "", "", []
    user.purged_at = tasks.now()
    db.session.commit()


@tasks.sweeper
def sweep_deletions() -> int:
    """Re-enqueue purges of deleted accounts that did not finish (a crash, a Redis outage) and
    that no worker holds (their lease lapsed)."""
    stuck = db.session.scalars(
        select(User.id).where(
            _purge_pending(),
            User.deleted_at <= tasks.now() - tasks.lease(),
            or_(User.purge_lease_until.is_(None), User.purge_lease_until < tasks.now()),
        )
    ).all()
    for user_id in stuck:
        tasks.enqueue(purge, user_id, low=True)
    return len(stuck)
