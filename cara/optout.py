"""Keeping artists' work out of AI training: the signals we send and the rules we enforce.

Signals (requests that honest crawlers follow): robots.txt with Content-Signal, Spawning's
ai.txt, W3C TDMRep (well-known file, ODRL policy, headers, meta tags) and X-Robots-Tag
noai/noimageai. Enforcement (raises the cost for the rest) is the web layer's, in
cara/web/optout.py: a 403 for listed AI user agents, per-IP rate limits on media and listings,
hotlink protection for the largest image and a cap on the largest public size. The crawler list
is cara/data/ai-crawlers.txt, extended by instance/ai-crawlers.txt. See docs/ai-optout.md.
"""

import functools
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from flask import current_app

from cara.core import text

log = logging.getLogger(__name__)

BUILTIN_LIST = Path(__file__).parent / "data" / "ai-crawlers.txt"
INSTANCE_LIST = "ai-crawlers.txt"  # in the instance folder; adds to BUILTIN_LIST
# A robots.txt product token (RFC 9309 allows letters, "_" and "-"; digits and dots occur).
TOKEN_RE = re.compile(r"[A-Za-z0-9_.-]+")

ROBOTS_TAGS = "noai, noimageai"
CONTENT_SIGNAL = "search=yes, ai-train=no, ai-input=no"
POLICY_PATH = "/.well-known/tdm-policy.json"

# Private pages, forms and search results: nothing a search engine should keep.
PRIVATE_PATHS = (
    "/settings",
    "/moderation",
    "/notifications",
    "/bookmarks",
    "/search",
    "/login",
    "/signup",
    "/password",
    "/posts/new",
)
# Served to every agent, listed or not: a crawler must be able to read the rules (a 4xx
# robots.txt reads as "no rules at all"), and monitoring must reach the health check.
EXEMPT_ENDPOINTS = frozenset(
    {"meta.robots_txt", "meta.ai_txt", "meta.tdmrep", "meta.tdm_policy", "meta.healthz"}
)
# Blueprint -> config key of its per-IP limit, shared by all its GET routes. Blueprints that do
# not exist (yet) are skipped.
RATE_LIMITED = {
    "media": "MEDIA_RATE_LIMIT",
    "feed": "LISTING_RATE_LIMIT",
    "profiles": "LISTING_RATE_LIMIT",
    "search": "LISTING_RATE_LIMIT",
    "tags": "LISTING_RATE_LIMIT",
}
# Image types named in ai.txt, as Spawning's generator writes them; "/" and "*" cover the rest.
AI_TXT_TYPES = ("avif", "webp", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "svg", "html")


# --- The crawler list ---------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _read_tokens(path: str, mtime_ns: int) -> tuple[str, ...]:
    """Tokens of one list file; cached until the file changes (mtime is part of the key)."""
    tokens = []
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if TOKEN_RE.fullmatch(token):
            tokens.append(token)
        else:  # a typo must not break robots.txt for everyone
            log.warning("%s:%d: not a user-agent token, ignored: %r", path, number, token)
    return tuple(tokens)


def _tokens_in(path: Path) -> tuple[str, ...]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:  # no instance list is the normal case
        return ()
    return _read_tokens(str(path), mtime)


def crawler_tokens(instance_path: str | None = None) -> tuple[str, ...]:
    """Our list, then the admin's additions; duplicates (any case) dropped, order kept."""
    instance = Path(instance_path or current_app.instance_path)
    seen: set[str] = set()
    tokens = []
    for token in _tokens_in(BUILTIN_LIST) + _tokens_in(instance / INSTANCE_LIST):
        if token.lower() not in seen:
            seen.add(token.lower())
            tokens.append(token)
    return tuple(tokens)


@functools.lru_cache(maxsize=16)
def _matcher(tokens: tuple[str, ...]) -> re.Pattern:
    # Whole words only, so "omgili" does not also catch an unrelated "Homgilix"; longest first.
    alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])", re.IGNORECASE)


def ai_crawler(user_agent: str | None, tokens: tuple[str, ...] | None = None) -> str | None:
    """The listed token a User-Agent carries (whole word, any case), or None."""
    tokens = crawler_tokens() if tokens is None else tokens
    if not user_agent or not tokens:
        return None
    match = _matcher(tokens).search(user_agent[:2048])
    if match is None:
        return None
    found = match.group(0).lower()
    return next(t for t in tokens if t.lower() == found)


# --- The signal files ---------------------------------------------------------------------


def robots_txt(tokens: Iterable[str] | None = None) -> str:
    """robots.txt: listed AI agents may fetch nothing; everyone else gets content signals."""
    tokens = list(crawler_tokens() if tokens is None else tokens)
    lines = [
        "# The art on this site is made by people and is not licensed for AI training.",
        "# What this site asks of crawlers, and why: /about/ai",
        "",
    ]
    if tokens:
        lines += ["# AI crawlers and dataset builders: nothing here, please."]
        lines += [f"User-agent: {t}" for t in tokens]
        lines += ["Disallow: /", ""]
    lines += [
        "# Content signals (contentsignals.org): search = building a search index and showing",
        "# links and short excerpts; ai-input = feeding content to AI models at answer time;",
        "# ai-train = training or fine-tuning AI models. 'no' is an express reservation of",
        "# rights under Article 4 of EU Directive 2019/790 on copyright in the Digital Single",
        "# Market.",
        "User-agent: *",
        f"Content-Signal: {CONTENT_SIGNAL}",
        *(f"Disallow: {p}" for p in PRIVATE_PATHS),
        "Allow: /",  # after the Disallow lines: first-match parsers read them in order
        "",
    ]
    return "\n".join(lines)


def ai_txt() -> str:
    """Spawning's ai.txt (robots.txt syntax): no file here may go into AI datasets."""
    lines = [
        "# Spawning AI",
        "# Prevent datasets from using the following file types",
        "# The art on this site is not licensed for AI training: /about/ai",
        "",
        "User-Agent: *",
        *(f"Disallow: *.{ext}" for ext in AI_TXT_TYPES),
        "Disallow: /media/",
        "Disallow: /",
        "Disallow: *",
        "",
    ]
    return "\n".join(lines)


def tdmrep(policy: str) -> list[dict]:
    """/.well-known/tdmrep.json (W3C TDMRep): TDM rights reserved site-wide, with a policy."""
    return [{"location": "/", "tdm-reservation": 1, "tdm-policy": policy}]


def tdm_policy(base_url: str, site_name: str = "cara") -> dict:
    """The TDMRep ODRL policy (JSON-LD): mining only with the consent of the rightsholder.

    Each artist owns their work; this site grants no licence of its own, so the only offer is
    "ask first" (and the artists' answer, written into every image, is no).
    """
    base = base_url.rstrip("/")
    return {
        "@context": ["http://www.w3.org/ns/odrl.jsonld", {"tdm": "http://www.w3.org/ns/tdmrep#"}],
        "@type": "Offer",
        "profile": "http://www.w3.org/ns/tdmrep",
        "uid": base + POLICY_PATH,
        "assigner": {"uid": base + "/", "vcard:fn": site_name, "vcard:hasURL": base + "/about/ai"},
        "permission": [
            {"target": base + "/", "action": "tdm:mine", "duty": [{"action": "obtainConsent"}]}
        ],
    }


def policy_url() -> str:
    return text.site_url(POLICY_PATH)
