"""Each local account's keypair, made on first use, and requests signed with it."""

from urllib.parse import urlsplit

from cara.core.extensions import db
from cara.core.models import ActorKey, User
from cara.federation import documents, fetch, signatures


def key_for(user: User) -> ActorKey:
    """The account's key, generated (RSA 2048) and stored the first time it is needed."""
    key = db.session.get(ActorKey, user.id)
    if key is None:
        public, private = signatures.new_keypair()
        key = ActorKey(user_id=user.id, public_pem=public, private_pem=private)
        db.session.add(key)
        db.session.commit()
    return key


def _signed(user: User, method: str, url: str, body: bytes | None) -> dict[str, str]:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = key_for(user)
    return signatures.sign(
        method, parts.netloc, path, documents.key_id(user), key.private_pem, body
    )


def signed_get(user: User, url: str) -> dict:
    """GET a document as `user` (servers in authorized-fetch mode want a signature)."""
    return fetch.get_json(url, _signed(user, "GET", url, None))


def signed_post(user: User, url: str, body: bytes) -> fetch.Response:
    headers = _signed(user, "POST", url, body)
    headers["Content-Type"] = fetch.ACTIVITY_JSON
    return fetch.request("POST", url, headers, body)
