"""Social actions: POST forms that work without JavaScript (303 back) and swap in place with htmx.

Every action is an idempotent set or unset (like/unlike, follow/unfollow, ...), never a toggle.
"""

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from cara.core import policy
from cara.core.extensions import db
from cara.core.models import Comment, Job, Post, User
from cara.core.policy import can_change, can_follow, can_interact, can_repost, can_view, repostable
from cara.social import actions, feeds
from cara.web.htmx import render, wants_fragment

bp = Blueprint("social", __name__)


@bp.record_once
def _globals(state):
    state.app.jinja_env.globals.update(
        social=actions,
        repostable=repostable,
        can_change=can_change,
        report_reasons=actions.REPORT_REASONS,
    )


# --- helpers ---------------------------------------------------------------------------------


def _safe(target: str | None) -> str | None:
    """A path on this site, or None: never redirect off-site."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc) and (
        parts.scheme not in ("http", "https") or parts.netloc != request.host
    ):
        return None
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _back(default: str) -> str:
    """Where a plain form post returns: `next`, else the referring page, else `default`."""
    return _safe(request.form.get("next")) or _safe(request.referrer) or default


def _done(target: str, template: str, block: str, default: str, **context):
    """htmx asking for `target`: the re-rendered partial. Otherwise: 303 back to the page."""
    if wants_fragment(target):
        return render(template, {target: block}, next_url=_back(default), **context)
    return redirect(_back(default), 303)


def _post(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None or not can_view(current_user, post):
        abort(404)
    return post


def _user(username: str, *, visible: bool = True) -> User:
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or (visible and not can_view(current_user, user)):
        abort(404)
    return user


def _is_id(text: str) -> bool:
    """Digits that fit the database's ids (a longer number would overflow in SQL)."""
    return text.isascii() and text.isdigit() and len(text) < 19


def _me() -> User:
    return current_user._get_current_object()


# --- likes, reposts, bookmarks ---------------------------------------------------------------


def _post_action(post_id: int, action, allowed=can_interact, refusal="You cannot do that."):
    post = _post(post_id)
    if not allowed(current_user, post):
        abort(403, refusal)
    action(_me(), post)
    db.session.refresh(post)
    return _done(
        f"post-{post.id}-actions",
        "social/_post_actions.html",
        "post_actions",
        url_for("posts.view", post_id=post.id),
        post=post,
        marks=feeds.marks_for(current_user, [post]),
    )


@bp.post("/posts/<int:post_id>/like")
@login_required
def like(post_id: int):
    return _post_action(post_id, actions.like)


@bp.post("/posts/<int:post_id>/unlike")
@login_required
def unlike(post_id: int):
    return _post_action(post_id, actions.unlike)


@bp.post("/posts/<int:post_id>/repost")
@login_required
def repost(post_id: int):
    refusal = "Only public posts of public accounts can be reposted, and not your own."
    return _post_action(post_id, actions.repost, can_repost, refusal)


@bp.post("/posts/<int:post_id>/unrepost")
@login_required
def unrepost(post_id: int):
    return _post_action(post_id, actions.unrepost)


@bp.post("/posts/<int:post_id>/bookmark")
@login_required
def bookmark(post_id: int):
    return _post_action(post_id, actions.bookmark)


@bp.post("/posts/<int:post_id>/unbookmark")
@login_required
def unbookmark(post_id: int):
    return _post_action(post_id, actions.unbookmark)


@bp.get("/posts/<int:post_id>/likes")
def likes(post_id: int):
    post = _post(post_id)
    page = actions.likers(current_user, post, request.args.get("before"))
    return _people_page("Liked by", page, "social.likes", {"post_id": post.id}, post=post)


def _people_page(title, page, endpoint, endpoint_args, **context):
    return render(
        "social/people.html",
        {"people-more": "items"},
        title=title,
        page=page,
        endpoint=endpoint,
        endpoint_args=endpoint_args,
        **context,
    )


# --- comments --------------------------------------------------------------------------------


def _comments_section(post: Post, status: int = 200, **context):
    """The comments section for htmx, else the comments page (no JS, or a direct visit)."""
    target = f"post-{post.id}-comments"
    template = "social/_comments.html" if wants_fragment(target) else "social/comments.html"
    return render(template, {target: "comments"}, post=post, **context), status


@bp.get("/posts/<int:post_id>/comments")
def comments(post_id: int):
    return _comments_section(_post(post_id))


@bp.post("/posts/<int:post_id>/comments")
@login_required
def add_comment(post_id: int):
    post = _post(post_id)
    if not can_interact(current_user, post):
        abort(403, "You cannot comment on this post.")
    body = request.form.get("body", "")
    parent = None
    if parent_id := request.form.get("parent_id", "").strip():
        parent = db.session.get(Comment, int(parent_id)) if _is_id(parent_id) else None
        if parent is None or parent.post_id != post.id or not can_view(current_user, parent):
            abort(400, "The comment you reply to is not on this post.")
    row, errors = actions.comment(_me(), post, body, parent)
    if errors:
        field = f"reply-{parent.id}" if parent else f"post-{post.id}-comment"
        return _comments_section(post, 422, errors={field: errors}, values={field: body})
    if wants_fragment(f"post-{post.id}-comments"):
        return _comments_section(post)
    return redirect(_back(url_for("posts.view", post_id=post.id)) + f"#comment-{row.id}", 303)


@bp.post("/comments/<int:comment_id>/delete")
@login_required
def delete_comment(comment_id: int):
    row = db.session.get(Comment, comment_id)
    if row is None or not can_view(current_user, row):
        abort(404)
    if not can_change(current_user, row):
        abort(403, "Only its author or the post's artist can delete a comment.")
    post = db.session.get(Post, row.post_id)
    actions.delete_comment(row)
    if wants_fragment(f"post-{post.id}-comments"):
        return _comments_section(post)
    flash("Comment deleted.", "info")
    return redirect(_back(url_for("posts.view", post_id=post.id)), 303)


# --- follows, blocks, mutes ------------------------------------------------------------------


def _account_action(username: str, action, *, visible=True, check=None):
    user = _user(username, visible=visible)
    if user.id == current_user.id:
        abort(400, "You cannot do that to your own account.")
    if check is not None and not check(current_user, user):
        abort(403, "You cannot do that.")
    action(_me(), user)
    return _done(
        "profile-actions",
        "social/_profile_actions.html",
        "profile_actions",
        url_for("profiles.view", username=user.username),
        user=user,
    )


@bp.post("/@<username>/follow")
@login_required
def follow(username: str):
    return _account_action(username, actions.follow, check=can_follow)


@bp.post("/@<username>/unfollow")
@login_required
def unfollow(username: str):
    return _account_action(username, actions.unfollow)


@bp.post("/@<username>/block")
@login_required
def block(username: str):
    user = _user(username)
    if user.id == current_user.id:
        abort(400, "You cannot block yourself.")
    actions.block(_me(), user)
    # Their profile is hidden from now on: go to the list where the block can be undone.
    flash(f"You blocked @{user.username}.", "info")
    return redirect(url_for("social.blocks"), 303)


@bp.post("/@<username>/unblock")
@login_required
def unblock(username: str):
    user = _user(username, visible=False)
    actions.unblock(_me(), user)
    flash(f"You unblocked @{user.username}.", "info")
    return redirect(_back(url_for("social.blocks")), 303)


@bp.post("/@<username>/mute")
@login_required
def mute(username: str):
    return _account_action(username, actions.mute)


@bp.post("/@<username>/unmute")
@login_required
def unmute(username: str):
    return _account_action(username, actions.unmute, visible=False)


@bp.get("/blocks")
@login_required
def blocks():
    return render("social/blocks.html", **actions.blocked_and_muted(_me()))


def _may_list(user: User) -> bool:
    """A private account's lists are for its approved followers."""
    viewer = policy.signed_in(current_user)
    if not user.is_private or viewer is None:
        return not user.is_private
    return viewer.id == user.id or viewer.follows(user) or viewer.is_moderator


@bp.get("/@<username>/followers")
def followers(username: str):
    user = _user(username)
    if not _may_list(user):
        abort(403, "This account is private: only its followers see who follows it.")
    page = actions.followers(current_user, user, request.args.get("before"))
    return _people_page(
        f"Followers of {user.name}", page, "social.followers", {"username": user.username}
    )


@bp.get("/@<username>/following")
def following(username: str):
    user = _user(username)
    if not _may_list(user):
        abort(403, "This account is private: only its followers see whom it follows.")
    page = actions.followees(current_user, user, request.args.get("before"))
    return _people_page(
        f"Followed by {user.name}", page, "social.following", {"username": user.username}
    )


@bp.get("/follow-requests")
@login_required
def follow_requests():
    page = actions.follow_requests(_me(), request.args.get("before"))
    return render("social/requests.html", {"follow-requests": "requests"}, page=page)


@bp.post("/follow-requests/<username>/<any(approve, deny):answer>")
@login_required
def answer_request(username: str, answer: str):
    follower = _user(username, visible=False)
    actions.answer_request(_me(), follower, approve=answer == "approve")
    if wants_fragment("follow-requests"):
        page = actions.follow_requests(_me())
        return render("social/requests.html", {"follow-requests": "requests"}, page=page)
    return redirect(url_for("social.follow_requests"), 303)


# --- reports ---------------------------------------------------------------------------------


def _subject(kind: str, subject_id: int):
    """The reported object, if the reporter may see it; and where to go back to."""
    if kind == "post":
        post = _post(subject_id)
        return post, url_for("posts.view", post_id=post.id), f"the post by {post.author.name}"
    if kind == "comment":
        row = db.session.get(Comment, subject_id)
        if row is None or not can_view(current_user, row):
            abort(404)
        return row, url_for("posts.view", post_id=row.post_id), f"the comment by {row.author.name}"
    if kind == "job":
        job = db.session.get(Job, subject_id)
        if job is None or not can_view(current_user, job):
            abort(404)
        return job, url_for("jobs.view", job_id=job.id), f"the opening “{job.title}”"
    abort(404)


def _report(kind: str, subject_id: int, back: str, label: str):
    errors = {}
    if request.method == "POST":
        errors = actions.report(
            _me(), kind, subject_id, request.form.get("reason", ""), request.form.get("details", "")
        )
        if not errors:
            flash("Thank you. The moderators will look at your report.", "success")
            return redirect(back, 303)
    return render("social/report.html", errors=errors, form=request.form, label=label, back=back), (
        422 if errors else 200
    )


@bp.route("/posts/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "post"})
@bp.route(
    "/comments/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "comment"}
)
@bp.route("/jobs/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "job"})
@login_required
def report(kind: str, subject_id: int):
    _, back, label = _subject(kind, subject_id)
    return _report(kind, subject_id, back, label)


@bp.route("/@<username>/report", methods=["GET", "POST"])
@login_required
def report_user(username: str):
    user = _user(username)
    back = url_for("profiles.view", username=user.username)
    return _report("user", user.id, back, f"@{user.username}")
