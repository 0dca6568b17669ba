"""Keyset pagination: opaque cursors and pages (never OFFSET)."""

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, and_, literal, or_

from cara.core.extensions import db

# Ids are INTEGER columns: 32-bit on PostgreSQL (64-bit on SQLite); beyond this no row exists.
MAX_ID = 2**31 - 1


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


def _typed(kind: type, value):
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is int:
        return cursor_id(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def decode_key(cursor: str | None, *kinds: type) -> tuple | None:
    """A cursor's values as `kinds` (datetime, int ids, float), or None (page 1) when it is
    missing or was tampered with."""
    values = decode_cursor(cursor)
    try:
        if len(values) != len(kinds):
            raise ValueError("wrong length")
        return tuple(_typed(kind, value) for kind, value in zip(kinds, values, strict=True))
    except (TypeError, ValueError):
        return None


def time_key(cursor: str | None) -> tuple | None:
    """(datetime, id) from a cursor: the key of most pages."""
    return decode_key(cursor, datetime, int)


def _after(columns: tuple, key: tuple, ascending: bool):
    """Rows strictly after `key` in the order of `columns` (one id, or a sort value and an id)."""
    if len(columns) == 1:
        return columns[0] > key[0] if ascending else columns[0] < key[0]
    (sort, tie), (value, tie_value) = columns, key
    if ascending:
        return and_(sort >= value, or_(sort > value, tie > tie_value))
    # `sort <= value` first: an index range, so page 500 costs what page 1 does.
    return and_(sort <= value, or_(sort < value, tie < tie_value))


def keyset_select(stmt, columns: tuple, key: tuple | None, limit: int, *, ascending=False):
    """`stmt` (a select of one entity or id) in the order of `columns`, whose last column is
    unique (an id), after `key` (the previous page's last values, or bound parameters for a
    statement built once), with `columns` added and one row more than `limit`."""
    if key is not None:
        stmt = stmt.where(_after(columns, key, ascending))
    order = [c.asc() if ascending else c.desc() for c in columns]
    return stmt.add_columns(*columns).order_by(*order).limit(inline(limit + 1))


def inline(value: int | str):
    """A value written into the SQL, not bound. psycopg prepares a statement run five times,
    and Postgres's generic plan for an unknown value can be far worse than a plan for the
    value: for an unknown LIMIT it expects 1,000 rows and hashes a scan of every post (11 ms
    for a feed page), so it keeps re-planning instead (~1.5 ms a page); for an unknown
    tsquery it walks every post for a rare word (150 ms instead of 2)."""
    return literal(value, Integer if isinstance(value, int) else String, literal_execute=True)


def page_of(rows: list, limit: int, prefix=()) -> Page:
    """The page of `keyset_select`'s rows; `prefix` values go into the next cursor ahead of
    the key (e.g. the trending snapshot)."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(*prefix, *rows[-1][1:]) if more else None
    return Page([row[0] for row in rows], cursor)


def keyset(
    stmt, columns: tuple, key: tuple | None, limit: int, *, ascending=False, prefix=()
) -> Page:
    """One page of `stmt` in the order of `columns` after `key` (see keyset_select)."""
    rows = db.session.execute(keyset_select(stmt, columns, key, limit, ascending=ascending)).all()
    return page_of(rows, limit, prefix)
