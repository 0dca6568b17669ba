"""Enforcing the AI opt-out on every request: headers, meta tags, crawler blocks, rate limits,
hotlink protection (the signals themselves are cara.optout's)."""

import functools
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, request

from cara.core.extensions import limiter
from cara.optout import (
    EXEMPT_ENDPOINTS,
    RATE_LIMITED,
    ROBOTS_TAGS,
    ai_crawler,
    policy_url,
)
from cara.web import security

# --- Per request --------------------------------------------------------------------------


def _mark_noindex(user) -> bool:
    """Note for the response headers that this page shows the work of an artist who asked
    search engines to leave them out."""
    if user is not None and getattr(user, "noindex", False):
        g.optout_noindex = True
        return True
    return False


def robots_meta(user=None) -> str:
    """Content of the robots meta tag of a page about `user`'s work (a Jinja global)."""
    return f"noindex, {ROBOTS_TAGS}" if _mark_noindex(user) else ROBOTS_TAGS


def _our_hosts() -> set[str]:
    hosts = set()
    for origin in ("//" + request.host, current_app.config.get("BASE_URL") or ""):
        try:
            host = urlsplit(origin).hostname
        except ValueError:
            continue
        if host:
            hosts.add(host)
    return hosts


def _foreign_referer() -> bool:
    """True when a Referer names another site. No Referer (feed readers, privacy settings,
    direct visits) is not hotlinking."""
    referer = request.headers.get("Referer")
    if not referer:
        return False
    try:
        host = urlsplit(referer).hostname
    except ValueError:  # malformed: no honest browser sends it
        return True
    return host is not None and host not in _our_hosts()


def guard_derivative(media, name: str) -> None:
    """Refuse what must not be public: a rendition wider than MAX_PUBLIC_WIDTH (404), and the
    largest rendition embedded on another site (403, when HOTLINK_PROTECTION is on)."""
    config = current_app.config
    widths = {r.get("name"): int(r.get("w") or 0) for r in media.renditions or []}
    width, cap = widths.get(name, 0), config["MAX_PUBLIC_WIDTH"]
    if width > cap:
        abort(404)
    largest = max((w for w in widths.values() if w <= cap), default=0)
    if config["HOTLINK_PROTECTION"] and width == largest:
        if _foreign_referer():
            abort(403, description="This image can be seen on this site; it is not for embedding.")
        g.optout_vary_referer = True  # a shared cache must not hand our copy to other sites
        # Browsers also refuse it to other sites' pages when no Referer is sent.
        security.resource_policy("same-site")
    else:
        # Smaller renditions may be embedded: feed readers and link previews show them.
        security.resource_policy("cross-origin")
    _mark_noindex(media.post.author if media.post is not None else None)


def _block_ai_crawlers():
    if not current_app.config["AI_CRAWLERS_BLOCK"] or request.endpoint in EXEMPT_ENDPOINTS:
        return None
    agent = ai_crawler(request.headers.get("User-Agent"))
    if agent:
        abort(
            403,
            description=f"This site does not serve AI crawlers ({agent}): the art here is not "
            "licensed for AI training. See /robots.txt.",
        )
    return None


def _signal_headers(response):
    h = response.headers
    tags = f"noindex, {ROBOTS_TAGS}" if g.get("optout_noindex") else ROBOTS_TAGS
    h.setdefault("X-Robots-Tag", tags)
    h.setdefault("tdm-reservation", "1")
    h.setdefault("tdm-policy", policy_url())
    if g.get("optout_vary_referer"):
        response.vary.add("Referer")
    return response


# Blueprint limits live in the shared Limiter, not the app: register each blueprint once per
# process (tests build many apps); the limit strings are read from each app's config.
_limited: set[str] = set()


def _limit_blueprints(app: Flask) -> None:
    for name, key in RATE_LIMITED.items():
        blueprint = app.blueprints.get(name)
        if blueprint is None or name in _limited:
            continue
        limit = functools.partial(_configured, key)
        limiter.shared_limit(limit, scope=key.lower(), methods=["GET", "HEAD"])(blueprint)
        _limited.add(name)


def _configured(key: str) -> str:
    return current_app.config[key] or ""  # empty: no limit


def init_app(app: Flask) -> None:
    """Call after the blueprints are registered (their rate limits are attached here)."""
    app.before_request(_block_ai_crawlers)
    app.after_request(_signal_headers)
    app.jinja_env.globals["robots_meta"] = robots_meta
    app.context_processor(lambda: {"tdm_policy_url": policy_url()})  # base.html's meta tag
    _limit_blueprints(app)
