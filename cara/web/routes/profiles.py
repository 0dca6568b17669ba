"""Profiles: /@username portfolio grid and /@username/posts timeline."""

from flask import Blueprint, abort, request
from flask_login import current_user
from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import User
from cara.core.policy import can_view
from cara.posting import drafts
from cara.social import feeds
from cara.web.htmx import render

bp = Blueprint("profiles", __name__)


def _user_or_404(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or not can_view(current_user, user):
        abort(404)
    return user


@bp.get("/@<username>")
def view(username: str):
    user = _user_or_404(username)
    posts = [p for p in drafts.portfolio(user) if can_view(current_user, p)]
    return render(
        "profiles/view.html",
        user=user,
        posts=posts,
        tab="portfolio",
    )


@bp.get("/@<username>/posts")
def posts(username: str):
    user = _user_or_404(username)
    page = feeds.by_author(current_user, user, request.args.get("before"))
    return render(
        "profiles/posts.html",
        {"feed-more": "items"},
        user=user,
        page=page,
        tab="posts",
        endpoint="profiles.posts",
        endpoint_args={"username": user.username},
    )
