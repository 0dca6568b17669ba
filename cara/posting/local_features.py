"""The second matching stage: known AI images found again after crops, rotations, frames,
caption bars, screenshots and collages (cara.aifilter.features), behind pHash + PDQ.

KnownFeature rows (one per known image, written beside its KnownHash rows when a moderator
confirms it or an admin registers a file) are the truth; each process keeps one FeatureIndex
per database, brought up to date with the table on every lookup (new rows are added, anything
else rebuilds it). The stage runs only when the first one found no listed match, and only
while there is at least one row, so instances without known images pay nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import current_app
from PIL import Image
from sqlalchemy import case, delete, func, select

from cara.aifilter import features, hashindex
from cara.core.extensions import db
from cara.core.models import KnownFeature, User


@dataclass(frozen=True, slots=True)
class Found:
    """A verified match and what the signal must say about the known image."""

    match: features.FeatureMatch
    trusted: bool
    source: str
    note: str


@dataclass
class _State:
    stamp: tuple | None = None
    index: features.FeatureIndex = field(default_factory=features.FeatureIndex)
    rows: dict[int, tuple[bool, str, str]] = field(default_factory=dict)  # id -> trusted, ...


_states: dict[str, _State] = {}
_lock = threading.Lock()  # FeatureIndex.add/build must not run during a search


def enabled() -> bool:
    return bool(current_app.config["FILTER_LOCAL_FEATURES"])


def store(
    media_id: int | None,
    work_image: Image.Image,
    *,
    trusted: bool,
    source: str,
    note: str,
    who: User | None,
) -> bytes | None:
    """Add the features of a known AI image (the caller commits); nothing for a tiny image.
    Returns the stored blob (the hash feed publishes it), None when nothing was stored."""
    if not enabled():
        return None
    found = features.extract_pil_or_none(work_image)
    if found is None:
        return None
    data = features.serialize(found)
    db.session.add(
        KnownFeature(
            data=data,
            trusted=trusted,
            source=source,
            note=note,
            media_id=media_id,
            created_by_id=who.id if who else None,
        )
    )
    return data


def import_records(
    records: Sequence[hashindex.FeatureRecord],
    *,
    trusted: bool,
    note: str,
    who: User | None,
    source: str = "import",
    subscription_id: int | None = None,
    feed_ref: str | None = None,
) -> None:
    """Add the feature records of an imported hash list (version 2) or of a subscribed feed's
    entry, validated by the parser; `note` as for its hash rows. The caller commits."""
    db.session.add_all(
        KnownFeature(
            data=r.data,
            trusted=trusted,
            source=source,
            note="; ".join(part for part in (note, r.source, r.note) if part),
            created_by_id=who.id if who else None,
            subscription_id=subscription_id,
            feed_ref=feed_ref,
        )
        for r in records
    )


def export_records(sources: Sequence[str] | None = None) -> list[hashindex.FeatureRecord]:
    """The features of the known AI images this site vouches for (trusted rows), of these
    sources only when given."""
    stmt = select(KnownFeature.data, KnownFeature.note, KnownFeature.source).where(
        KnownFeature.trusted.is_(True)
    )
    if sources is not None:
        stmt = stmt.where(KnownFeature.source.in_(sources))
    rows = db.session.execute(stmt.order_by(KnownFeature.id)).all()
    return [hashindex.FeatureRecord(bytes(r.data), r.note, r.source) for r in rows]


def forget(media_id: int) -> None:
    """Drop an image's features (it was cleared, or confirmed again)."""
    db.session.execute(delete(KnownFeature).where(KnownFeature.media_id == media_id))


def find(work_image: Image.Image) -> Found | None:
    """The best verified match of an upload's work image among the known images, if any."""
    if not enabled():
        return None
    with _lock:
        state = _current()
        if not state.rows:
            return None
        matches = features.query(state.index, work_image, limit=1)
        if not matches:
            return None
        trusted, source, note = state.rows[matches[0].id]
    return Found(matches[0], trusted, source, note)


def _fingerprint() -> tuple:
    return tuple(
        db.session.execute(
            select(
                func.count(KnownFeature.id),
                func.coalesce(func.max(KnownFeature.id), 0),
                func.coalesce(func.sum(case((KnownFeature.trusted, 1), else_=0)), 0),
            )
        ).one()
    )


def _load(state: _State, after_id: int) -> int:
    """Add the rows after `after_id`; return how many."""
    rows = db.session.execute(
        select(
            KnownFeature.id,
            KnownFeature.data,
            KnownFeature.trusted,
            KnownFeature.source,
            KnownFeature.note,
        )
        .where(KnownFeature.id > after_id)
        .order_by(KnownFeature.id)
    ).all()
    for r in rows:
        state.index.add(r.id, features.deserialize(r.data))
        state.rows[r.id] = (r.trusted, r.source, r.note)
    return len(rows)


def _current() -> _State:
    """This database's index, up to date with the table (call with _lock held)."""
    key = db.engine.url.render_as_string(hide_password=True)
    stamp = _fingerprint()
    state = _states.get(key)
    if state is not None and state.stamp != stamp:
        count, max_id, trusted = state.stamp
        new = db.session.scalar(
            select(func.count(KnownFeature.id)).where(
                KnownFeature.trusted, KnownFeature.id > max_id
            )
        )
        added = _load(state, max_id) if stamp[0] > count else 0
        if (count + added, stamp[1], trusted + new) != stamp:
            state = None  # rows were deleted or changed: rebuild
    if state is None:
        state = _states[key] = _State()
        _load(state, 0)
    state.stamp = stamp
    return state
