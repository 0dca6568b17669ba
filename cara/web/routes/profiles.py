"""Profiles: /@username portfolio grid, /@username/posts timeline, and the owner's
/@username/drafts (drafts, processing, held, failed)."""

from flask import Blueprint, abort, g, request
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


@bp.app_context_processor
def _my_avatar():
    """`my_avatar()` for the header's link to the artist's own profile: at most one query, and
    only when a full page renders the header."""

    def my_avatar():
        if not current_user.is_authenticated or not current_user.avatar_media_id:
            return None
        if "my_avatar" not in g:
            g.my_avatar = feeds.media_by_id(current_user.avatar_media_id)
        return g.my_avatar

    return {"my_avatar": my_avatar}


@bp.get("/@<username>")
def view(username: str):
    if federation.wants_activity():  # ActivityPub asks for the actor at the profile URL
        return federation.actor(username)
    user = user_or_404(username, can_view)
    posts = [p for p in drafts.portfolio(user) if can_view(current_user, p)]
    # No portfolio chosen yet: the newest posts stand in for it (docs/decisions.md, issue 13).
    recent = not posts
    if recent:
        posts = feeds.by_author(current_user, user).items
    return render(
        "profiles/view.html",
        user=user,
        posts=posts,
        recent=recent,
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


@bp.get("/@<username>/drafts")
def unfinished(username: str):
    user = user_or_404(username, can_view)
    if not (current_user.is_authenticated and current_user.id == user.id):
        abort(403, "Only the artist sees their drafts and posts under review.")
    posts = drafts.unfinished(user)
    return render(
        "profiles/drafts.html",
        user=user,
        posts=posts,
        covers={p.id: feeds.first_image(p) for p in posts},
        tab="drafts",
        **context.profile(user),
    )
