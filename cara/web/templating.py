"""Jinja filters and globals shared by the templates: presentation helpers only.

Templates get their data from the views (see cara.web.context); no domain module or function
is a Jinja global (tests/web/test_templates.py checks it)."""

import os
import re

from flask import Flask
from markupsafe import Markup, escape

from cara.core import text
from cara.posting import drafts


def linkify(value: str) -> Markup:
    """Plain text, escaped, with #tags and @mentions turned into links."""

    def link(match: re.Match) -> str:
        sigil, name = match.group(1), match.group(2).lower()
        # Paths from the public URL map (DESIGN.md §5).
        href = f"/tags/{name}" if sigil == "#" else f"/@{name}"
        return f'<a href="{escape(href)}">{sigil}{escape(match.group(2))}</a>'

    return Markup(text.LINKABLE_RE.sub(link, str(escape(value))))


def absolute(path: str) -> str:
    """An absolute URL for a site path, from BASE_URL (links shared off the site)."""
    return text.site_url(path)


def crop_name(media) -> str:
    """The crop-focus choice matching a media's stored focus point."""
    for name, focus in drafts.CROP_FOCUS.items():
        if focus == (media.crop_x, media.crop_y):
            return name
    return "center"


def init_app(app: Flask) -> None:
    # htmx is optional at run time: pages work without it (it is fetched by `make setup`).
    htmx_available = os.path.exists(os.path.join(app.static_folder, "vendor", "htmx.min.js"))
    app.jinja_env.filters["linkify"] = linkify
    app.jinja_env.filters["absolute"] = absolute
    app.jinja_env.globals.update(htmx_available=htmx_available, crop_name=crop_name)
