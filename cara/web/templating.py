"""Jinja filters and globals shared by the templates: presentation helpers only.

Templates get their data from the views (see cara.web.context); no domain module or function
is a Jinja global (tests/web/test_templates.py checks it)."""

import os
import re
import threading
import zlib
from collections import OrderedDict

from flask import Flask, current_app
from markupsafe import Markup, escape

from cara.core import text
from cara.posting import drafts

# Default of CARD_CACHE_ENTRIES (0: off): entries of 1-2 KB, a post's image part and the
# action rows of the viewer states seen for it.
CARD_CACHE_ENTRIES = 20_000
# Default of ITEMS_CACHE_ENTRIES (0: off): the whole list of cards of a feed page (20-60 KB),
# per page and set of viewer states on its cards (cara.web.routes.feed).
ITEMS_CACHE_ENTRIES = 500


def linkify(value: str) -> Markup:
    """Plain text, escaped, with #tags and @mentions turned into links."""

    def link(match: re.Match) -> str:
        sigil, name = match.group(1), match.group(2).lower()
        # Paths from the public URL map (DESIGN.md §5).
        href = f"/tags/{name}" if sigil == "#" else f"/@{name}"
        return f'<a href="{escape(href)}">{sigil}{escape(match.group(2))}</a>'

    return Markup(text.LINKABLE_RE.sub(link, str(escape(value))))


AVATAR_COLOURS = 12  # .av-0 ... .av-11 in cara.css


def avatar_colour(username: str) -> int:
    """A stable colour index for a username's default avatar (the same on every page)."""
    return zlib.crc32(username.encode()) % AVATAR_COLOURS


def initials(name: str) -> str:
    """Up to two initials of a display name: "Mira Okafor" -> "MO", "ana" -> "A"."""
    words = [w for w in re.split(r"[\s_.-]+", name) if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def absolute(path: str) -> str:
    """An absolute URL for a site path, from BASE_URL (links shared off the site)."""
    return text.site_url(path)


def crop_name(media) -> str:
    """The crop-focus choice matching a media's stored focus point."""
    for name, focus in drafts.CROP_FOCUS.items():
        if focus == (media.crop_x, media.crop_y):
            return name
    return "center"


class FragmentCache:
    """Rendered HTML by key, each with the version it was rendered from (an in-process LRU).

    One entry per key: a new version replaces the old, so an edited post costs one render and
    no stale copy lingers. Each gunicorn worker keeps its own.
    """

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, version, make):
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and hit[0] == version:
                self.entries.move_to_end(key)
                return hit[1]
        value = make()
        if self.size:
            with self.lock:
                self.entries[key] = (version, value)
                self.entries.move_to_end(key)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        return value


def cached_card(version: tuple, *variant, csrf: str = "", caller) -> Markup:
    """`{% call cached_card(card_versions[post.id], ...) %}`: a part of a feed card rendered
    once per post version (cara.web.context.card_version) and variant, then reused.

    `variant` must hold everything of the viewer or the page the block shows besides the post:
    for the image part, mature content hidden, eager image, data saver; for the action row, the
    viewer's state on the post (cara.web.context.cards) and the page it returns to. The page's
    CSRF token `csrf` is cut out of the cached HTML and the current one put in its place.
    """
    return reuse("cara.card_cache", (version[0], *variant), version, caller, csrf)


def reuse(cache: str, key, version, make, csrf: str = "") -> Markup:
    """The HTML `make()` rendered for `key` at `version`, from the FragmentCache named `cache`
    (an app extension) when it has it; the CSRF token `csrf` it was rendered with is cut out and
    the current one put in its place."""
    parts = current_app.extensions[cache].get(key, version, lambda: _split(make(), csrf))
    return Markup(escape(csrf)).join(parts) if csrf else parts[0]


def _split(html: str, token: str) -> tuple[Markup, ...]:
    return tuple(Markup(p) for p in html.split(str(escape(token)))) if token else (Markup(html),)


def init_app(app: Flask) -> None:
    # htmx is optional at run time: pages work without it (it is fetched by `make setup`).
    htmx_available = os.path.exists(os.path.join(app.static_folder, "vendor", "htmx.min.js"))
    app.jinja_env.filters["linkify"] = linkify
    app.extensions["cara.card_cache"] = FragmentCache(
        app.config.get("CARD_CACHE_ENTRIES", CARD_CACHE_ENTRIES)
    )
    entries = app.config.get("ITEMS_CACHE_ENTRIES", ITEMS_CACHE_ENTRIES)
    app.extensions["cara.items_cache"] = FragmentCache(entries)
    app.jinja_env.filters["avatar_colour"] = avatar_colour
    app.jinja_env.filters["initials"] = initials
    app.jinja_env.filters["absolute"] = absolute
    app.jinja_env.globals.update(
        htmx_available=htmx_available, crop_name=crop_name, cached_card=cached_card
    )
