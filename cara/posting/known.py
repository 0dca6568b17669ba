"""Known-image hashes: KnownHash rows (the truth) <-> one in-memory HashIndex per process.

Rows are *listed* (a known AI image: confirmed by a moderator, or imported from a hash list) or
*allowed* (a moderator cleared the image). Matching an upload against them gives:

- a trusted listed row -> ``known-hash``: the post is rejected (still appealable);
- an untrusted listed row (a list imported with ``--untrusted``) -> ``known-hash-untrusted``:
  held for review, never rejected, since nobody here vouched for the list;
- a listed row and an allowed row -> ``known-hash+allowed``: held for review;
- only an allowed row -> ``allow-listed`` ("human"): a moderator has seen this picture and
  cleared it, so provenance or classifier flags alone no longer hold it.

The index is loaded lazily and checked against a cheap fingerprint of the table (row count,
largest id, newest row, flag counts) on every lookup: new rows are added incrementally, any
other change (deletions, flags) rebuilds it. Every process (web, workers) sees the same table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from PIL import Image
from sqlalchemy import case, delete, func, insert, select, update

from cara import imaging
from cara.aifilter import hashindex
from cara.aifilter.signals import (
    KNOWN_HASH,
    KNOWN_HASH_ALLOWED,
    Decision,
    Outcome,
    Signal,
    known_hash_signal,
)
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import HashFeedEntry, KnownFeature, KnownHash, Media, User
from cara.posting import local_features

UNTRUSTED = "known-hash-untrusted"
ALLOWED = "allow-listed"
HASH_SIGNALS = frozenset({KNOWN_HASH, KNOWN_HASH_ALLOWED, UNTRUSTED})
FORMATS = ("csv", "json")
SOURCE_LABELS = {
    "moderator": "confirmed by a moderator",
    "import": "from an imported list",
    "admin": "registered by an admin",
    "subscription": "from another instance's shared list",
}
SHARED = "subscription"  # the source of rows pulled from a subscribed feed


@dataclass(frozen=True, slots=True)
class Entry:
    """What a match needs to explain itself."""

    allow: bool
    trusted: bool
    source: str
    note: str


@dataclass
class _State:
    stamp: tuple | None = None
    index: hashindex.HashIndex = field(default_factory=hashindex.HashIndex)
    entries: dict[int, Entry] = field(default_factory=dict)


_states: dict[str, _State] = {}  # one per database URL (tests run several apps in a process)
# Held while the index is updated AND searched: HashIndex writes are not safe during reads.
_lock = threading.Lock()


# --- the index -------------------------------------------------------------------------------


def _fingerprint() -> tuple:
    """Changes whenever rows are added, deleted or their flags change (one aggregate query)."""
    return tuple(
        db.session.execute(
            select(
                func.count(KnownHash.id),
                func.coalesce(func.max(KnownHash.id), 0),
                func.max(KnownHash.created_at),
                func.coalesce(func.sum(case((KnownHash.allow, 1), else_=0)), 0),
                func.coalesce(func.sum(case((KnownHash.trusted, 1), else_=0)), 0),
            )
        ).one()
    )


def _rows(after_id: int = 0):
    return db.session.execute(
        select(
            KnownHash.id,
            KnownHash.phash,
            KnownHash.pdq,
            KnownHash.allow,
            KnownHash.trusted,
            KnownHash.source,
            KnownHash.note,
            KnownHash.created_at,
        )
        .where(KnownHash.id > after_id)
        .order_by(KnownHash.id)
    ).all()


def _add(state: _State, rows) -> None:
    state.index.add_hex([r.id for r in rows], [r.phash for r in rows], [r.pdq for r in rows])
    shared: dict[tuple, Entry] = {}  # ~50 rows per image (and whole lists) share one Entry
    for r in rows:
        key = (r.allow, r.trusted, r.source, r.note)
        state.entries[r.id] = shared.get(key) or shared.setdefault(key, Entry(*key))


@contextmanager
def _current() -> Iterator[_State]:
    """This database's index, brought up to date with the table, locked while in use."""
    key = db.engine.url.render_as_string(hide_password=True)
    with _lock:
        stamp = _fingerprint()
        state = _states.get(key)
        if state is None or (state.stamp != stamp and not _append(state, stamp)):
            state = _states[key] = _State()
            _add(state, _rows())
            state.stamp = stamp
        yield state


def _append(state: _State, stamp: tuple) -> bool:
    """Add the rows created since the last look, if that alone explains the new fingerprint."""
    count, max_id, newest, allowed, trusted = state.stamp
    rows = _rows(after_id=max_id)
    expected = (
        count + len(rows),
        max([max_id, *(r.id for r in rows)]),
        max([t for t in (newest, *(r.created_at for r in rows)) if t is not None], default=None),
        allowed + sum(r.allow for r in rows),
        trusted + sum(r.trusted for r in rows),
    )
    if not rows or expected != stamp:
        return False  # something was deleted or changed: rebuild
    _add(state, rows)
    state.stamp = stamp
    return True


# --- matching --------------------------------------------------------------------------------


def signals_for(work_image: Image.Image) -> list[Signal]:
    """Known-hash signals for an upload's work image (see the module docstring)."""
    try:
        queries = hashindex.query_hashes(work_image)
    except ValueError:  # too small to hash
        return []
    # The closest match of each kind of row: trusted listed, untrusted listed, allowed.
    best: dict[str, tuple[int, Entry]] = {}
    with _current() as state:
        for match in state.index.search_many(queries):  # best first
            entry = state.entries[match.id]
            kind = "allow" if entry.allow else "trusted" if entry.trusted else "untrusted"
            best.setdefault(kind, (match.pdq_distance, entry))
    listed = best.get("trusted") or best.get("untrusted")
    allowed = best.get("allow")
    if listed is not None:
        distance, entry = listed
        signal = known_hash_signal(
            "pdq", distance, _source(entry), entry.note, allow_listed=allowed is not None
        )
        return [_untrusted(signal) if allowed is None and not entry.trusted else signal]
    if allowed is not None:
        distance = allowed[0]
        return [
            Signal(
                ALLOWED,
                "human",
                max(0.0, 1.0 - distance / 256),
                f"Matches an image a moderator reviewed and cleared (pdq distance {distance})",
            )
        ]
    if (found := local_features.find(work_image)) is not None:
        return [_feature_signal(found)]
    return []


def _untrusted(signal: Signal) -> Signal:
    """A match on a list nobody here vouched for holds the image; it never rejects."""
    return replace(
        signal,
        name=UNTRUSTED,
        evidence=signal.evidence + "; that list is not trusted to reject images, "
        "so a moderator will review it",
    )


def _feature_signal(found: local_features.Found) -> Signal:
    m = found.match
    where = SOURCE_LABELS.get(found.source, found.source)
    what = f": {found.note}" if found.note else ""
    signal = Signal(
        KNOWN_HASH,
        "ai",
        min(1.0, m.coverage),
        f"Matches a known AI-generated image, cropped, rotated or framed ({m.inliers} matching "
        f"points covering {m.coverage:.0%} of this image; {where}{what})",
        definitive=True,
    )
    return signal if found.trusted else _untrusted(signal)


def _source(entry: Entry) -> str:
    return SOURCE_LABELS.get(entry.source, entry.source)


def apply_allow_list(verdict: Decision, signals: list[Signal]) -> Decision:
    """A cleared picture is not flagged again: an allow-list match lifts a hold caused by
    provenance or a classifier. A known-hash match always stands (it holds or rejects)."""
    cleared = any(s.name == ALLOWED for s in signals)
    if cleared and verdict.decision == Outcome.HOLD:
        if not any(s.name in HASH_SIGNALS for s in verdict.reasons):
            return Decision(Outcome.PUBLISH, ())
    return verdict


# --- listing and clearing images ---------------------------------------------------------------


def list_image(media: Media, source: str = "moderator", who: User | None = None, note="") -> int:
    """Store the image's hash variants as a known AI image; returns the rows written."""
    return _store(media, allow=False, source=source, who=who, note=note)


def allow_image(media: Media, who: User | None = None, note: str = "") -> int:
    """Store the image's hash variants on the allow list: cleared, never flagged again."""
    return _store(media, allow=True, source="moderator", who=who, note=note)


def _store(media: Media, *, allow: bool, source: str, who: User | None, note: str) -> int:
    """Replace the image's rows (the latest decision about a picture wins). The caller
    commits, in the same transaction as the decision itself."""
    db.session.execute(delete(KnownHash).where(KnownHash.media_id == media.id))
    local_features.forget(media.id)
    work = work_image_of(media)
    blob = None
    if not allow:
        blob = local_features.store(media.id, work, trusted=True, source=source, note=note, who=who)
    variants = _add_variants(
        work,
        allow=allow,
        source=source,
        trusted=True,
        who=who,
        note=note,
        media_id=media.id,
    )
    _publish(f"m{media.id}", variants if not allow and source == "moderator" else None, blob)
    return len(variants)


def decide_work_image(work: Image.Image, ref: str, *, allow: bool, who: User, note="") -> int:
    """A moderator's decision on an image that has no Media row (one held from elsewhere):
    known AI, with its features and published in our feed under `ref`, or allowed. Final: there
    is no row to replace later. Returns the rows written; the caller commits."""
    blob = None
    if not allow:
        blob = local_features.store(
            None, work, trusted=True, source="moderator", note=note, who=who
        )
    variants = _add_variants(
        work, allow=allow, source="moderator", trusted=True, who=who, note=note
    )
    _publish(ref, None if allow else variants, blob)
    return len(variants)


def _publish(ref: str, variants: list | None, features_blob: bytes | None) -> None:
    """Keep the published feed (docs/hash-lists.md, "The shared feed") in step with a
    moderator's decision: a confirmed image is an `add` entry; a decision that replaces an
    earlier confirmation retracts it (a `remove` entry, and the earlier `add` is deleted, so
    later subscribers never receive a cleared picture's hashes). Moderators' reasons are not
    published. The caller commits."""
    earlier = delete(HashFeedEntry).where(HashFeedEntry.ref == ref, HashFeedEntry.op == "add")
    if db.session.execute(earlier).rowcount:
        db.session.add(HashFeedEntry(op="remove", ref=ref, hashes=[]))
    if variants:
        hashes = [[h.phash_hex, h.pdq_hex, name] for name, h in variants]
        db.session.add(HashFeedEntry(op="add", ref=ref, hashes=hashes, features=features_blob))


def list_file(path, *, trusted: bool = True, who: User | None = None, note: str = "") -> int:
    """Register an image file as a known AI image, as a moderator's confirm does (`flask hashes
    add`); untrusted rows only hold matching uploads. The caller commits."""
    with imaging.truncated_ok():
        work = load_work_image(path)
    local_features.store(None, work, trusted=trusted, source="admin", note=note, who=who)
    return len(
        _add_variants(work, allow=False, source="admin", trusted=trusted, who=who, note=note)
    )


def _add_variants(work: Image.Image, *, allow, source, trusted, who, note, media_id=None) -> list:
    """Add the hash variants (mirror, crops, trims) of one work image; returns them."""
    try:
        variants = hashindex.variant_hashes(work)
    except ValueError:  # too small to hash: nothing to remember
        return []
    db.session.add_all(
        KnownHash(
            phash=h.phash_hex,
            pdq=h.pdq_hex,
            variant=name,
            allow=allow,
            source=source,
            trusted=trusted,
            note=note,
            media_id=media_id,
            created_by_id=who.id if who else None,
        )
        for name, h in variants
    )
    return variants


def work_image_of(media: Media) -> Image.Image:
    """The image as the pipeline hashed it, again: from its largest derivative (already
    upright and sRGB), else from the original."""
    renditions = [
        r for r in media.renditions if r.get("fmt") in ("webp", "jpeg") and not r.get("sq")
    ]
    for rendition in sorted(renditions, key=lambda r: r["w"], reverse=True):
        with storage.rendition_file(media.id, rendition) as path:
            if path is not None:
                return load_work_image(path)
    with storage.original_file(media.original_path) as path:
        return load_work_image(path)


def load_work_image(path) -> Image.Image:
    """Upright RGB (transparency on white), longest side at most media.WORK_SIZE."""
    img, _, _ = imaging.load_oriented(path, imaging.WORK_SIZE)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img.alpha_composite(rgba)
    img = img.convert("RGB")
    img.thumbnail((imaging.WORK_SIZE, imaging.WORK_SIZE), Image.Resampling.LANCZOS)
    return img


# --- backfilling the second stage (`flask filter reindex`) -------------------------------------


@dataclass
class Reindexed:
    """What `reindex_features` did, counted in known AI images."""

    added: int = 0  # features computed from the stored image
    present: int = 0  # had them already
    missing: int = 0  # skipped: no stored image to compute them from
    small: int = 0  # skipped: too small to have local features


def reindex_features(batch: int = 20) -> Reindexed:
    """Compute the local features (KnownFeature rows) of the known AI images that lack them,
    e.g. those confirmed before the second stage existed, from their stored images; commits
    every `batch` images. Idempotent. Images stored here are counted one by one; pulled
    entries by their feed ref; imported and `hashes add` rows, which are not linked to an
    image, by their `orig` rows against their feature rows (only the list or the file can
    give those features back). A confirmed image that gets its features now is published
    again with them, so subscribers receive them too. Workers see the new rows on their next
    lookup (the index follows the table)."""
    result = Reindexed()
    has_features = set(
        db.session.scalars(select(KnownFeature.media_id).where(KnownFeature.media_id.is_not(None)))
    )
    listed = db.session.execute(
        select(KnownHash.media_id, func.min(KnownHash.id))
        .where(KnownHash.media_id.is_not(None), KnownHash.allow.is_(False))
        .group_by(KnownHash.media_id)
        .order_by(KnownHash.media_id)
    ).all()
    todo = []
    for media_id, first_row in listed:
        if media_id in has_features:
            result.present += 1
        else:
            todo.append((media_id, first_row))
    for done, (media_id, first_row) in enumerate(todo, 1):
        _reindex_one(db.session.get(Media, media_id), db.session.get(KnownHash, first_row), result)
        if done % batch == 0:
            db.session.commit()
    db.session.commit()
    shared, shared_with = (
        db.session.scalar(
            select(func.count()).select_from(
                select(model.subscription_id, model.feed_ref)
                .where(model.subscription_id.is_not(None))
                .distinct()
                .subquery()
            )
        )
        for model in (KnownHash, KnownFeature)
    )
    unlinked_images = db.session.scalar(
        select(func.count(KnownHash.id)).where(
            KnownHash.media_id.is_(None),
            KnownHash.subscription_id.is_(None),
            KnownHash.allow.is_(False),
            KnownHash.variant == "orig",
        )
    )
    unlinked_features = db.session.scalar(
        select(func.count(KnownFeature.id)).where(
            KnownFeature.media_id.is_(None), KnownFeature.subscription_id.is_(None)
        )
    )
    result.present += shared_with + min(unlinked_images, unlinked_features)
    result.missing += max(0, shared - shared_with) + max(0, unlinked_images - unlinked_features)
    return result


def _reindex_one(media: Media, row: KnownHash, result: Reindexed) -> None:
    """Store one confirmed image's features from its stored image, with its rows' trust,
    source and note; republish its feed entry with them."""
    try:
        work = work_image_of(media)
    except (OSError, ValueError, Image.DecompressionBombError):
        result.missing += 1  # the files are gone (or unreadable): nothing to compute from
        return
    blob = local_features.store(
        media.id, work, trusted=row.trusted, source=row.source, note=row.note, who=None
    )
    if blob is None:
        result.small += 1
        return
    result.added += 1
    ref = f"m{media.id}"
    entry = db.session.scalar(
        select(HashFeedEntry).where(HashFeedEntry.ref == ref, HashFeedEntry.op == "add")
    )
    if entry is not None and entry.features is None:
        # A new entry, not an edit: subscribers past its cursor receive it again (and replace
        # its rows), new subscribers only see the new one.
        db.session.delete(entry)
        db.session.add(HashFeedEntry(op="add", ref=ref, hashes=entry.hashes, features=blob))


# --- hash-list files (docs/hash-lists.md) --------------------------------------------------


def list_format(filename: str, fmt: str | None = None) -> str:
    """The format asked for, else the one the file name says (.json, else CSV)."""
    if fmt:
        if fmt not in FORMATS:
            raise hashindex.HashListError(f"unknown format {fmt!r}: use csv or json")
        return fmt
    return "json" if filename.lower().endswith(".json") else "csv"


def import_list(
    data: bytes,
    filename: str,
    fmt: str | None = None,
    *,
    trusted: bool = True,
    note: str = "",
    who: User | None = None,
) -> int:
    """Add a hash list's rows as listed (known AI) hashes, all or nothing; `fmt` defaults to
    the one the file name says.

    Imported rows get source "import"; `note` (e.g. the list's name) is kept with each row,
    before the file's own source and note. Untrusted rows only ever hold images for review.
    Raises HashListError naming the line at fault; nothing is written then.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise hashindex.HashListError("not UTF-8 text", line) from None
    parsed = hashindex.parse_hash_list(text, list_format(filename, fmt))
    records = parsed.hashes
    note = note.strip()
    rows = _listed_rows(
        records,
        lambda r: "; ".join(part for part in (note, r.source, r.note) if part),
        source="import",
        trusted=trusted,
        created_by_id=who.id if who else None,
    )
    if rows:
        db.session.execute(insert(KnownHash), rows)
    local_features.import_records(parsed.features, trusted=trusted, note=note, who=who)
    db.session.commit()
    return len(rows)


def _listed_rows(records, note_of, **fields) -> list[dict]:
    """KnownHash insert values for hash-list records: listed (known AI), with `fields`."""
    return [
        {
            "phash": r.phash,
            "pdq": r.pdq,
            "variant": r.variant,
            "allow": False,
            "note": note_of(r),
            **fields,
        }
        for r in records
    ]


OWN = ("moderator", "admin")  # this site's own word: its moderators' confirms, `hashes add`


def export_list(fmt: str, *, include_pulled: bool = False) -> tuple[str, int]:
    """The known-AI hashes this site vouches for as a hash list, and how many: the trusted
    rows its moderators and admins listed, and with `include_pulled` also the trusted rows of
    imported and subscribed lists. A JSON list also carries their local features (version
    2). Allowed rows (hashes of cleared human art) and untrusted rows stay here."""
    stmt = (
        select(KnownHash)
        .where(KnownHash.allow.is_(False), KnownHash.trusted.is_(True))
        .order_by(KnownHash.id)
    )
    if not include_pulled:
        stmt = stmt.where(KnownHash.source.in_(OWN))
    records = [
        hashindex.HashRecord(row.phash, row.pdq, row.variant, row.note, row.source)
        for row in db.session.scalars(stmt)
    ]
    sources = None if include_pulled else OWN
    extra = local_features.export_records(sources) if fmt == "json" else []
    return hashindex.dump_hash_list(records, fmt, extra), len(records)


def stats() -> dict[str, int]:
    """Row counts for the admin page: trusted and untrusted listed rows, allowed rows."""
    trusted = case((KnownHash.trusted, 1), else_=0)
    allowed = case((KnownHash.allow, 1), else_=0)
    total, n_allowed, n_trusted, n_trusted_allowed = db.session.execute(
        select(
            func.count(KnownHash.id),
            func.coalesce(func.sum(allowed), 0),
            func.coalesce(func.sum(trusted), 0),
            func.coalesce(func.sum(allowed * trusted), 0),
        )
    ).one()
    listed_trusted = n_trusted - n_trusted_allowed
    return {
        "trusted": listed_trusted,
        "untrusted": total - n_allowed - listed_trusted,
        "allowed": n_allowed,
    }


# --- rows from subscribed feeds (cara.federation.hashfeed) ------------------------------------


def add_shared(
    subscription_id: int,
    ref: str,
    parsed: hashindex.HashList,
    *,
    trusted: bool,
    note: str,
) -> int:
    """Store one `add` entry of a subscribed feed (validated as a hash list): its hash rows and
    features keep their source (the subscription) and the entry's ref. An entry seen again
    replaces its rows. The caller commits."""
    remove_shared(subscription_id, ref)
    rows = _listed_rows(
        parsed.hashes,
        lambda r: note,
        source=SHARED,
        trusted=trusted,
        subscription_id=subscription_id,
        feed_ref=ref,
    )
    if rows:
        db.session.execute(insert(KnownHash), rows)
    local_features.import_records(
        parsed.features,
        trusted=trusted,
        note=note,
        who=None,
        source=SHARED,
        subscription_id=subscription_id,
        feed_ref=ref,
    )
    return len(rows)


def remove_shared(subscription_id: int, ref: str) -> int:
    """Drop the rows a subscribed feed's entry brought (it was retracted); the caller commits."""
    db.session.execute(
        delete(KnownFeature).where(
            KnownFeature.subscription_id == subscription_id, KnownFeature.feed_ref == ref
        )
    )
    return db.session.execute(
        delete(KnownHash).where(
            KnownHash.subscription_id == subscription_id, KnownHash.feed_ref == ref
        )
    ).rowcount


def forget_subscription(subscription_id: int) -> int:
    """Drop every row a subscription brought (unsubscribing); the caller commits."""
    db.session.execute(delete(KnownFeature).where(KnownFeature.subscription_id == subscription_id))
    return db.session.execute(
        delete(KnownHash).where(KnownHash.subscription_id == subscription_id)
    ).rowcount


def set_shared_trust(subscription_id: int, trusted: bool) -> None:
    """A subscription's rows reject (trusted) or hold (untrusted) from now on; the caller
    commits (the index sees the changed flags and rebuilds)."""
    for model in (KnownHash, KnownFeature):
        db.session.execute(
            update(model).where(model.subscription_id == subscription_id).values(trusted=trusted)
        )


def shared_counts() -> dict[int, int]:
    """Hash rows per subscription, for the admin page."""
    return dict(
        db.session.execute(
            select(KnownHash.subscription_id, func.count(KnownHash.id))
            .where(KnownHash.subscription_id.is_not(None))
            .group_by(KnownHash.subscription_id)
        ).all()
    )
