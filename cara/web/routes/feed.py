"""Feeds: home, Latest, Following, Trending, tags, bookmarks, and Atom feeds.

One URL serves the full page and, for htmx, the next cards.
"""

import re
import threading
import time
from collections import OrderedDict
from functools import partial

import click
from flask import (
    Blueprint,
    abort,
    current_app,
    get_template_attribute,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from cara import federation
from cara.core import policy, text
from cara.core.models import utcnow
from cara.federation import inbox as remote
from cara.federation import interactions
from cara.social import feeds
from cara.web import context, templating
from cara.web.assets import data_saver
from cara.web.helpers import user_or_404
from cara.web.htmx import render

bp = Blueprint("feed", __name__)

# The infinite-scroll trigger (id feed-more) is replaced by the next page's cards.
FRAGMENTS = {"feed-more": "items"}
TAG = re.compile(r"[a-z0-9_]{1,50}")
ATOM = "application/atom+xml; charset=utf-8"
CACHE_SECONDS = 10  # default of FEED_CACHE_SECONDS; 0 turns the microcache off
CACHE_ENTRIES = 256
PICTURE_ENTRIES = 10_000  # a few MB
PICTURE_SECONDS = 3600
# The card grid (cara.css .feed: columns of at least 320 px with 1.5rem gaps in main's 1200 px
# less 3rem of padding; edge to edge on phones up to 600 px): one column below 712 px, two up
# to 1056 px, then three of at most 368 px. On phones a card asks for 320 CSS px, not the
# screen's 360-412: a DPR-2 phone then takes the 640 px rendition (AVIF, within the 40 KB
# budget on a slow connection) instead of the 960 px WebP at twice the bytes; 0.9x of the
# screen's pixels does not show in a feed, and the post page and viewer give full size
# (docs/decisions.md).
CARD_SIZES = (
    "(min-width: 1200px) 368px, (min-width: 1056px) calc((100vw - 6rem) / 3), "
    "(min-width: 712px) calc((100vw - 4.5rem) / 2), (min-width: 601px) calc(100vw - 3rem), 320px"
)


class Microcache:
    """Rendered cards of feed pages for logged-out visitors, kept a few seconds per process.

    Every logged-out visitor sees the same public cards, so a busy page is rendered once per
    period rather than once per request. Signed-in pages carry the viewer's marks and CSRF
    tokens: they are never cached.
    """

    def __init__(self, size: int = CACHE_ENTRIES):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, ttl: float, make):
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = make()
        with self.lock:
            self.entries[key] = (now + ttl, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


@bp.record_once
def _init(state):
    state.app.extensions["cara.feed_cache"] = Microcache()
    state.app.extensions["cara.picture_cache"] = Microcache(PICTURE_ENTRIES)
    state.app.jinja_env.globals["card_picture"] = card_picture


def card_picture(media, lazy: bool) -> Markup:
    """A card's <picture>, rendered once per set of renditions, alt text and data-saver choice.

    The responsive-image macro builds a dozen URLs per image: the most expensive part of a card.
    """
    # Rendition names carry the image's version; an AVIF set added later changes them too.
    names = tuple(r["name"] for r in media.renditions)
    key = (media.id, names, media.alt_text, lazy, data_saver())
    cache = current_app.extensions["cara.picture_cache"]

    def make() -> Markup:
        picture = get_template_attribute("macros/media.html", "picture")
        # The first cards are above the fold: one of them is the page's LCP image.
        return picture(media, sizes=CARD_SIZES, lazy=lazy, full_link=False, priority=not lazy)

    return cache.get(key, PICTURE_SECONDS, make)


def _items(load, extra: dict) -> Markup:
    """The page's list of cards (the block "items"), rendered once per page and set of viewer
    states on its cards, then reused while none of its cards changes.

    The key holds everything of the viewer the list shows (each card's state: signed in, own,
    liked, reposted, bookmarked, repostable; mature content shown; data saver) and the version
    holds everything of the posts (cara.web.context.card_version, the Following reposters, the
    next page's cursor): which posts a viewer may see is decided by the feed's query before.
    The CSRF token is the viewer's (cara.web.templating.reuse). Pages with posts from other
    servers are drawn each time.
    """
    page = load()
    keys = {"page": page, **context.card_keys(page.items, page.marks)}

    def make() -> str:
        return render_block(
            "feed/feed.html", "items", **keys, **context.card_parts(page.items), **extra
        )

    if any(not isinstance(item, feeds.Card) for item in extra.get("mixed", ())):
        return Markup(make())
    states, versions = keys["card_states"], keys["card_versions"]
    reposters = page.reposted_by
    key = (
        request.full_path,
        extra["endpoint"],
        current_user.is_authenticated and current_user.show_mature,
        keys["saver"],
        tuple((states[p.id], p.id in keys["repostable"]) for p in page.items),
    )
    version = (
        tuple(versions[p.id] for p in page.items),
        tuple((r.id, r.username, r.name) for r in map(reposters.get, versions) if r),
        page.next_cursor,
        extra["title"],
        extra.get("empty"),
    )
    return templating.reuse("cara.items_cache", key, version, make, keys["csrf"])


def _feed(load, title: str, endpoint: str, **extra):
    """A feed page from `load()` (its Page); logged-out visitors' cards come from the
    microcache for a few seconds, everyone's from the items cache while they do not change."""
    ttl = current_app.config.get("FEED_CACHE_SECONDS", CACHE_SECONDS)
    extra.update(title=title, endpoint=endpoint)
    if current_user.is_authenticated or not ttl:
        items = _items(load, extra)
    else:
        cache = current_app.extensions["cara.feed_cache"]
        items = cache.get((request.full_path, data_saver()), ttl, partial(_items, load, extra))
    return render("feed/feed.html", FRAGMENTS, page=None, items_html=items, **extra)


def _before() -> str | None:
    return request.args.get("before")


def _following(endpoint: str, **extra):
    """The Following feed: posts here and, while federation is on, the posts of people
    elsewhere the viewer follows, in one order (remote ones drawn with their own card)."""
    elsewhere = remote.following_source(current_user) if federation.enabled() else None
    page = feeds.following(current_user, _before(), elsewhere=elsewhere)
    far = remote.posts_by_ids([i for kind, i in page.entries if kind == feeds.ELSEWHERE])
    near = {p.id: p for p in page.items}
    mixed = [near.get(i) if kind == feeds.LOCAL else far.get(i) for kind, i in page.entries]
    return _feed(
        lambda: page,
        "Following",
        endpoint,
        mixed=[item for item in mixed if item is not None],
        remote_marks=interactions.marks(current_user, list(far.values())),
        **extra,
    )


@bp.get("/")
def home():
    if feeds.follows_anyone(current_user):
        return _following("feed.home")
    return _feed(partial(feeds.latest, current_user, _before()), "Latest", "feed.home")


@bp.get("/latest")
def latest():
    return _feed(partial(feeds.latest, current_user, _before()), "Latest", "feed.latest")


@bp.get("/following")
@login_required
def following():
    empty = "Follow artists to see their work here. Start with Latest or Trending."
    return _following("feed.following", empty=empty)


@bp.get("/trending")
def trending():
    intro = "Most liked, commented and reposted this week; recent reactions count most."
    return _feed(
        partial(feeds.trending, current_user, _before()), "Trending", "feed.trending", intro=intro
    )


def _tag(name: str) -> str:
    name = name.lower()
    if not TAG.fullmatch(name):
        abort(404)
    return name


@bp.get("/tags/<tag>")
def tag(tag: str):
    tag = _tag(tag)
    return _feed(
        partial(feeds.tagged, current_user, tag, _before()),
        f"#{tag}",
        "feed.tag",
        endpoint_args={"tag": tag},
        atom_url=url_for("feed.tag_atom", tag=tag),
    )


@bp.get("/bookmarks")
@login_required
def bookmarks():
    intro = "Only you can see your bookmarks."
    return _feed(
        partial(feeds.bookmarks, current_user, _before()),
        "Bookmarks",
        "feed.bookmarks",
        intro=intro,
    )


def _atom(posts, title: str, path: str):
    base = text.site_url()
    body = render_template(
        "feed/atom.xml",
        posts=posts,
        renditions={m.id: feeds.atom_rendition(m) for p in posts for m in p.media if m.renditions},
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
    user = user_or_404(username)
    if not policy.has_public_feed(user):
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
