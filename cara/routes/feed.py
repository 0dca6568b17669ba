"""Feeds: home and Latest. One URL serves the full page and, for htmx, the next cards."""

from flask import Blueprint, request
from flask_login import current_user

from .. import feeds
from ..htmx import render

bp = Blueprint("feed", __name__)

# The infinite-scroll trigger (id feed-more) is replaced by the next page's cards.
FRAGMENTS = {"feed-more": "items"}


def _latest(endpoint: str):
    page = feeds.latest(current_user, request.args.get("before"))
    return render("feed/feed.html", FRAGMENTS, page=page, title="Latest", endpoint=endpoint)


@bp.get("/")
def home():
    return _latest("feed.home")


@bp.get("/latest")
def latest():
    return _latest("feed.latest")
