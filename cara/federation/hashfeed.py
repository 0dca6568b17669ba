"""Shared AI-hash lists between instances (docs/hash-lists.md, "The shared feed").

Publishing: each instance serves the images its moderators confirmed as AI (the
`hash_feed` entries `cara.posting.known` writes) as a signed, incremental feed,
`GET /federation/hashes?after=<cursor>`, a page of entries and the next cursor. Each page
carries a detached signature (rsa-sha256) by the instance's own key, over the page's
canonical JSON; the key is served at `/federation/hashes/key`.

Subscribing: an admin subscribes to another instance's feed (its key is fetched and pinned
then), trusted (matches reject) or untrusted (matches hold). A sweeper enqueues a pull of
each subscription every FEDERATION_HASH_PULL_SECONDS; a pull fetches the pages after the
subscription's cursor through the SSRF-safe fetcher, checks each page's signature with the
pinned key, and stores its entries as KnownHash (and KnownFeature) rows that keep their
subscription; removals drop the rows of the entry they name. Unsubscribing drops them all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import current_app
from sqlalchemy import select, update

from cara import federation, moderation
from cara.aifilter import hashindex
from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import HashFeedEntry, HashSubscription, InstanceKey, User, utcnow
from cara.core.text import site_url
from cara.federation import fetch, instances, signatures
from cara.posting import known

FORMAT = "cara-hash-feed"
ROTATION = "cara-key-rotation"  # the type of a key-rotation statement
VERSION = 1
PATH = "/federation/hashes"
KEY_PATH = "/federation/hashes/key"
PAGE_SIZE = 20  # images per page: with features (~25 KB each) a page stays under 1 MiB
MAX_PAGES = 50  # per pull; the next pull goes on from the cursor


class FeedError(Exception):
    """A feed page (or the key) could not be used: the message says why."""


class BadSignature(FeedError):
    """A page's signature does not verify with the key it was checked with."""


# --- publishing ------------------------------------------------------------------------------


def instance_key() -> InstanceKey:
    """The instance's current keypair (the newest), made (RSA 2048) and stored the first
    time it is needed."""
    key = db.session.scalar(select(InstanceKey).order_by(InstanceKey.id.desc()).limit(1))
    if key is None:
        public, private = signatures.new_keypair()
        key = InstanceKey(public_pem=public, private_pem=private)
        db.session.add(key)
        db.session.commit()
    return key


def key_document() -> dict:
    """The current public key, and every rotation that led to it (oldest first), so a
    subscriber who pinned any earlier key can follow the chain to this one."""
    key = instance_key()
    rotated = db.session.scalars(
        select(InstanceKey.rotation)
        .where(InstanceKey.rotation.is_not(None))
        .order_by(InstanceKey.id)
    )
    return {
        "id": site_url(KEY_PATH),
        "owner": site_url("/"),
        "publicKeyPem": key.public_pem,
        "rotations": [json.loads(r) for r in rotated],
    }


def key_digest(public_pem: str) -> str:
    """How a rotation statement names the key it replaces: SHA-256 of its PEM text."""
    return hashlib.sha256(public_pem.strip().encode()).hexdigest()


def rotation_statement(old_private_pem: str, old_public_pem: str, new_public_pem: str) -> dict:
    """The statement "new key X", signed by the old key: what lets subscribers re-pin."""
    statement = {
        "type": ROTATION,
        "instance": site_url("/"),
        "previous": key_digest(old_public_pem),
        "publicKeyPem": new_public_pem,
        "created": utcnow().isoformat(timespec="seconds"),
    }
    return {
        "statement": statement,
        "signature": signatures.sign_bytes(old_private_pem, canonical(statement)),
    }


def rotate_key() -> InstanceKey:
    """Give the feed a new key (`flask hashes rotate-key`): the old key signs the statement
    announcing the new one, served in the key document; its private half is then erased."""
    old = instance_key()
    public, private = signatures.new_keypair()
    signed = rotation_statement(old.private_pem, old.public_pem, public)
    key = InstanceKey(public_pem=public, private_pem=private, rotation=json.dumps(signed))
    old.private_pem = ""
    db.session.add(key)
    db.session.flush()
    moderation.audit(None, "rotate-hash-key", "key", key.id, f"new key {key_digest(public)[:16]}")
    db.session.commit()
    return key


def canonical(doc: dict) -> bytes:
    """The bytes a page's signature covers: the page without "signature", keys sorted, no
    spaces, UTF-8."""
    rest = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_cursor(value: str | None) -> int | None:
    """The position a cursor names (0 for none); None for a malformed one."""
    value = (value or "").strip()
    if not value:
        return 0
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _entry(row: HashFeedEntry) -> dict:
    entry: dict = {"cursor": str(row.id), "op": row.op, "ref": row.ref}
    if row.op == "add":
        entry["hashes"] = [{"phash": p, "pdq": q, "variant": v} for p, q, v in row.hashes]
        if row.features:
            entry["features"] = [{"data": base64.b64encode(row.features).decode()}]
    return entry


def page(after: int, limit: int = PAGE_SIZE) -> dict:
    """One signed page of the feed: the entries after `after`, oldest first."""
    settled = utcnow() - timedelta(
        seconds=current_app.config["FEDERATION_HASH_FEED_SETTLE_SECONDS"]
    )
    rows = db.session.scalars(
        select(HashFeedEntry)
        .where(HashFeedEntry.id > after, HashFeedEntry.created_at <= settled)
        .order_by(HashFeedEntry.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = str(rows[-1].id) if rows else (str(after) if after else "")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "instance": site_url("/"),
        "id": site_url(PATH + (f"?{urlencode({'after': after})}" if after else "")),
        "after": str(after) if after else "",
        "next": cursor,
        "more": more,
        "entries": [_entry(row) for row in rows],
    }
    key = instance_key()
    doc["signature"] = {
        "keyId": site_url(KEY_PATH),
        "algorithm": "rsa-sha256",
        "value": signatures.sign_bytes(key.private_pem, canonical(doc)),
    }
    return doc


# --- subscribing -----------------------------------------------------------------------------


HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def feed_url(address: str) -> str | None:
    """The feed URL an admin's input names: an instance address (`https://host`, or a bare
    host) or the feed URL itself; None when it is not one."""
    address = address.strip()
    if not address:
        return None
    if "://" not in address:
        address = "https://" + address
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not HOST.fullmatch(parts.hostname or ""):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    path = parts.path.rstrip("/")
    if path not in ("", PATH):
        return None
    return f"{parts.scheme}://{parts.netloc}{PATH}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _get(url: str) -> dict:
    if instances.is_blocked(url):
        raise FeedError(f"{instances.domain_of(url)} is blocked (defederated)")
    try:
        return fetch.get_json(url, {"Accept": "application/json"})
    except fetch.FetchError as exc:
        raise FeedError(str(exc)) from None


def _fetch_key(feed: str, key_id: str) -> str:
    """The public key `key_id` names, which must be the feed's own instance's."""
    if not isinstance(key_id, str) or _origin(key_id) != _origin(feed):
        raise FeedError("the feed is signed with a key of another server")
    doc = _get(key_id)
    pem = doc.get("publicKeyPem")
    if doc.get("id") != key_id or not isinstance(pem, str):
        raise FeedError("the key document is not the one the feed names")
    return pem


def verify(doc: dict, public_pem: str, feed: str, after: str) -> None:
    """A page is ours to use: our format and version, signed by the pinned key, from the
    subscribed instance, and the page that was asked for (not another one replayed)."""
    if doc.get("format") != FORMAT:
        raise FeedError("not a cara hash feed")
    if doc.get("version") != VERSION:
        raise FeedError(f"unsupported feed version {doc.get('version')!r} (expected {VERSION})")
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "rsa-sha256":
        raise FeedError("the page is not signed (rsa-sha256)")
    try:
        signatures.verify_bytes(public_pem, canonical(doc), str(sig.get("value", "")))
    except signatures.SignatureError:
        raise BadSignature("signature did not verify with the pinned key") from None
    instance = doc.get("instance")
    if not isinstance(instance, str) or instance.rstrip("/") != _origin(feed):
        raise FeedError("the page is from another instance")
    if doc.get("after") != after:
        raise FeedError("the page is not the one asked for")
    if not isinstance(doc.get("entries"), list) or not isinstance(doc.get("next"), str):
        raise FeedError("the page has no entries or next cursor")


def _page_url(feed: str, cursor: str) -> str:
    return feed + (f"?{urlencode({'after': cursor})}" if cursor else "")


def subscribe(address: str, *, trusted: bool, who: User | None = None):
    """Subscribe to another instance's feed: its first page is fetched and its key pinned.
    Returns (subscription, None) or (None, error message). The first pull is enqueued."""
    feed = feed_url(address)
    if feed is None:
        return None, "Give the other instance's address, e.g. https://art.example."
    if _origin(feed) == _origin(site_url("/")):
        return None, "That is this instance."
    if db.session.scalar(select(HashSubscription).where(HashSubscription.url == feed)):
        return None, "Already subscribed to that list."
    try:
        first = _get(feed)
        signature = first.get("signature")
        key_id = signature.get("keyId") if isinstance(signature, dict) else None
        pem = _fetch_key(feed, key_id)
        verify(first, pem, feed, "")
    except FeedError as exc:
        return None, f"Could not use {feed}: {exc}"
    sub = HashSubscription(
        url=feed,
        trusted=trusted,
        key_id=key_id,
        public_pem=pem,
        cursor="",
        error="",
        pulled_at=utcnow(),  # the first pull is enqueued here; the sweeper comes later
        created_by_id=who.id if who else None,
    )
    db.session.add(sub)
    db.session.flush()
    moderation.audit(who, "subscribe-hashes", "hash-list", sub.id, f"{sub.url} ({_trust(sub)})")
    db.session.commit()
    tasks.enqueue(pull_job, sub.id)
    return sub, None


def _trust(sub: HashSubscription) -> str:
    return "trusted" if sub.trusted else "untrusted"


def unsubscribe(sub: HashSubscription, who: User | None = None) -> int:
    """Stop pulling a feed and drop every row it brought; returns the hash rows removed."""
    removed = known.forget_subscription(sub.id)
    detail = f"{sub.url}: {removed} hashes removed"
    moderation.audit(who, "unsubscribe-hashes", "hash-list", sub.id, detail)
    db.session.delete(sub)
    db.session.commit()
    return removed


def set_trust(sub: HashSubscription, trusted: bool, who: User | None = None) -> None:
    """Change what the list's matches do: reject (trusted) or hold (untrusted)."""
    sub.trusted = trusted
    known.set_shared_trust(sub.id, trusted)
    moderation.audit(who, "trust-hashes", "hash-list", sub.id, f"{sub.url} ({_trust(sub)})")
    db.session.commit()


def subscriptions() -> list[HashSubscription]:
    return list(db.session.scalars(select(HashSubscription).order_by(HashSubscription.id)))


def by_address(address: str) -> HashSubscription | None:
    feed = feed_url(address)
    if feed is None:
        return None
    return db.session.scalar(select(HashSubscription).where(HashSubscription.url == feed))


def _note(sub: HashSubscription) -> str:
    return f"shared list of {urlsplit(sub.url).netloc}"


def _apply(sub: HashSubscription, entry, position: int) -> int:
    """Store one entry; returns the hash rows added. FeedError for a malformed entry."""
    if not isinstance(entry, dict):
        raise FeedError(f"entry {position} is not an object")
    op, ref = entry.get("op"), entry.get("ref")
    if not isinstance(ref, str) or not 0 < len(ref) <= 64:
        raise FeedError(f"entry {position}: ref must be text of 1 to 64 characters")
    if op == "remove":
        known.remove_shared(sub.id, ref)
        return 0
    if op != "add":
        raise FeedError(f"entry {position}: unknown op {op!r}")
    listing = {
        "format": "cara-hash-list",
        "version": 2,
        "hashes": entry.get("hashes", []),
        "features": entry.get("features", []),
    }
    try:  # the entry's hashes and features are checked as a hash list's (one reader)
        parsed = hashindex.parse_hash_list(json.dumps(listing), "json")
    except hashindex.HashListError as exc:
        raise FeedError(f"entry {position}: {exc}") from None
    return known.add_shared(sub.id, ref, parsed, trusted=sub.trusted, note=_note(sub))


@dataclass(frozen=True, slots=True)
class Pulled:
    """The outcome of one pull: hash rows added, whether pages remain, the error if any."""

    added: int
    more: bool = False
    error: str = ""


def pull(sub: HashSubscription, max_pages: int = MAX_PAGES) -> Pulled:
    """Fetch and store the subscription's new entries, page by page (each page in its own
    transaction, its cursor with it), and record the outcome on the subscription (time, hash
    rows added, error). An error stops the pull at the page at fault, which is tried again
    next time; the pages before it stay stored."""
    added, more = 0, False
    try:
        for _ in range(max_pages):
            doc = _get(_page_url(sub.url, sub.cursor))
            try:
                verify(doc, sub.public_pem, sub.url, sub.cursor)
            except BadSignature:
                _follow_rotation(sub)  # re-pins, or FeedError saying why not
                verify(doc, sub.public_pem, sub.url, sub.cursor)
            if not _advance(sub, doc["next"]):
                break  # another pull (the worker's, a "Pull now") stored this page first
            try:
                for position, entry in enumerate(doc["entries"], 1):
                    added += _apply(sub, entry, position)
            except FeedError:
                db.session.rollback()
                raise
            db.session.commit()
            more = bool(doc.get("more"))
            if not more:
                break
    except FeedError as exc:
        return _record(sub.id, Pulled(added, error=str(exc)[:1000]))
    return _record(sub.id, Pulled(added, more=more))


def _follow_rotation(sub: HashSubscription) -> None:
    """The pinned key no longer verifies the feed: re-pin the instance's current key if its
    key document holds a chain of rotation statements from the pinned key to it, each signed
    by the key before; otherwise refuse (FeedError)."""
    doc = _get(sub.key_id)
    if doc.get("id") != sub.key_id:
        raise FeedError("the key document is not the one the feed names")
    pem = announced_key(doc, sub.public_pem, _origin(sub.url))
    if pem is None:
        raise FeedError(
            "signature did not verify with the pinned key, and the instance's key document "
            "announces no new key signed by it (if the instance really changed its key, "
            "unsubscribe and subscribe again)"
        )
    sub.public_pem = pem
    detail = f"{sub.url}: new key {key_digest(pem)[:16]}, announced by the pinned one"
    moderation.audit(None, "repin-hashes", "hash-list", sub.id, detail)
    db.session.commit()


def announced_key(doc: dict, pinned: str, origin: str) -> str | None:
    """The key document's current key if its rotations lead there from `pinned`, each
    statement from `origin`'s instance, naming the key before it and signed by it; else None."""
    current = doc.get("publicKeyPem")
    pem = pinned
    rotations = doc.get("rotations")
    for item in rotations if isinstance(rotations, list) else []:
        statement = item.get("statement") if isinstance(item, dict) else None
        if not isinstance(statement, dict) or statement.get("type") != ROTATION:
            continue
        new = statement.get("publicKeyPem")
        instance = statement.get("instance")
        if (
            statement.get("previous") != key_digest(pem)
            or not isinstance(new, str)
            or not isinstance(instance, str)
            or instance.rstrip("/") != origin
        ):
            continue
        try:
            signatures.verify_bytes(pem, canonical(statement), str(item.get("signature", "")))
        except signatures.SignatureError:
            continue
        pem = new
    return pem if pem != pinned and isinstance(current, str) and pem == current else None


def _advance(sub: HashSubscription, cursor: str) -> bool:
    """Move the subscription's cursor from the one its page was asked with, as the first
    write of the page's transaction: a compare-and-set, so two pulls of one subscription at
    once never store a page twice (the second waits for the first's row lock or SQLite's
    write lock, then finds the cursor moved)."""
    moved = db.session.execute(
        update(HashSubscription)
        .where(HashSubscription.id == sub.id, HashSubscription.cursor == sub.cursor)
        .values(cursor=cursor)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        db.session.rollback()
        return False
    sub.cursor = cursor
    return True


def _record(subscription_id: int, outcome: Pulled) -> Pulled:
    sub = db.session.get(HashSubscription, subscription_id)
    if sub is not None:  # unsubscribed meanwhile: nothing to record
        sub.last_pull_at = sub.pulled_at = utcnow()
        sub.last_pull_count = outcome.added
        sub.error = outcome.error
        db.session.commit()
    return outcome


def pull_job(subscription_id: int) -> None:
    """The background pull of one subscription (its outcome is kept on it)."""
    sub = db.session.get(HashSubscription, subscription_id)
    if sub is None or not federation.enabled():
        return
    if pull(sub).more:
        tasks.enqueue(pull_job, subscription_id)  # a long backlog: go on at once


PULL_NOW_PAGES = 5  # pages a "Pull now" fetches in the request; the worker does the rest


def pull_now(sub: HashSubscription) -> Pulled:
    """An admin's "Pull now": a few pages at once, in the request, so the outcome can be
    shown; the rest of a long backlog is enqueued."""
    outcome = pull(sub, max_pages=PULL_NOW_PAGES)
    if outcome.more:
        tasks.enqueue(pull_job, sub.id)
    return outcome


@tasks.sweeper
def sweep_subscriptions() -> int:
    """Enqueue a pull of each subscription not pulled for FEDERATION_HASH_PULL_SECONDS."""
    if not federation.enabled():
        return 0
    due = utcnow() - timedelta(seconds=current_app.config["FEDERATION_HASH_PULL_SECONDS"])
    subs = db.session.scalars(
        select(HashSubscription).where(
            (HashSubscription.pulled_at.is_(None)) | (HashSubscription.pulled_at < due)
        )
    ).all()
    for sub in subs:
        sub.pulled_at = utcnow()  # the attempt: not enqueued again until the next interval
    db.session.commit()
    for sub in subs:
        tasks.enqueue(pull_job, sub.id)
    return len(subs)
