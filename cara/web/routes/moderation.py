"""Moderation: the review queue and its decisions, reports, removals, accounts (warnings,
suspensions, notes), known-hash lists (admins), appeals."""

from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from cara import federation, moderation
from cara.aifilter import hashindex
from cara.core import storage
from cara.core.models import Appeal, Comment, Job, Post, RemotePost, Report
from cara.core.policy import can_admin, can_change, can_moderate
from cara.federation import review
from cara.posting import drafts, known, screening
from cara.web import context
from cara.web.helpers import get_or_404, read_uploads, safe_next, user_or_404

bp = Blueprint("moderation", __name__)


def moderators_only(view):
    """Everyone else gets a 404: the queue's existence is not advertised."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not can_moderate(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def admins_only(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not can_admin(current_user):
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def _back(default: str):
    """Redirect to the form's `next` (a path on this site), else `default`."""
    return redirect(safe_next(request.form.get("next")) or default, 303)


def _report_link(target: moderation.ReportTarget) -> str | None:
    """The page a report is about, or None when it is gone."""
    if not target.exists:
        return None
    if target.kind == "post":
        return url_for("posts.view", post_id=target.id)
    if target.kind == "comment":
        return url_for("posts.view", post_id=target.post_id, _anchor=f"comment-{target.id}")
    if target.kind == "job":
        return url_for("jobs.view", job_id=target.id)
    if target.kind == "remote_comment":
        anchor = f"remote-comment-{target.id}"
        return url_for("posts.view", post_id=target.post_id, _anchor=anchor)
    if target.kind == "remote_actor":  # username is their @user@domain
        username, domain = target.username.lstrip("@").split("@", 1)
        return url_for("federation.profile", username=username, domain=domain)
    return url_for("profiles.view", username=target.username)


def _act(decide, message: str, *args, **kwargs):
    """Run a moderation decision with the moderator; its refusal is a 4xx with the message."""
    try:
        decide(*args, current_user._get_current_object(), **kwargs)
    except moderation.ModerationError as exc:
        abort(exc.status, str(exc))
    flash(message, "success")
    return _back(url_for("moderation.index"))


def _decide(action, subject, message: str):
    return _act(action, message, subject, reason=request.form.get("reason", ""))


REMOTE = "remote"  # the queue of images held from elsewhere (cara.federation.review)


@bp.get("/moderation")
@moderators_only
def index():
    name = request.args.get("queue", "held")
    if name not in (*moderation.QUEUES, REMOTE):
        abort(404)
    after = request.args.get("after")
    page = review.queue(after) if name == REMOTE else moderation.queue(name, after)
    targets = moderation.report_targets(page.items) if name == "reports" else {}
    counts = moderation.counts()
    remote = review.waiting()
    if remote or federation.enabled() or name == REMOTE:  # the tab of a federating site
        counts[REMOTE] = remote
    return render_template(
        "moderation/index.html",
        queue=name,
        page=page,
        targets=targets,
        report_links={i: (t.label, _report_link(t)) for i, t in targets.items()},
        counts=counts,
        classifier=screening.classifier_status(),
    )


@bp.get("/moderation/remote/<int:post_id>/<name>")
@moderators_only
def remote_held_image(post_id: int, name: str):
    """Our copy of an image held from elsewhere: moderators only, never cached."""
    response = review.send_held(get_or_404(RemotePost, post_id), name)
    if response is None:
        abort(404)
    response.headers["Cache-Control"] = storage.PRIVATE_CACHE
    return response


@bp.post("/moderation/remote/<int:post_id>/confirm")
@moderators_only
def confirm_remote(post_id: int):
    post = get_or_404(RemotePost, post_id)
    return _decide(review.confirm, post, "Confirmed as AI-generated: its images join the list.")


@bp.post("/moderation/remote/<int:post_id>/clear")
@moderators_only
def clear_remote(post_id: int):
    return _decide(review.clear, get_or_404(RemotePost, post_id), "Cleared: its images are shown.")


@bp.post("/moderation/posts/<int:post_id>/confirm")
@moderators_only
def confirm(post_id: int):
    return _decide(moderation.confirm_ai, get_or_404(Post, post_id), "Confirmed as AI-generated.")


@bp.post("/moderation/posts/<int:post_id>/clear")
@moderators_only
def clear(post_id: int):
    return _decide(moderation.clear, get_or_404(Post, post_id), "Cleared and published.")


@bp.post("/moderation/reports/<int:report_id>/close")
@moderators_only
def close_report(report_id: int):
    """Dismiss the report, or remove what it is about, or warn or suspend its person."""
    action = request.form.get("action", "dismiss")
    return _act(
        moderation.resolve_report,
        moderation.REPORT_ACTIONS.get(action, ""),
        get_or_404(Report, report_id),
        action=action,
        reason=request.form.get("reason", ""),
        until=request.form.get("until"),
    )


REMOVABLE = {"posts": Post, "comments": Comment, "jobs": Job}


@bp.post("/moderation/<any(posts, comments, jobs):kind>/<int:subject_id>/remove")
@moderators_only
def remove(kind: str, subject_id: int):
    """Remove a post, comment or job for a rule violation (never the known-AI list)."""
    subject = get_or_404(REMOVABLE[kind], subject_id)
    return _decide(moderation.remove, subject, "Removed. Its author was told why.")


@bp.get("/moderation/users/<username>")
@moderators_only
def account(username: str):
    """One person's moderation page: notes, warnings, suspensions, open reports, actions."""
    page = moderation.account(user_or_404(username))
    targets = moderation.report_targets(page.reports)
    return render_template(
        "moderation/account.html",
        account=page,
        targets=targets,
        report_links={i: (t.label, _report_link(t)) for i, t in targets.items()},
        note_max=moderation.NOTE_MAX,
    )


SANCTIONS = {"warn": "Warning sent.", "suspend": "Account suspended.", "unsuspend": "Lifted."}


@bp.post("/moderation/users/<username>/<any(warn, suspend, unsuspend):action>")
@moderators_only
def sanction(username: str, action: str):
    """Warn, suspend (with an optional end date) or unsuspend an account."""
    extra = {"until": request.form.get("until")} if action == "suspend" else {}
    decide, reason = getattr(moderation, action), request.form.get("reason", "")
    return _act(decide, SANCTIONS[action], user_or_404(username), reason=reason, **extra)


@bp.post("/moderation/users/<username>/notes")
@moderators_only
def add_note(username: str):
    body = request.form.get("body", "")
    return _act(moderation.add_note, "Note saved.", user_or_404(username), body=body)


@bp.get("/moderation/appeals/<int:appeal_id>/images/<int:media_id>")
@moderators_only
def appeal_image(appeal_id: int, media_id: int):
    media = moderation.evidence_media(get_or_404(Appeal, appeal_id), media_id) or abort(404)
    response = Response(moderation.evidence_preview(media) or abort(404), mimetype="image/webp")
    response.headers["Cache-Control"] = storage.PRIVATE_CACHE
    return response


@bp.route("/moderation/hashes", methods=["GET", "POST"])
@admins_only
def hashes():
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            count = moderation.import_hashes(
                upload.read() if upload else b"",
                upload.filename if upload else "",
                request.form.get("format") or None,
                trusted=request.form.get("untrusted") != "on",
                note=request.form.get("note", "")[:200],
                who=current_user._get_current_object(),
            )
        except hashindex.HashListError as exc:
            error = f"Nothing was imported: {exc}"
        else:
            flash(f"Imported {count} hashes.", "success")
            return redirect(url_for("moderation.hashes"), 303)
    page = render_template("moderation/hashes.html", stats=known.stats(), error=error)
    return page, 422 if error else 200


@bp.get("/moderation/hashes/export")
@admins_only
def export_hashes():
    fmt = request.args.get("format", "csv")
    if fmt not in known.FORMATS:
        abort(400, "Choose csv or json.")
    mimetype = "text/csv" if fmt == "csv" else "application/json"
    pulled = request.args.get("include") == "pulled"
    response = Response(known.export_list(fmt, include_pulled=pulled)[0], mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="known-hashes.{fmt}"'
    return response


@bp.route("/posts/<int:post_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal(post_id: int):
    post = get_or_404(Post, post_id, can_change)  # the artist's own post
    errors = {}
    if request.method == "POST":
        limits = drafts.upload_limits(current_app.config)
        errors = moderation.submit_appeal(
            post, current_user, request.form.get("message", ""), read_uploads("images"), limits
        )
        if not errors:
            flash("Appeal sent. A moderator will review it.", "success")
            return redirect(url_for("posts.view", post_id=post.id), 303)
    html = render_template(
        "moderation/appeal.html",
        post=post,
        errors=errors,
        form=request.form,
        can_appeal=moderation.can_appeal(post),
        **context.verdict(post),
    )
    return html, 422 if errors else 200
