"""Keyset pagination: opaque cursors and pages (never OFFSET)."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

MAX_ID = 2**63 - 1


@dataclass
class Page:
    items: list
    next_cursor: str | None


def encode_cursor(*values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list | None:
    """An opaque cursor back to its values; None for a missing or malformed one (page 1)."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return values if isinstance(values, list) else None


def cursor_id(value) -> int:
    """An id from a cursor, refused (ValueError) when out of the database's range."""
    value = int(value)
    if not 0 <= value <= MAX_ID:
        raise ValueError("id out of range")
    return value


def time_key(cursor: str | None):
    """(datetime, id) from a cursor, or None (page 1) when missing or tampered with."""
    values = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(values[0]), cursor_id(values[1])
    except (TypeError, ValueError, IndexError):
        return None
