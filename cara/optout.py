"""Keeping artists' work out of AI training: the signals we send and the rules we enforce.

Signals (requests that honest crawlers follow): robots.txt with Content-Signal, Spawning's
ai.txt, W3C TDMRep (well-known file, ODRL policy, headers, meta tags) and X-Robots-Tag
noai/noimageai. Enforcement (raises the cost for the rest) is the web layer's, in
cara/web/optout.py: a 403 for listed AI user agents, per-IP rate limits on media and listings,
hotlink protection for the largest image and a cap on the largest public size. The crawler list
is the ai.robots.txt project's (cara/data/), minus search engines, extended by
instance/ai-crawlers.txt. See docs/ai-optout.md.
"""

import functools
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from flask import current_app

from cara.core import text

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
# The ai.robots.txt project's list, as published (source and licence: cara/data/README.md).
UPSTREAM_LIST = DATA / "ai-robots-txt" / "robots.json"
# Its search engines and link previewers, which we leave alone.
NOT_BLOCKED = DATA / "not-blocked.txt"
INSTANCE_UPSTREAM = "ai-robots.json"  # in the instance folder: a newer robots.json, replaces ours
INSTANCE_LIST = "ai-crawlers.txt"  # in the instance folder: the admin's additions
# A user-agent name: robots.txt product tokens (letters, digits, "_", "-", "."), and the "/" and
# single inner spaces some agents' names carry ("iaskspider/2.0", "Kangaroo Bot").
TOKEN_RE = re.compile(r"[A-Za-z0-9_./-]+(?: [A-Za-z0-9_./-]+)*")

ROBOTS_TAGS = "noai, noimageai"
CONTENT_SIGNAL = "search=yes, ai-train=no, ai-input=no"
POLICY_PATH = "/.well-known/tdm-policy.json"
# TDMRep (Final Community Group Report), section "JSON-LD context and identifier of a Policy":
# the @context MUST be this array of two values.
TDM_POLICY_CONTEXT = ("http://www.w3.org/ns/odrl.jsonld", "http://www.w3.org/ns/tdmrep.jsonld")

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


def parse_robots_json(data: str) -> tuple[str, ...]:
    """The agent names of an ai.robots.txt `robots.json`, in file order; ValueError says what is
    wrong with one that is not."""
    try:
        agents = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(agents, dict) or not agents:
        raise ValueError("expected a JSON object with one entry per user agent")
    for name, about in agents.items():
        if not TOKEN_RE.fullmatch(name):
            raise ValueError(f"not a user-agent name: {name!r}")
        if not isinstance(about, dict):
            raise ValueError(f"{name}: expected an object describing the agent")
    return tuple(agents)


def _list_tokens(data: str, path: str) -> tuple[str, ...]:
    """Tokens of a one-a-line list; a bad line is logged and skipped."""
    tokens = []
    for number, line in enumerate(data.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if TOKEN_RE.fullmatch(token):
            tokens.append(token)
        else:  # a typo must not break robots.txt for everyone
            log.warning("%s:%d: not a user-agent token, ignored: %r", path, number, token)
    return tuple(tokens)


@functools.lru_cache(maxsize=16)
def _read_tokens(path: str, stamp: tuple[int, int]) -> tuple[str, ...]:
    """Tokens of one list file; cached until the file changes (its mtime and size are the key)."""
    data = Path(path).read_text(encoding="utf-8", errors="replace")
    if not path.endswith(".json"):
        return _list_tokens(data, path)
    try:
        return parse_robots_json(data)
    except ValueError as exc:  # hand-edited: fall back to the shipped list, loudly
        log.warning("%s: %s; using the list cara ships", path, exc)
        return ()


def _tokens_in(path: Path) -> tuple[str, ...]:
    try:
        st = path.stat()
    except OSError:  # no instance list is the normal case
        return ()
    return _read_tokens(str(path), (st.st_mtime_ns, st.st_size))


def crawler_tokens(instance_path: str | None = None) -> tuple[str, ...]:
    """The upstream list (the instance's newer copy if there is one) minus the agents we leave
    alone, then the admin's additions; duplicates (any case) dropped, order kept."""
    instance = Path(instance_path or current_app.instance_path)
    upstream = _tokens_in(instance / INSTANCE_UPSTREAM) or _tokens_in(UPSTREAM_LIST)
    return _merged(upstream, _tokens_in(NOT_BLOCKED), _tokens_in(instance / INSTANCE_LIST))


@functools.lru_cache(maxsize=16)
def _merged(upstream: tuple, spared_list: tuple, additions: tuple) -> tuple[str, ...]:
    # Every request asks (the crawler check): merged once per version of the three lists.
    spared = {t.lower() for t in spared_list}
    # The admin's additions come last and may block a spared agent.
    candidates = [t for t in upstream if t.lower() not in spared]
    candidates += additions
    seen: set[str] = set()
    tokens = []
    for token in candidates:
        if token.lower() not in seen:
            seen.add(token.lower())
            tokens.append(token)
    return tuple(tokens)


def update_upstream(data: str, instance_path: str) -> tuple[list[str], list[str]]:
    """Install a newer ai.robots.txt `robots.json` (its text) as the instance's copy.

    Validates it first (ValueError, nothing written); returns the agents this adds to and
    removes from what the site blocks.
    """
    parse_robots_json(data)
    before = crawler_tokens(instance_path)
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: a request never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=instance, prefix=".ai-robots-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.replace(tmp, instance / INSTANCE_UPSTREAM)
    after = crawler_tokens(instance_path)
    return _missing_from(after, before), _missing_from(before, after)


def _missing_from(tokens: Iterable[str], other: Iterable[str]) -> list[str]:
    known = {t.lower() for t in other}
    return [t for t in tokens if t.lower() not in known]


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
        "@context": list(TDM_POLICY_CONTEXT),
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
