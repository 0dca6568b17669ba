"""Remote actors: found by WebFinger, fetched (safely), stored, refreshed when their key
changes."""

import re
from urllib.parse import quote, urlsplit

from flask import current_app
from sqlalchemy import func, select

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import RemoteActor, User, utcnow
from cara.core.text import site_url
from cara.federation import fetch, instances, keys, media

AP_TYPES = ("application/activity+json", "application/ld+json")
ACTOR_TYPES = ("Person", "Service", "Application", "Group", "Organization")
FetchError = fetch.FetchError
HANDLE_RE = re.compile(r"^@?([A-Za-z0-9_.\-]{1,100})@([A-Za-z0-9.\-]{1,253}(?::\d{1,5})?)$")


def parse_handle(handle: str) -> tuple[str, str] | None:
    """'@alice@example.org' -> ('alice', 'example.org'), else None."""
    match = HANDLE_RE.match(handle.strip())
    return (match.group(1), match.group(2).lower()) if match else None


def _get(url: str, signer: User | None = None) -> dict:
    """GET a document, signed as `signer` or else as the instance actor (key fetches too):
    servers in authorized-fetch mode answer signed GETs only."""
    if instances.is_blocked(url):
        raise FetchError(f"{instances.domain_of(url)} is blocked here")
    return keys.signed_get(signer, url)


def _str(doc: dict, name: str) -> str:
    value = doc.get(name)
    return value if isinstance(value, str) else ""


def _id(value) -> str:
    """An object's id whether it is given inline or as a URL."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def store(doc: dict) -> RemoteActor:
    """Create or update the row of an actor document; FetchError if it is not a usable actor."""
    uri = _str(doc, "id")
    key = doc.get("publicKey") if isinstance(doc.get("publicKey"), dict) else {}
    inbox = _str(doc, "inbox")
    if doc.get("type") not in ACTOR_TYPES or not uri or not inbox:
        raise FetchError("not an actor with an inbox")
    if uri.startswith(site_url("/")):
        raise FetchError("a local actor is not remote")
    if _str(key, "owner") != uri or not _str(key, "publicKeyPem"):
        raise FetchError("the actor has no public key of its own")
    origin = urlsplit(uri).netloc
    if urlsplit(_str(key, "id")).netloc != origin or urlsplit(inbox).netloc != origin:
        raise FetchError("the actor's key or inbox is on another host")
    endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
    row = db.session.scalar(select(RemoteActor).filter_by(uri=uri)) or RemoteActor(uri=uri)
    row.username = (_str(doc, "preferredUsername") or uri.rstrip("/").rpartition("/")[2])[:100]
    row.domain = origin.lower()
    row.name = (_str(doc, "name") or row.username)[:200]
    row.url = _str(doc, "url")[:500] if isinstance(doc.get("url"), str) else uri
    row.inbox = inbox[:500]
    row.shared_inbox = _str(endpoints, "sharedInbox")[:500] or None
    row.key_id = _str(key, "id")[:500]
    row.public_pem = key["publicKeyPem"]
    row.fetched_at = utcnow()
    icon = doc.get("icon") if isinstance(doc.get("icon"), dict) else {}
    icon_url = _str(icon, "url")[:500] if _str(icon, "url").startswith("http") else ""
    new_icon = icon_url != (row.avatar or {}).get("url", "")
    if new_icon:
        row.avatar = {"url": icon_url} if icon_url else None
    db.session.add(row)
    db.session.commit()
    if new_icon and icon_url:
        tasks.enqueue(media.import_avatar, row.id)
    return row


def by_uri(uri: str, refresh: bool = False, signer: User | None = None) -> RemoteActor:
    row = db.session.scalar(select(RemoteActor).filter_by(uri=uri))
    if row is not None and not refresh:
        return row
    return store(_get(uri, signer))


def by_key_id(key_id: str, refresh: bool = False) -> RemoteActor:
    """The actor owning a signature's key: the stored one, else (or with `refresh`, after a
    failed check: keys rotate) fetched again."""
    row = db.session.scalar(select(RemoteActor).filter_by(key_id=key_id))
    if row is not None and not refresh:
        return row
    doc = _get(key_id.partition("#")[0])
    if "inbox" not in doc and _id(doc.get("owner")):  # the key document itself
        doc = _get(_id(doc["owner"]))
    actor = store(doc)
    if actor.key_id != key_id:
        raise FetchError("the key does not belong to its actor")
    return actor


def find(handle: str, signer: User) -> RemoteActor:
    """The actor `@user@host`: the one stored here, else looked up by WebFinger (signed by
    `signer`). Raises FetchError."""
    parsed = parse_handle(handle)
    if parsed is None:
        raise FetchError("write the address as @name@server")
    name, host = parsed
    known = db.session.scalar(
        select(RemoteActor).where(
            func.lower(RemoteActor.username) == name.lower(), RemoteActor.domain == host
        )
    )
    return known or lookup(handle, signer=signer)


def lookup(handle: str, signer: User | None = None) -> RemoteActor:
    """Find `@user@host` through WebFinger and fetch its actor."""
    parsed = parse_handle(handle)
    if parsed is None:
        raise FetchError("write the address as @name@server")
    name, host = parsed
    scheme = "http" if current_app.config["FEDERATION_ALLOW_PRIVATE"] else "https"
    resource = quote(f"acct:{name}@{host}", safe=":@")
    jrd = _get(f"{scheme}://{host}/.well-known/webfinger?resource={resource}")
    links = jrd.get("links") if isinstance(jrd.get("links"), list) else []
    for link in links:
        if (
            isinstance(link, dict)
            and link.get("rel") == "self"
            and str(link.get("type", "")).startswith(
                ("application/activity+json", "application/ld+json")
            )
            and _str(link, "href")
        ):
            return by_uri(link["href"], refresh=True, signer=signer)
    raise FetchError(f"{handle} has no ActivityPub actor")
