"""Social actions: POST forms that work without JavaScript (303 back) and swap in place with htmx.

Every action is an idempotent set or unset (like/unlike, follow/unfollow, ...), never a toggle.
"""

from functools import wraps

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from cara import federation, moderation
from cara.core import policy
from cara.core.extensions import db
from cara.core.models import Comment, Job, Post, RemoteActor, RemoteComment, User
from cara.core.policy import can_change, can_follow, can_interact, can_repost, can_view
from cara.federation import flags, reactions
from cara.social import actions
from cara.web import context
from cara.web.helpers import back, get_or_404, parse_id, user_or_404
from cara.web.htmx import render, wants_fragment
from cara.web.limits import limited

bp = Blueprint("social", __name__)


# --- helpers ---------------------------------------------------------------------------------


def _done(target: str, template: str, block: str, default: str, shown, anchor: str = ""):
    """htmx asking for `target`: the re-rendered partial, with the context `shown()` returns.
    Otherwise: 303 back to the page, at `anchor` (the card acted on) when given."""
    if wants_fragment(target):
        return render(template, {target: block}, next_url=back(default), **shown())
    return redirect(back(default) + (f"#{anchor}" if anchor else ""), 303)


def _post(post_id: int) -> Post:
    return get_or_404(Post, post_id, can_view)


def _user(username: str, *, visible: bool = True) -> User:
    return user_or_404(username, can_view if visible else None)


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
        lambda: {"post": post, **context.cards([post])},
        anchor=f"post-{post.id}",  # the card, not the top of a long feed (issue 13, bug 6)
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
    return _reacted(post_id, "Liked by", actions.likers, "like", "social.likes")


@bp.get("/posts/<int:post_id>/reposts")
def reposts(post_id: int):
    return _reacted(post_id, "Reposted by", actions.reposters, "announce", "social.reposts")


def _reacted(post_id: int, title: str, local, kind: str, endpoint: str):
    """Who liked or reposted a post: people elsewhere (federation) head the first page (they
    are few and not paged), then the local people, paged."""
    post = _post(post_id)
    before = request.args.get("before")
    page = local(current_user, post, before)
    remote = [] if before else reactions.people(current_user, post, kind)
    return _people_page(title, page, endpoint, {"post_id": post.id}, post=post, remote=remote)


def _people_page(title, page, endpoint, endpoint_args, **extra):
    return render(
        "social/people.html",
        {"people-more": "items"},
        title=title,
        page=page,
        endpoint=endpoint,
        endpoint_args=endpoint_args,
        **extra,
    )


# --- comments --------------------------------------------------------------------------------


def _comments_section(post: Post, status: int = 200, **extra):
    """The comments section for htmx, else the comments page (no JS, or a direct visit)."""
    target = f"post-{post.id}-comments"
    if wants_fragment(target):  # with the action row out of band: its comment count changed
        template, extra = (
            "social/_comments.html",
            {"oob_actions": True, **context.cards([post]), **extra},
        )
    else:
        template = "social/comments.html"
    page = render(template, {target: "comments"}, post=post, **context.comments(post), **extra)
    return page, status


@bp.get("/posts/<int:post_id>/comments")
def comments(post_id: int):
    return _comments_section(_post(post_id))


@bp.post("/posts/<int:post_id>/comments")
@login_required
@limited("comment")
def add_comment(post_id: int):
    post = _post(post_id)
    if not can_interact(current_user, post):
        abort(403, "You cannot comment on this post.")
    body = request.form.get("body", "")
    parent = None
    if parent_id := request.form.get("parent_id", "").strip():
        parent = db.session.get(Comment, pid) if (pid := parse_id(parent_id)) else None
        if parent is None or parent.post_id != post.id or not can_view(current_user, parent):
            abort(400, "The comment you reply to is not on this post.")
    row, errors = actions.comment(_me(), post, body, parent)
    if errors:
        field = f"reply-{parent.id}" if parent else f"post-{post.id}-comment"
        return _comments_section(post, 422, errors={field: errors}, values={field: body})
    if wants_fragment(f"post-{post.id}-comments"):
        return _comments_section(post)
    return redirect(back(url_for("posts.view", post_id=post.id)) + f"#comment-{row.id}", 303)


@bp.post("/comments/<int:comment_id>/delete")
@login_required
def delete_comment(comment_id: int):
    row = get_or_404(Comment, comment_id, can_view)
    if not can_change(current_user, row):
        abort(403, "Only its author or the post's artist can delete a comment.")
    post = db.session.get(Post, row.post_id)
    if policy.moderating(
        current_user, row
    ):  # someone else's comment on someone else's post: logged
        moderation.delete_comment(row, current_user)
    else:
        actions.delete_comment(row)
    if wants_fragment(f"post-{post.id}-comments"):
        return _comments_section(post)
    flash("Comment deleted.", "info")
    return redirect(back(url_for("posts.view", post_id=post.id)), 303)


@bp.post("/remote-comments/<int:comment_id>/delete")
@login_required
def delete_remote_comment(comment_id: int):
    """The artist hides a reply from elsewhere on their post; a moderator removes one, with a
    reason (audited). Either way it stays off the post, whatever its server sends again."""
    row = get_or_404(RemoteComment, comment_id, can_view)
    if not can_change(current_user, row):
        abort(403, "Only the post's artist or a moderator can delete a reply.")
    post = db.session.get(Post, row.post_id)
    if policy.moderating(current_user, row):
        try:
            moderation.remove(row, _me(), request.form.get("reason", ""))
        except moderation.ModerationError as exc:
            abort(exc.status, str(exc))
    else:
        actions.hide_remote_comment(row, "artist")
        db.session.commit()
    if wants_fragment(f"post-{post.id}-comments"):
        return _comments_section(post)
    flash("Reply deleted.", "info")
    return redirect(back(url_for("posts.view", post_id=post.id)), 303)


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
        lambda: {"user": user, **context.profile_actions(user)},
    )


@bp.post("/@<username>/follow")
@login_required
@limited("follow")
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
    return redirect(back(url_for("social.blocks")), 303)


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
        row = get_or_404(Comment, subject_id, can_view)
        return row, url_for("posts.view", post_id=row.post_id), f"the comment by {row.author.name}"
    if kind == "job":
        job = get_or_404(Job, subject_id, can_view)
        return job, url_for("jobs.view", job_id=job.id), f"the opening “{job.title}”"
    if kind == "remote_comment":
        row = get_or_404(RemoteComment, subject_id, can_view)
        back_to = url_for("posts.view", post_id=row.post_id)
        return row, back_to, f"the reply by {row.actor.handle}"
    abort(404)


def _forwarded(subject) -> tuple[RemoteActor, list[str]] | None:
    """Whom and what a report about content elsewhere can be forwarded about (None: it is
    local, or federation is off)."""
    if not federation.enabled():
        return None
    if isinstance(subject, RemoteComment):
        return subject.actor, [subject.uri]
    if isinstance(subject, RemoteActor):
        return subject, []
    return None


def _report(kind: str, subject, return_to: str, label: str):
    errors = {}
    forward = _forwarded(subject)
    if request.method == "POST":
        details = request.form.get("details", "")
        again = actions.reported(_me(), kind, subject.id)  # filed before: nothing is sent again
        errors = actions.report(_me(), kind, subject.id, request.form.get("reason", ""), details)
        if not errors:
            if forward and request.form.get("forward") and not again:  # the instance sends it
                flags.forward(*forward, details.strip())
            flash("Thank you. The moderators will look at your report.", "success")
            return redirect(return_to, 303)
    page = render(
        "social/report.html",
        errors=errors,
        form=request.form,
        label=label,
        back=return_to,
        reasons=actions.REPORT_REASONS,
        details_max=actions.REPORT_DETAILS_MAX,
        forward_to=forward[0].domain if forward else None,
    )
    return page, 422 if errors else 200


@bp.route("/posts/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "post"})
@bp.route(
    "/comments/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "comment"}
)
@bp.route("/jobs/<int:subject_id>/report", methods=["GET", "POST"], defaults={"kind": "job"})
@bp.route(
    "/remote-comments/<int:subject_id>/report",
    methods=["GET", "POST"],
    defaults={"kind": "remote_comment"},
)
@login_required
@limited("report")
def report(kind: str, subject_id: int):
    subject, return_to, label = _subject(kind, subject_id)
    return _report(kind, subject, return_to, label)


def _federated(view):
    """404 while federation is off, before asking anyone to log in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not federation.enabled():
            abort(404)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/federation/actors/<int:actor_id>/report", methods=["GET", "POST"])
@_federated
@login_required
@limited("report")
def report_remote_actor(actor_id: int):
    """Report a person on another server (their profile page here links to it)."""
    person = get_or_404(RemoteActor, actor_id)
    back_to = url_for("federation.profile", username=person.username, domain=person.domain)
    return _report("remote_actor", person, back_to, person.handle)


@bp.get("/report")
@login_required
def report_by_name():
    """Report an account by username: the way to report someone whose block hides them."""
    name = request.args.get("username", "").strip().lstrip("@")
    if not name:
        abort(400, "Enter the username of the account to report.")
    user = user_or_404(name, policy.can_report)
    return redirect(url_for("social.report_user", username=user.username), 303)


@bp.route("/@<username>/report", methods=["GET", "POST"])
@login_required
@limited("report")
def report_user(username: str):
    # Reporting works across a block: the person who blocked you can still be reported.
    user = user_or_404(username, policy.can_report)
    return_to = url_for("profiles.view", username=user.username)
    return _report("user", user, return_to, f"@{user.username}")
