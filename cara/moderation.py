"""Moderation: the review queue, confirm or clear, appeals, reports, removals, warnings,
suspensions and notes on accounts; every moderator and admin action audited.

Confirm AI: the post is rejected and its flagged images (all of them when none was flagged,
e.g. after a report) join the known-hash list. Clear: the post is published and its flagged
images join the allow list. Remove: the post, comment or job breaks a rule other than "no AI";
it is hidden, and nothing joins any hash list. The person is told each decision and its reason.
"""

import io
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from PIL import Image
from sqlalchemy import and_, case, delete, event, func, or_, select, update
from sqlalchemy.orm import Session, object_session, selectinload

from cara import imaging
from cara.accounts import auth
from cara.core import mail, pagination, policy, storage, tasks
from cara.core.extensions import db
from cara.core.models import (
    Appeal,
    AppealStatus,
    AuditEntry,
    Comment,
    Job,
    Media,
    MediaState,
    ModeratorNote,
    Post,
    PostState,
    RemoteActor,
    RemoteComment,
    Report,
    ReportStatus,
    Sanction,
    SanctionKind,
    User,
    utcnow,
)
from cara.core.text import site_url
from cara.posting import drafts, known, processing, screening
from cara.social import actions, notify

log = logging.getLogger(__name__)

PAGE_SIZE = 20
REASON_MAX = 2000
APPEAL_MAX = 5000
APPEAL_IMAGES_MAX = 5
PREVIEW_SIDE = 1600  # appeal images are shown to moderators re-encoded, at most this big
NOTE_MAX = 2000
SUSPENSION_DAYS_MAX = 3650  # an end date at most ten years ahead; none: until lifted
QUEUES = ("held", "appeals", "reports", "log")
REPORT_ACTIONS = {  # what a report's form offers, and the flash after it
    "dismiss": "Report dismissed.",
    "remove": "Content removed.",
    "warn": "Warning sent.",
    "suspend": "Account suspended.",
}
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
        people = [e.actor_id for e in entries] + [
            e.subject_id for e in entries if e.subject_kind == "user"
        ]
        return QueuePage(entries, nxt, users=users_by_id(people))
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

    `exists` is False when it is gone; `post_id` is a comment's post; `username` is the
    person it is about (the account, or whoever made the post, comment or job).
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

    def existing(kind: str, key, owner=None, *columns) -> dict[int, tuple]:
        if not (wanted := ids.get(kind)):
            return {}
        stmt = select(key, User.username, *columns)
        if owner is not None:  # the person who made it
            stmt = stmt.join(User, User.id == owner)
        return {row[0]: row[1:] for row in db.session.execute(stmt.where(key.in_(wanted)))}

    def remote(kind: str, key, *columns) -> dict[int, tuple]:
        """People elsewhere have no account here: their @user@domain stands in."""
        if not (wanted := ids.get(kind)):
            return {}
        stmt = select(key, RemoteActor.username, RemoteActor.domain, *columns).where(
            key.in_(wanted)
        )
        if kind == "remote_comment":
            stmt = stmt.join(RemoteActor, RemoteActor.id == RemoteComment.actor_id)
        return {row[0]: (f"@{row[1]}@{row[2]}", *row[3:]) for row in db.session.execute(stmt)}

    found = {
        "post": existing("post", Post.id, Post.author_id),
        "comment": existing("comment", Comment.id, Comment.author_id, Comment.post_id),
        "job": existing("job", Job.id, Job.owner_id),
        "user": existing("user", User.id),
        "remote_comment": remote("remote_comment", RemoteComment.id, RemoteComment.post_id),
        "remote_actor": remote("remote_actor", RemoteActor.id),
    }
    out = {}
    for report in reports:
        kind, sid = report.subject_kind, report.subject_id
        row = found.get(kind, {}).get(sid)
        out[report.id] = _target(kind, sid, row)
    return out


def _target(kind: str, sid: int, row: tuple | None) -> ReportTarget:
    labels = {"remote_comment": "Reply from elsewhere", "remote_actor": "Person elsewhere"}
    label = labels.get(kind, kind.capitalize())
    if row is None:  # deleted
        return ReportTarget(kind, sid, f"{label} {sid}")
    if kind in ("user", "remote_actor"):
        label = row[0] if kind == "remote_actor" else f"@{row[0]}"
    elif kind == "remote_comment":
        label = f"{label} by {row[0]}"
    else:
        label = f"{label} {sid}"
    post_id = row[1] if kind in ("comment", "remote_comment") else None
    return ReportTarget(kind, sid, label, True, post_id, row[0])


# --- what the artist and the moderators are shown ------------------------------------------


def open_appeal(post: Post) -> Appeal | None:
    stmt = select(Appeal).where(Appeal.post_id == post.id, Appeal.status == AppealStatus.OPEN)
    return db.session.scalar(stmt.limit(1))


# --- decisions ---------------------------------------------------------------------------------


def audit(actor: User | None, action: str, kind: str, subject_id: int, reason: str) -> AuditEntry:
    """Log a moderator's or admin's action (actor None: the command line)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        subject_kind=kind,
        subject_id=subject_id,
        reason=reason,
    )
    db.session.add(entry)
    return entry


def check_reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ModerationError("Give a reason: the person reads it, and it is kept in the log.")
    if len(reason) > REASON_MAX:
        raise ModerationError(f"Use at most {REASON_MAX:,} characters for the reason.")
    return reason


def _check(post: Post, action: str) -> None:
    if post.state not in DECIDABLE[action]:
        raise ModerationError(f"A {post.state.value} post cannot be {action}ed.", 409)


def _may_decide(moderator: User, owner: User | None) -> None:
    """403 unless the policy lets this moderator decide on `owner`'s content or account."""
    if owner is None:
        return
    if moderator.id == owner.id:
        raise ModerationError("You cannot decide on your own content: ask another moderator.", 403)
    if not policy.can_decide(moderator, owner):
        raise ModerationError("Only an admin can decide on a moderator's account or content.", 403)


def _settle_appeals(post: Post, status: str) -> None:
    for appeal in open_appeals_for([post.id]).get(post.id, []):
        appeal.status = status


def confirm_ai(post: Post, moderator: User, reason: str) -> None:
    """Reject the post as AI-made; its images' hashes join the known list (source moderator)."""
    reason = check_reason(reason, required=True)
    _may_decide(moderator, post.author)
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
    reason = check_reason(reason, required=False)
    _may_decide(moderator, post.author)
    _check(post, "clear")
    for media in screening.flagged(post):
        known.allow_image(media, who=moderator)
    post.state = PostState.PUBLISHED
    post.published_at = post.published_at or utcnow()
    _settle_appeals(post, AppealStatus.GRANTED)
    audit(moderator, "clear", "post", post.id, reason)
    text = "A moderator reviewed your post and published it."
    notify.notify(post.author_id, "moderation", post_id=post.id, text=text)
    processing.follow_visibility(post)  # commits: it goes live with its public image names


# --- removal for a rule violation (never the AI list) ---------------------------------------


def _owner(subject) -> User | None:
    """Whose it is here (None: a person elsewhere, or what they said)."""
    if isinstance(subject, RemoteComment | RemoteActor):
        return None
    if isinstance(subject, Post | Comment):
        return subject.author
    return db.session.get(User, subject.owner_id)  # a Job


def _remove(subject, moderator: User, reason: str) -> None:
    """Hide a post, comment or job for breaking a rule and tell its author why (no commit). A
    reply from elsewhere is hidden for good (its author is not here to be told)."""
    if isinstance(subject, RemoteComment):
        if subject.removed_at is not None:
            raise ModerationError("This reply is already removed.", 409)
        actions.hide_remote_comment(subject, "moderator", reason)
        audit(moderator, "remove-remote-comment", "remote_comment", subject.id, reason)
        return
    if isinstance(subject, Post):
        if subject.state == PostState.REMOVED:
            raise ModerationError("This post is already removed.", 409)
        subject.state, subject.removed_reason = PostState.REMOVED, reason
        _settle_appeals(subject, AppealStatus.DENIED)
        what, post_id = "post", subject.id
    else:
        if subject.removed_at is not None:
            raise ModerationError(f"This {_kind(subject)} is already removed.", 409)
        subject.removed_at, subject.removed_reason = utcnow(), reason
        what = "comment" if isinstance(subject, Comment) else f"job opening “{subject.title}”"
        post_id = subject.post_id if isinstance(subject, Comment) else None
        if isinstance(subject, Comment):
            _uncount(subject)
    audit(moderator, f"remove-{_kind(subject)}", _kind(subject), subject.id, reason)
    text = f"A moderator removed your {what} for breaking the rules. Reason: {reason}"
    notify.notify(_owner(subject).id, "moderation", post_id=post_id, text=text)


def _uncount(comment: Comment) -> None:
    """A removed comment (and, under it, its replies) no longer counts on its post."""
    replies = 0
    if comment.parent_id is None:
        replies = db.session.scalar(
            select(func.count(Comment.id)).where(
                Comment.parent_id == comment.id, Comment.removed_at.is_(None)
            )
        )
    hidden = 1 + replies
    count = case((Post.comment_count < hidden, 0), else_=Post.comment_count - hidden)
    db.session.execute(update(Post).where(Post.id == comment.post_id).values(comment_count=count))


def _kind(subject) -> str:
    return {Post: "post", Comment: "comment", Job: "job"}[type(subject)]


def remove(subject, moderator: User, reason: str) -> None:
    """Remove a post, comment, job or reply from elsewhere for a rule violation; the reason is
    sent to its author (when they are here)."""
    reason = check_reason(reason, required=True)
    _may_decide(moderator, _owner(subject))
    _remove(subject, moderator, reason)
    db.session.commit()
    if isinstance(subject, Post):
        processing.follow_visibility(subject)  # its public image names must go


# --- warnings, suspensions, notes ------------------------------------------------------------


def _sanction(user: User, moderator: User, kind, reason: str, text: str, report, **extra) -> None:
    """Record a warning or suspension in the account's history and tell the person (`text`)."""
    report_id = report.id if report else None
    db.session.add(
        Sanction(
            user_id=user.id,
            moderator_id=moderator.id,
            kind=kind,
            reason=reason,
            report_id=report_id,
            **extra,
        )
    )
    notify.notify(user.id, "moderation", text=f"{text} Reason: {reason}")


def _warn(user: User, moderator: User, reason: str, report: Report | None) -> None:
    text = "A moderator warned you about breaking the rules."
    _sanction(user, moderator, SanctionKind.WARNING, reason, text, report)
    audit(moderator, "warn", "user", user.id, reason)


def warn(user: User, moderator: User, reason: str) -> None:
    """Warn the person: a notification with the reason, kept in their history."""
    reason = check_reason(reason, required=True)
    _may_decide(moderator, user)
    _warn(user, moderator, reason, None)
    db.session.commit()


def parse_until(value: str | None) -> datetime | None:
    """A suspension's end date from a form ("YYYY-MM-DD", the start of that day in UTC), or
    None for no end. Raises ModerationError for a bad or past date."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ModerationError("Give the end date as YYYY-MM-DD, or leave it empty.") from None
    today = utcnow().date()
    if day <= today:
        raise ModerationError("The end date must be after today.")
    if day > today + timedelta(days=SUSPENSION_DAYS_MAX):
        raise ModerationError("The end date must be within ten years; leave it empty for none.")
    return datetime.combine(day, time(), UTC)


def _until_text(until: datetime | None) -> str:
    return f"until {until:%-d %B %Y} (UTC)" if until else "until a moderator lifts it"


def _suspend(user: User, moderator: User, reason: str, until, report: Report | None) -> None:
    if user.is_suspended:
        raise ModerationError("This account is already suspended.", 409)
    user.suspended_at, user.suspended_until = utcnow(), until
    text = f"Your account is suspended {_until_text(until)}."
    _sanction(user, moderator, SanctionKind.SUSPENSION, reason, text, report, ends_at=until)
    audit(moderator, "suspend", "user", user.id, f"{reason} ({_until_text(until)})")


def _mail(user: User, subject: str, body: str) -> None:
    """Mail the person; a mail server that fails is logged, the decision stands."""
    try:
        mail.send(user.email, subject, body)
    except (OSError, smtplib.SMTPException):
        log.exception("Could not mail %s about a moderation decision", user.username)


def _mail_suspension(user: User, reason: str) -> None:
    rules = site_url("/about/ai")
    _mail(
        user,
        "Your cara account is suspended",
        f"Hello {user.name},\n\nA moderator suspended your account @{user.username} "
        f"{_until_text(user.suspended_until)}.\n\nReason: {reason}\n\n"
        f"While it is suspended you cannot log in, and your posts, comments and job openings "
        f"are hidden. The rules: {rules}\n",
    )


def suspend(user: User, moderator: User, reason: str, until: str | None = None) -> None:
    """Suspend an account (until `until`, "YYYY-MM-DD", or until lifted): its sessions end at
    once, it cannot log in, and what it made is hidden. The person is notified and mailed."""
    reason = check_reason(reason, required=True)
    _may_decide(moderator, user)
    _suspend(user, moderator, reason, parse_until(until), None)
    auth.revoke_sessions(user)  # commits
    _follow_visibility_of(user)
    _mail_suspension(user, reason)


def _follow_visibility_of(user: User) -> None:
    """A suspension hides (or its lifting shows) everything the account posted: its images
    take the names their new visibility calls for, so no shared cache keeps public copies."""
    for post in db.session.scalars(select(Post).where(Post.author_id == user.id)):
        processing.follow_visibility(post)


def unsuspend(user: User, moderator: User, reason: str = "") -> None:
    """Lift a suspension early; the person is told, and can log in again."""
    reason = check_reason(reason, required=False)
    _may_decide(moderator, user)
    if not user.is_suspended:
        raise ModerationError("This account is not suspended.", 409)
    user.suspended_at = user.suspended_until = None
    db.session.execute(
        update(Sanction)
        .where(
            Sanction.user_id == user.id,
            Sanction.kind == SanctionKind.SUSPENSION,
            Sanction.lifted_at.is_(None),
        )
        .values(lifted_at=utcnow())
    )
    audit(moderator, "unsuspend", "user", user.id, reason)
    notify.notify(user.id, "moderation", text="A moderator lifted the suspension of your account.")
    db.session.commit()
    _follow_visibility_of(user)
    _mail(user, "Your cara account is active again", "A moderator lifted your suspension.\n")


@tasks.sweeper
def sweep_lapsed_suspensions() -> int:
    """Suspensions whose end date has passed: the account is active again by itself, and its
    images take the public names they lost when it was suspended (until then they are served
    as `private, no-store`). Returns how many accounts were reinstated."""
    lapsed = db.session.scalars(
        select(User).where(
            User.suspended_at.is_not(None),
            User.suspended_until.is_not(None),
            User.suspended_until <= utcnow(),
        )
    ).all()
    for user in lapsed:
        user.suspended_at = user.suspended_until = None
        db.session.commit()
        _follow_visibility_of(user)
    return len(lapsed)


def suspension_notice(user: User) -> str:
    """What a suspended person reads when they try to log in."""
    return f"This account is suspended {_until_text(user.suspended_until)}. You cannot log in."


def add_note(user: User, moderator: User, body: str) -> None:
    """A note on an account for the other moderators (never shown to the person)."""
    body = (body or "").strip()
    if not body:
        raise ModerationError("Write the note first.")
    if len(body) > NOTE_MAX:
        raise ModerationError(f"Use at most {NOTE_MAX:,} characters ({len(body):,} now).")
    if moderator.id == user.id:
        raise ModerationError("You cannot write notes on your own account.", 403)
    db.session.add(ModeratorNote(user_id=user.id, author_id=moderator.id, body=body))
    audit(moderator, "note", "user", user.id, "")
    db.session.commit()


# --- reports -----------------------------------------------------------------------------------


def report_subject(report: Report):
    """The reported post, comment, job or user, or None when it is gone."""
    model = {
        "post": Post,
        "comment": Comment,
        "job": Job,
        "user": User,
        "remote_comment": RemoteComment,
        "remote_actor": RemoteActor,
    }.get(report.subject_kind)
    return db.session.get(model, report.subject_id) if model else None


def resolve_report(
    report: Report, moderator: User, action: str, reason: str = "", until: str | None = None
) -> None:
    """Act on a report: dismiss it, remove the content, warn or suspend the person. Every open
    report about the same subject is closed with it, and each reporter is told it was handled
    (never how). A reason is required when a person is told it."""
    if action not in REPORT_ACTIONS:
        raise ModerationError("Choose what to do: dismiss, remove, warn or suspend.")
    reason = check_reason(reason, required=action != "dismiss")
    if report.status != ReportStatus.OPEN:
        raise ModerationError("This report is already closed.", 409)
    subject = report_subject(report)
    person = subject if isinstance(subject, User) else subject and _owner(subject)
    _may_decide(moderator, person)
    if action != "dismiss" and subject is None:
        raise ModerationError("What was reported is gone: dismiss the report.", 409)
    if isinstance(subject, RemoteComment | RemoteActor) and action in ("warn", "suspend"):
        raise ModerationError("A person on another server has no account here to warn or suspend.")
    if action == "remove":
        if isinstance(subject, RemoteActor):
            raise ModerationError(
                "A person elsewhere cannot be removed: dismiss the report, or ask an admin to "
                "block their server.",
                409,
            )
        if person is subject:
            raise ModerationError("An account cannot be removed: warn or suspend it.", 409)
        _remove(subject, moderator, reason)
    elif action == "warn":
        _warn(person, moderator, reason, report)
    elif action == "suspend":
        _suspend(person, moderator, reason, parse_until(until), report)
    _close_reports(report, moderator, action, reason)
    if action == "suspend":
        auth.revoke_sessions(person)  # commits
        _follow_visibility_of(person)
        _mail_suspension(person, reason)
    else:
        db.session.commit()
        if action == "remove" and isinstance(subject, Post):
            processing.follow_visibility(subject)


def _close_reports(report: Report, moderator: User, action: str, reason: str) -> None:
    same = select(Report).where(
        Report.subject_kind == report.subject_kind,
        Report.subject_id == report.subject_id,
        Report.status == ReportStatus.OPEN,
    )
    told = set()
    for row in db.session.scalars(same):
        row.status = ReportStatus.CLOSED
        logged = reason if action == "dismiss" else f"{action} (report {report.id})"
        audit(moderator, "close-report", "report", row.id, logged)
        if row.reporter_id is not None and row.reporter_id not in told:
            told.add(row.reporter_id)
            text = "Thank you for your report: the moderators have reviewed it."
            notify.notify(row.reporter_id, "moderation", text=text)


def close_report(report: Report, moderator: User, reason: str = "") -> None:
    """Dismiss a report (the reporter is told it was reviewed)."""
    resolve_report(report, moderator, "dismiss", reason)


# --- audited admin and moderator actions elsewhere ---------------------------------------------


def delete_comment(row: Comment, moderator: User) -> None:
    """A moderator deletes someone's comment: the log keeps who, whose and what it said."""
    author = row.author
    audit(moderator, "delete-comment", "comment", row.id, f"@{author.username}: {row.body[:500]}")
    actions.delete_comment(row)  # commits


def import_hashes(data: bytes, filename: str, fmt, *, trusted: bool, note: str, who) -> int:
    """known.import_list, logged (`who` None: the command line)."""
    count = known.import_list(data, filename, fmt, trusted=trusted, note=note, who=who)
    trust = "trusted" if trusted else "untrusted"
    detail = f"{count} {trust} hashes from {filename or 'an upload'}" + (
        f": {note}" if note else ""
    )
    audit(who, "import-hashes", "hash-list", count, detail)
    db.session.commit()
    return count


# --- the account page ------------------------------------------------------------------------


@dataclass
class Account:
    """What /moderation/users/<name> shows about one person."""

    user: User
    notes: list[ModeratorNote]
    sanctions: list[Sanction]
    reports: list[Report]  # open reports about them or anything they made
    log: list[AuditEntry]  # actions about the account itself, newest first
    users: dict[int, User]  # note authors, moderators, reporters


def _about(user: User):
    """WHERE clause on Report: about the user or anything they made."""
    made = {
        "post": select(Post.id).where(Post.author_id == user.id),
        "comment": select(Comment.id).where(Comment.author_id == user.id),
        "job": select(Job.id).where(Job.owner_id == user.id),
    }
    return or_(
        and_(Report.subject_kind == "user", Report.subject_id == user.id),
        *(and_(Report.subject_kind == k, Report.subject_id.in_(ids)) for k, ids in made.items()),
    )


def account(user: User) -> Account:
    """One person's moderation history: notes, warnings and suspensions, open reports, log."""
    notes = list(
        db.session.scalars(
            select(ModeratorNote)
            .where(ModeratorNote.user_id == user.id)
            .order_by(ModeratorNote.id.desc())
        )
    )
    sanctions = list(
        db.session.scalars(
            select(Sanction).where(Sanction.user_id == user.id).order_by(Sanction.id.desc())
        )
    )
    reports = list(
        db.session.scalars(
            select(Report)
            .where(Report.status == ReportStatus.OPEN, _about(user))
            .order_by(Report.id)
        )
    )
    entries = list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_kind == "user", AuditEntry.subject_id == user.id)
            .order_by(AuditEntry.id.desc())
            .limit(PAGE_SIZE)
        )
    )
    ids = [n.author_id for n in notes] + [s.moderator_id for s in sanctions]
    ids += [r.reporter_id for r in reports] + [e.actor_id for e in entries]
    return Account(user, notes, sanctions, reports, entries, users_by_id(ids))


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
