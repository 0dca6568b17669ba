"""Profiles: /@username portfolio grid and /@username/posts timeline."""

from flask import Blueprint, request
from flask_login import current_user

from cara.core.policy import can_view
from cara.posting import drafts
from cara.social import feeds
from cara.web import context
from cara.web.helpers import user_or_404
from cara.web.htmx import render, wants_fragment
from cara.web.routes import federation

bp = Blueprint("profiles", __name__)
MORE = "feed-more"  # the infinite-scroll trigger, replaced by the next cards


@bp.get("/@<username>")
def view(username: str):
    if federation.wants_activity():  # ActivityPub asks for the actor at the profile URL
        return federation.actor(username)
    user = user_or_404(username, can_view)
    posts = [p for p in drafts.portfolio(user) if can_view(current_user, p)]
    return render(
        "profiles/view.html",
        user=user,
        posts=posts,
        covers={p.id: feeds.first_image(p) for p in posts},
        tab="portfolio",
        **context.profile(user),
    )


@bp.get("/@<username>/posts")
def posts(username: str):
    user = user_or_404(username, can_view)
    page = feeds.by_author(current_user, user, request.args.get("before"))
    header = {} if wants_fragment(MORE) else context.profile(user)  # a next page: cards only
    return render(
        "profiles/posts.html",
        {MORE: "items"},
        user=user,
        page=page,
        tab="posts",
        endpoint="profiles.posts",
        endpoint_args={"username": user.username},
        **context.cards(page.items, page.marks),
        **header,
    )
