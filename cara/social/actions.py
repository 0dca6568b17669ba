"""Social actions as idempotent set/unset functions (never blind toggles).

Each returns whether it changed anything, commits, and notifies whom it concerns.
"""

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from cara.core import pagination, policy
from cara.core.extensions import db
from cara.core.models import (
    Block,
    Bookmark,
    Comment,
    Follow,
    Like,
    Mute,
    Post,
    RemoteComment,
    Report,
    ReportStatus,
    Repost,
    User,
    count,
    utcnow,
)
from cara.social.notify import mention_targets, mentioned, notify, withdraw

COMMENT_MAX = 1000
REPORT_DETAILS_MAX = 1000
LIST_PAGE = 50
REPORT_REASONS = {
    "ai": "AI-generated or AI-assisted",
    "stolen": "Stolen, traced or reposted without credit",
    "spam": "Spam or scam",
    "harassment": "Harassment or hate",
    "mature": "Mature content not marked as mature",
    "other": "Something else",
}
REPORT_SUBJECTS = {"post", "comment", "user", "job", "remote_comment", "remote_actor"}


def _add_once(row) -> bool:
    """Insert a row whose primary key says "already done"; False when it already exists."""
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent request did it first
        db.session.rollback()
        return False
    return True


def _bump(post_id: int, column, delta: int) -> None:
    """Move a post's counter in SQL (no lost updates), never below zero."""
    value = case((column + delta < 0, 0), else_=column + delta)
    db.session.execute(update(Post).where(Post.id == post_id).values({column.key: value}))


# --- follows ---------------------------------------------------------------------------------


def follow(follower: User, followee: User) -> Follow | None:
    """Follow (a request when the account is private). Idempotent."""
    if follower.id == followee.id or policy.blocked(follower.id, followee.id):
        return None
    existing = db.session.get(Follow, (follower.id, followee.id))
    if existing:
        return existing
    row = Follow(follower_id=follower.id, followee_id=followee.id, pending=followee.is_private)
    if not _add_once(row):
        return db.session.get(Follow, (follower.id, followee.id))
    notify(followee.id, "follow_request" if row.pending else "follow", actor_id=follower.id)
    db.session.commit()
    return row


def unfollow(follower: User, followee: User) -> bool:
    """Stop following, or cancel a request."""
    row = db.session.get(Follow, (follower.id, followee.id))
    if row is None:
        return False
    withdraw(followee.id, "follow_request" if row.pending else "follow", follower.id)
    db.session.delete(row)
    db.session.commit()
    return True


def answer_request(owner: User, follower: User, approve: bool) -> bool:
    """Approve or deny a follow request to a private account."""
    row = db.session.get(Follow, (follower.id, owner.id))
    if row is None or not row.pending:
        return False
    withdraw(owner.id, "follow_request", follower.id)
    if approve:
        row.pending = False
        notify(follower.id, "follow_accepted", actor_id=owner.id)
    else:
        db.session.delete(row)
    db.session.commit()
    return True


def relation(viewer, user: User) -> dict[str, bool]:
    """How the viewer stands towards `user`: following, requested, muted, blocked."""
    viewer = policy.signed_in(viewer)
    state = dict.fromkeys(("following", "requested", "muted", "blocked"), False)
    if viewer is None or viewer.id == user.id:
        return state
    row = db.session.get(Follow, (viewer.id, user.id))
    state["following"] = row is not None and not row.pending
    state["requested"] = row is not None and row.pending
    state["muted"] = db.session.get(Mute, (viewer.id, user.id)) is not None
    state["blocked"] = db.session.get(Block, (viewer.id, user.id)) is not None
    return state


def follow_counts(user: User) -> dict[str, int]:
    """Approved followers and followings of a user."""
    followers = select(Follow).where(Follow.followee_id == user.id, Follow.pending.is_(False))
    following = select(Follow).where(Follow.follower_id == user.id, Follow.pending.is_(False))
    return {"followers": count(followers), "following": count(following)}


# --- blocks and mutes ------------------------------------------------------------------------


def block(blocker: User, blocked: User) -> bool:
    """Block: each is hidden from the other, and follows (and requests) end both ways."""
    if blocker.id == blocked.id or not _add_once(
        Block(blocker_id=blocker.id, blocked_id=blocked.id)
    ):
        return False
    db.session.execute(
        delete(Follow).where(
            or_(
                and_(Follow.follower_id == blocker.id, Follow.followee_id == blocked.id),
                and_(Follow.follower_id == blocked.id, Follow.followee_id == blocker.id),
            )
        )
    )
    db.session.commit()
    return True


def unblock(blocker: User, blocked: User) -> bool:
    return _remove(delete(Block).filter_by(blocker_id=blocker.id, blocked_id=blocked.id))


def mute(muter: User, muted: User) -> bool:
    """Mute: their posts, comments and notifications are hidden from me only."""
    if muter.id == muted.id or not _add_once(Mute(muter_id=muter.id, muted_id=muted.id)):
        return False
    db.session.commit()
    return True


def unmute(muter: User, muted: User) -> bool:
    return _remove(delete(Mute).filter_by(muter_id=muter.id, muted_id=muted.id))


def _remove(stmt) -> bool:
    changed = db.session.execute(stmt).rowcount > 0
    db.session.commit()
    return changed


def blocked_and_muted(user: User) -> dict[str, list[User]]:
    """The accounts a user blocked and muted, to undo it (their profiles are hidden)."""
    blocked = (
        select(User).join(Block, Block.blocked_id == User.id).where(Block.blocker_id == user.id)
    )
    muted = select(User).join(Mute, Mute.muted_id == User.id).where(Mute.muter_id == user.id)
    return {
        "blocked": list(db.session.scalars(blocked.order_by(User.username))),
        "muted": list(db.session.scalars(muted.order_by(User.username))),
    }


# --- likes, reposts, bookmarks ---------------------------------------------------------------


def like(user: User, post: Post) -> bool:
    """Like a post; returns False if it was already liked."""
    if not _add_once(Like(user_id=user.id, post_id=post.id)):
        return False
    _bump(post.id, Post.like_count, 1)
    notify(post.author_id, "like", actor_id=user.id, post_id=post.id)
    db.session.commit()
    return True


def unlike(user: User, post: Post) -> bool:
    if not db.session.execute(delete(Like).filter_by(user_id=user.id, post_id=post.id)).rowcount:
        return False
    _bump(post.id, Post.like_count, -1)
    withdraw(post.author_id, "like", user.id, post.id)
    db.session.commit()
    return True


def repost(user: User, post: Post) -> bool:
    if not _add_once(Repost(user_id=user.id, post_id=post.id)):
        return False
    _bump(post.id, Post.repost_count, 1)
    notify(post.author_id, "repost", actor_id=user.id, post_id=post.id)
    db.session.commit()
    return True


def unrepost(user: User, post: Post) -> bool:
    if not db.session.execute(delete(Repost).filter_by(user_id=user.id, post_id=post.id)).rowcount:
        return False
    _bump(post.id, Post.repost_count, -1)
    withdraw(post.author_id, "repost", user.id, post.id)
    db.session.commit()
    return True


def bookmark(user: User, post: Post) -> bool:
    """Bookmarks are private: nobody is told."""
    if not _add_once(Bookmark(user_id=user.id, post_id=post.id)):
        return False
    db.session.commit()
    return True


def unbookmark(user: User, post: Post) -> bool:
    return _remove(delete(Bookmark).filter_by(user_id=user.id, post_id=post.id))


# --- comments --------------------------------------------------------------------------------


def comment(author: User, post: Post, body: str, parent: Comment | None = None):
    """Add a comment (a reply when `parent` is given); returns (comment, errors).

    Replies are one level deep: a reply to a reply joins its thread.
    """
    body = body.strip()
    if not body:
        return None, ["Write something first."]
    if len(body) > COMMENT_MAX:
        return None, [f"Use at most {COMMENT_MAX:,} characters ({len(body):,} now)."]
    if parent is not None and parent.post_id != post.id:
        return None, ["That comment is not on this post."]
    if parent is not None and parent.parent_id is not None:
        parent = db.session.get(Comment, parent.parent_id)
    if policy.blocked(author.id, post.author_id) or (
        parent and policy.blocked(author.id, parent.author_id)
    ):
        return None, ["You cannot comment here."]
    row = Comment(post_id=post.id, author_id=author.id, body=body, parent_id=parent and parent.id)
    db.session.add(row)
    db.session.flush()
    _bump(post.id, Post.comment_count, 1)
    told = {author.id}
    if parent is not None and parent.author_id not in told:
        notify(parent.author_id, "reply", author.id, post.id, row.id)
        told.add(parent.author_id)
    if post.author_id not in told:
        notify(post.author_id, "comment", author.id, post.id, row.id)
        told.add(post.author_id)
    for user_id in mention_targets(author.id, mentioned(body), post):
        if user_id not in told:
            notify(user_id, "mention", author.id, post.id, row.id)
    db.session.commit()
    return row, []


def delete_comment(row: Comment) -> None:
    """Delete a comment and its replies."""
    replies = count(select(Comment).where(Comment.parent_id == row.id))
    post_id = row.post_id
    db.session.delete(row)
    db.session.flush()
    _bump(post_id, Post.comment_count, -(1 + replies))
    db.session.commit()


def hide_remote_comment(row: RemoteComment, by: str, reason: str = "") -> None:
    """Take a reply from elsewhere off its post for good (by: artist, moderator): shown to
    nobody, out of the count, and kept so that a redelivery or an Update of the same Note does
    not bring it back. Not committed."""
    if row.removed_at is not None:
        return
    if row.audience == "public":  # only public replies are counted
        _bump(row.post_id, Post.comment_count, -1)
    row.removed_at, row.removed_by, row.removed_reason = utcnow(), by, reason


@dataclass
class Thread:
    comment: Comment
    replies: list[Comment]


def comments(viewer, post: Post) -> list[Thread]:
    """The post's comments, oldest first, replies under their comment; without the authors the
    viewer blocked, is blocked by, or muted, and without removed ones (policy.visible_comments)."""
    stmt = (
        select(Comment)
        .join(Comment.author)
        .options(contains_eager(Comment.author))
        .where(Comment.post_id == post.id, *policy.visible_comments(viewer))
    )
    rows = list(db.session.scalars(stmt.order_by(Comment.created_at, Comment.id)))
    threads = {c.id: Thread(c, []) for c in rows if c.parent_id is None}
    for c in rows:
        if c.parent_id in threads:
            threads[c.parent_id].replies.append(c)
    return list(threads.values())


# --- people lists ----------------------------------------------------------------------------


def _people(viewer, stmt, sort, before: str | None, limit: int) -> pagination.Page:
    """A page of users from `stmt` (a select of User), most recent `sort` first."""
    stmt = stmt.where(policy.present(User.id))
    if (viewer := policy.signed_in(viewer)) is not None:
        stmt = stmt.where(User.id.not_in(policy.blocked_either_way(viewer)))
    return pagination.keyset(stmt, (sort, User.id), pagination.time_key(before), limit)


def likers(viewer, post: Post, before: str | None = None, limit: int = LIST_PAGE):
    stmt = select(User).join(Like, Like.user_id == User.id).where(Like.post_id == post.id)
    return _people(viewer, stmt, Like.created_at, before, limit)


def reposters(viewer, post: Post, before: str | None = None, limit: int = LIST_PAGE):
    stmt = select(User).join(Repost, Repost.user_id == User.id).where(Repost.post_id == post.id)
    return _people(viewer, stmt, Repost.created_at, before, limit)


def followers(viewer, user: User, before: str | None = None, limit: int = LIST_PAGE):
    stmt = (
        select(User)
        .join(Follow, Follow.follower_id == User.id)
        .where(Follow.followee_id == user.id, Follow.pending.is_(False))
    )
    return _people(viewer, stmt, Follow.created_at, before, limit)


def followees(viewer, user: User, before: str | None = None, limit: int = LIST_PAGE):
    stmt = (
        select(User)
        .join(Follow, Follow.followee_id == User.id)
        .where(Follow.follower_id == user.id, Follow.pending.is_(False))
    )
    return _people(viewer, stmt, Follow.created_at, before, limit)


def follow_requests(user: User, before: str | None = None, limit: int = LIST_PAGE):
    stmt = (
        select(User)
        .join(Follow, Follow.follower_id == User.id)
        .where(Follow.followee_id == user.id, Follow.pending.is_(True))
    )
    return _people(user, stmt, Follow.created_at, before, limit)


# --- reports ---------------------------------------------------------------------------------


def reported(reporter: User | None, subject: str, subject_id: int, server: str = "") -> bool:
    """True while the reporter's (or, with reporter None, the server's) report about this is
    open."""
    by = {"reporter_domain": server} if reporter is None else {"reporter_id": reporter.id}
    open_report = select(Report.id).filter_by(
        **by, subject_kind=subject, subject_id=subject_id, status=ReportStatus.OPEN
    )
    return db.session.scalar(open_report.limit(1)) is not None


def report(
    reporter: User | None, subject: str, subject_id: int, reason: str, details: str, server=""
):
    """File a report for the moderation queue; returns errors by field (none when filed).
    `reporter` None: another server sent it (`server`, its domain).

    Reporting the same thing again while the first report is open changes nothing.
    """
    details = (details or "").strip()
    errors: dict[str, list[str]] = {}
    if subject not in REPORT_SUBJECTS:
        raise ValueError(f"unknown report subject {subject!r}")
    if (reporter is None) == (not server):
        raise ValueError("a report comes from a person here or from another server")
    if reason not in REPORT_REASONS:
        errors["reason"] = ["Choose a reason."]
    if len(details) > REPORT_DETAILS_MAX:
        errors["details"] = [f"Use at most {REPORT_DETAILS_MAX:,} characters."]
    elif reason == "other" and not details:
        errors["details"] = ["Tell the moderators what is wrong."]
    if errors:
        return errors
    if not reported(reporter, subject, subject_id, server):
        text = REPORT_REASONS[reason] + (f": {details}" if details else "")
        db.session.add(
            Report(
                reporter_id=reporter.id if reporter else None,
                reporter_domain=server,
                subject_kind=subject,
                subject_id=subject_id,
                reason=text,
            )
        )
        db.session.commit()
    return {}
