"""Feeds: home, Latest, Following, Trending, tags, bookmarks, and Atom feeds.

One URL serves the full page and, for htmx, the next cards.
"""

import re

import click
from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import feeds
from ..extensions import db
from ..htmx import render
from ..models import User, utcnow

bp = Blueprint("feed", __name__)

# The infinite-scroll trigger (id feed-more) is replaced by the next page's cards.
FRAGMENTS = {"feed-more": "items"}
TAG = re.compile(r"[a-z0-9_]{1,50}")
ATOM = "application/atom+xml; charset=utf-8"


def _feed(page, title: str, endpoint: str, **context):
    return render("feed/feed.html", FRAGMENTS, page=page, title=title, endpoint=endpoint, **context)


def _before() -> str | None:
    return request.args.get("before")


@bp.get("/")
def home():
    if feeds.follows_anyone(current_user):
        return _feed(feeds.following(current_user, _before()), "Following", "feed.home")
    return _feed(feeds.latest(current_user, _before()), "Latest", "feed.home")


@bp.get("/latest")
def latest():
    return _feed(feeds.latest(current_user, _before()), "Latest", "feed.latest")


@bp.get("/following")
@login_required
def following():
    page = feeds.following(current_user, _before())
    empty = "Follow artists to see their work here. Start with Latest or Trending."
    return _feed(page, "Following", "feed.following", empty=empty)


@bp.get("/trending")
def trending():
    page = feeds.trending(current_user, _before())
    intro = "Most liked, commented and reposted this week; recent reactions count most."
    return _feed(page, "Trending", "feed.trending", intro=intro)


def _tag(name: str) -> str:
    name = name.lower()
    if not TAG.fullmatch(name):
        abort(404)
    return name


@bp.get("/tags/<tag>")
def tag(tag: str):
    tag = _tag(tag)
    page = feeds.tagged(current_user, tag, _before())
    return _feed(
        page,
        f"#{tag}",
        "feed.tag",
        endpoint_args={"tag": tag},
        atom_url=url_for("feed.tag_atom", tag=tag),
    )


@bp.get("/bookmarks")
@login_required
def bookmarks():
    page = feeds.bookmarks(current_user, _before())
    intro = "Only you can see your bookmarks."
    return _feed(page, "Bookmarks", "feed.bookmarks", intro=intro)


def _base() -> str:
    """Absolute URLs in feeds use the site's public address (BASE_URL) when it is set."""
    return (current_app.config.get("BASE_URL") or request.host_url).rstrip("/")


def _atom(posts, title: str, path: str):
    base = _base()
    body = render_template(
        "feed/atom.xml",
        posts=posts,
        title=title,
        base=base,
        page_url=base + path,
        self_url=base + request.path,
        now=utcnow(),
    )
    response = make_response(body)
    response.headers["Content-Type"] = ATOM
    return response


@bp.get("/@<username>/feed.atom")
def user_atom(username: str):
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or user.is_private:  # a private account has no public feed
        abort(404)
    path = url_for("profiles.view", username=user.username)
    return _atom(feeds.atom_entries(author=user), f"{user.name} (@{user.username})", path)


@bp.get("/tags/<tag>/feed.atom")
def tag_atom(tag: str):
    tag = _tag(tag)
    return _atom(feeds.atom_entries(tag=tag), f"#{tag}", url_for("feed.tag", tag=tag))


@bp.cli.command("refresh-trending")
def refresh_trending_command():
    """Compute a new trending snapshot (run it from cron, or let the site do it every 10 min)."""
    click.echo(f"Trending snapshot {feeds.refresh_trending()}")
