"""Notifications: the grouped list, mark as read, and the unread count in the navigation."""

from flask import Blueprint, g, redirect, request, url_for
from flask_login import current_user, login_required

from cara.social import notify
from cara.web.helpers import parse_id
from cara.web.htmx import render, wants_fragment

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def _unread():
    """`unread_notifications()` for the nav: one query, only when a full page renders it."""

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        if "unread_notifications" not in g:
            g.unread_notifications = notify.unread_count(current_user)
        return g.unread_notifications

    return {"unread_notifications": unread_notifications, "unread_cap": notify.UNREAD_CAP}


def _page(**context):
    groups, cursor, top = notify.page(current_user, request.args.get("before"))
    fragments = {"notifications-more": "items", "notifications": "list"}
    return render(
        "notifications/index.html", fragments, groups=groups, cursor=cursor, top=top, **context
    )


@bp.get("/notifications")
@login_required
def index():
    return _page()


@bp.post("/notifications/read")
@login_required
def mark_read():
    notify.mark_read(current_user, parse_id(request.form.get("upto")))  # None: all of them
    if wants_fragment("notifications"):
        return _page(oob=True)  # with the nav count, swapped out of band
    return redirect(url_for("notifications.index"), 303)
