"""Operations: failed jobs for admins (/admin/jobs), and every request's id, log line and
metrics (app-wide hooks registered by this blueprint)."""

import logging
import re
import time
import uuid

from flask import (
    Blueprint,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from cara.core.models import Post
from cara.ops import jobs, metrics
from cara.web.helpers import get_or_404
from cara.web.routes.moderation import admins_only

bp = Blueprint("ops", __name__)
access_log = logging.getLogger("cara.request")

# A proxy's X-Request-ID is kept when it looks like one (it ties our lines to the proxy's).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


@bp.before_app_request
def _start():
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


@bp.after_app_request
def _finish(response):
    started = g.get("request_started")
    if started is None:  # a hook before ours answered
        return response
    seconds = time.perf_counter() - started
    metrics.observe_request(request.endpoint, request.method, response.status_code, seconds)
    g.status = response.status_code
    response.headers["X-Request-ID"] = g.request_id
    access_log.info("%s %s %s %.1fms", request.method, request.path, g.status, seconds * 1000)
    return response


def log_fields() -> dict:
    """The request a log line was written in (for the JSON log format)."""
    if not has_request_context() or "request_id" not in g:
        return {}
    fields = {"request_id": g.request_id, "method": request.method, "path": request.path}
    if "status" in g:
        fields["status"] = g.status
    return fields


@bp.get("/admin/jobs")
@admins_only
def failed():
    return render_template("ops/failed.html", failures=jobs.failed())


@bp.post("/admin/jobs/posts/<int:post_id>/retry")
@admins_only
def retry(post_id: int):
    if jobs.retry(get_or_404(Post, post_id), current_user._get_current_object()):
        flash(f"Post {post_id} is being processed again.", "success")
    else:
        flash(f"Post {post_id} has no failed images.", "error")
    return redirect(url_for("ops.failed"), 303)
