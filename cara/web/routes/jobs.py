"""The jobs board: /jobs (browse and filter), post, edit, close and reopen an opening."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from cara import board
from cara.core.extensions import db
from cara.core.models import Job, User
from cara.core.policy import can_change, can_view
from cara.web.helpers import get_or_404
from cara.web.htmx import render
from cara.web.limits import limited

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def _job(job_id: int, *, change: bool = False) -> Job:
    job = get_or_404(Job, job_id, can_view)
    if change and not can_change(current_user, job):
        abort(403, "Only the person who posted this opening can change it.")
    return job


@bp.get("")
def index():
    kind = request.args.get("kind") or None
    if kind is not None and kind not in board.KINDS:
        abort(400, "Choose full-time, freelance or commission.")
    remote = request.args.get("remote") == "1"
    mine = request.args.get("mine") == "1" and current_user.is_authenticated
    page = board.listing(current_user, kind, remote, mine, request.args.get("before"))
    filters = {
        k: v for k, v in (("kind", kind), ("remote", remote and "1"), ("mine", mine and "1")) if v
    }
    return render(
        "jobs/index.html",
        {"jobs-more": "items"},
        page=page,
        owners=board.owners(page.items),
        filters=filters,
        kinds=board.KINDS,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
@limited("job")
def create():
    errors = {}
    if request.method == "POST":
        job, errors = board.create(current_user, request.form)
        if job:
            flash("Your opening is on the board.", "success")
            return redirect(url_for("jobs.view", job_id=job.id), 303)
    form = request.form if request.method == "POST" else {"kind": "freelance"}
    return render(
        "jobs/form.html", job=None, form=form, errors=errors, kinds=board.KINDS, limits=board.LIMITS
    ), (422 if errors else 200)


@bp.get("/<int:job_id>")
def view(job_id: int):
    job = _job(job_id)
    return render(
        "jobs/view.html",
        job=job,
        owner=db.session.get(User, job.owner_id),
        kinds=board.KINDS,
        can_edit=can_change(current_user, job),
    )


@bp.route("/<int:job_id>/edit", methods=["GET", "POST"])
@login_required
def edit(job_id: int):
    job = _job(job_id, change=True)
    errors = {}
    if request.method == "POST":
        errors = board.update(job, request.form)
        if not errors:
            flash("Opening saved.", "success")
            return redirect(url_for("jobs.view", job_id=job.id), 303)
    form = (
        request.form
        if request.method == "POST"
        else {
            **{name: getattr(job, name) for name in board.LIMITS},
            "kind": job.kind,
            "remote": job.remote,
        }
    )
    return render(
        "jobs/form.html", job=job, form=form, errors=errors, kinds=board.KINDS, limits=board.LIMITS
    ), (422 if errors else 200)


@bp.post("/<int:job_id>/close")
@login_required
def close(job_id: int):
    board.set_closed(_job(job_id, change=True), True)
    flash("Opening closed. It no longer shows on the board.", "info")
    return redirect(url_for("jobs.view", job_id=job_id), 303)


@bp.post("/<int:job_id>/reopen")
@login_required
def reopen(job_id: int):
    board.set_closed(_job(job_id, change=True), False)
    flash("Opening reopened.", "success")
    return redirect(url_for("jobs.view", job_id=job_id), 303)
