"""Text rules shared by every area: #tags, @mentions, and the site's absolute URLs."""

import re

from flask import current_app

TAG_RE = re.compile(r"#?([a-z0-9_]{1,50})")
HASHTAG_RE = re.compile(r"(?<![\w&])#([A-Za-z0-9_]{1,50})")
MENTION_RE = re.compile(r"(?<![\w@])@([a-z0-9_]{3,30})")
# #tags and @mentions inside text already escaped for HTML (not inside entities or URLs).
LINKABLE_RE = re.compile(r"(?<![\w&/])([#@])([A-Za-z0-9_]{1,50})")


def parse_tags(text: str) -> list[str]:
    """'#Ink, watercolour sketch' -> ['ink', 'watercolour', 'sketch'] (unique, in order)."""
    names = [m.group(1) for m in TAG_RE.finditer(text.lower())]
    return list(dict.fromkeys(names))


def hashtags(text: str) -> list[str]:
    """The #hashtags of a caption, lower-cased, unique, in order."""
    return list(dict.fromkeys(t.lower() for t in HASHTAG_RE.findall(text)))


def mentions(text: str, limit: int) -> list[str]:
    """The @usernames mentioned in `text`, unique, in order, at most `limit`."""
    return list(dict.fromkeys(m.lower() for m in MENTION_RE.findall(text)))[:limit]


def site_url(path: str = "") -> str:
    """An absolute URL on this site, always from BASE_URL: never from a request's Host."""
    return current_app.config["BASE_URL"].rstrip("/") + path
