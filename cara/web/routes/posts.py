"""Posts: upload (draft), describe and publish, view, edit, delete, retry, portfolio order."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from cara.core import text
from cara.core.models import Media, Post, PostState
from cara.core.policy import can_change, can_view
from cara.posting import drafts, processing
from cara.web import context
from cara.web.helpers import get_or_404, read_uploads
from cara.web.htmx import render
from cara.web.limits import limited, uploaded_files

bp = Blueprint("posts", __name__, url_prefix="/posts")


def _post(post_id: int, *, change: bool = False) -> Post:
    return get_or_404(Post, post_id, can_change if change else can_view)


def _add(post: Post | None):
    cfg = current_app.config
    return drafts.add_images(
        current_user,
        post,
        read_uploads("images"),
        drafts.upload_limits(cfg),
        cfg["MAX_IMAGES_PER_POST"],
        cfg["STORAGE_QUOTA_BYTES"],
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
@limited("upload", cost=uploaded_files)
def create():
    if request.method == "GET":
        return render_template("posts/new.html", errors=[])
    post, errors = _add(None)
    if post is None:
        errors = errors or ["Choose at least one image to upload."]
        return render_template("posts/new.html", errors=errors), 422
    for message in errors:
        flash(message, "error")
    return redirect(url_for("posts.edit", post_id=post.id), 303)


@bp.post("/<int:post_id>/images")
@login_required
@limited("upload", cost=uploaded_files)
def add_images(post_id: int):
    post = _post(post_id, change=True)
    if post.state != PostState.DRAFT:
        abort(409, "Images can only be added before the post is published.")
    _, errors = _add(post)
    for message in errors or ([] if request.files.get("images") else ["Choose an image."]):
        flash(message, "error")
    return redirect(url_for("posts.edit", post_id=post.id), 303)


@bp.post("/<int:post_id>/images/<int:media_id>/remove")
@login_required
def remove_image(post_id: int, media_id: int):
    post = _post(post_id, change=True)
    media = get_or_404(Media, media_id)
    if media.post_id != post.id or post.state != PostState.DRAFT:
        abort(404)
    drafts.remove_image(post, media)
    return redirect(url_for("posts.edit", post_id=post.id), 303)


@bp.route("/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int):
    post = _post(post_id, change=True)
    errors = {}
    if request.method == "POST":
        form = drafts.form_values(request.form, post)
        publish = post.state == PostState.DRAFT
        errors = drafts.publish(post, form) if publish else drafts.update(post, form)
        if not errors:
            flash("Published! Your images are being processed." if publish else "Saved.", "success")
            return redirect(url_for("posts.view", post_id=post.id), 303)
    status = 422 if errors else 200
    page = render_template(
        "posts/edit.html", post=post, errors=errors, form=request.form, **context.verdict(post)
    )
    return page, status


@bp.get("/<int:post_id>")
def view(post_id: int):
    post = _post(post_id)
    # The caption's own #tags are links already: list only the others beneath it.
    linked = set(text.hashtags(post.caption or ""))
    tags = [t for t in post.tags if t.name not in linked]
    # htmx polling a post being processed gets the post's body only (posts/view.html)
    fragments = {f"post-{post.id}-body": "body"}
    return render("posts/view.html", fragments, post=post, tags=tags, **context.post_page(post))


@bp.get("/<int:post_id>/images/<int:n>")
def image(post_id: int, n: int):
    """The full-size viewer: image `n` (from 1) of a post, the largest rendition, with the
    previous and next ones linked (arrow keys with JS). static/js/viewer.js asks for the
    `viewer` fragment alone to show it in a dialog over the page."""
    post = _post(post_id)
    shown = [m for m in post.media if m.renditions]
    if not 1 <= n <= len(shown):
        abort(404)
    context = {"post": post, "media": shown[n - 1], "n": n, "total": len(shown)}
    return render("posts/image.html", {"viewer": "viewer"}, **context)


@bp.post("/<int:post_id>/retry")
@login_required
def retry(post_id: int):
    post = _post(post_id, change=True)
    processing.retry_failed(post)
    flash("Processing again.", "info")
    return redirect(url_for("posts.view", post_id=post.id), 303)


@bp.post("/<int:post_id>/delete")
@login_required
def delete(post_id: int):
    post = _post(post_id, change=True)
    username = post.author.username
    drafts.delete(post)
    flash("Post deleted.", "info")
    return redirect(url_for("profiles.view", username=username), 303)


@bp.post("/<int:post_id>/pin")
@login_required
def pin(post_id: int):
    drafts.set_pinned(_post(post_id, change=True), True)
    return redirect(url_for("profiles.view", username=current_user.username), 303)


@bp.post("/<int:post_id>/unpin")
@login_required
def unpin(post_id: int):
    drafts.set_pinned(_post(post_id, change=True), False)
    return redirect(url_for("profiles.view", username=current_user.username), 303)


@bp.post("/<int:post_id>/move")
@login_required
def move(post_id: int):
    post = _post(post_id, change=True)
    direction = request.form.get("direction")
    if direction not in ("earlier", "later"):
        abort(400, "Choose earlier or later.")
    drafts.move_in_portfolio(post, -1 if direction == "earlier" else 1)
    return redirect(url_for("profiles.view", username=current_user.username), 303)
