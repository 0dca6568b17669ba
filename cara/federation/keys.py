"""Each local account's keypair, made on first use, and requests signed with it; the
instance actor signs with the instance's keypair (hashfeed.instance_key)."""

from urllib.parse import urlsplit

from cara.core.extensions import db
from cara.core.models import ActorKey, User
from cara.federation import documents, fetch, hashfeed, signatures


def key_for(user: User) -> ActorKey:
    """The account's key, generated (RSA 2048) and stored the first time it is needed."""
    key = db.session.get(ActorKey, user.id)
    if key is None:
        public, private = signatures.new_keypair()
        key = ActorKey(user_id=user.id, public_pem=public, private_pem=private)
        db.session.add(key)
        db.session.commit()
    return key


def _signed(user: User | None, method: str, url: str, body: bytes | None) -> dict[str, str]:
    """Signature headers as `user`, or as the instance actor when None."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if user is None:
        key_id, pem = instance_key_id(), hashfeed.instance_key().private_pem
    else:
        key_id, pem = documents.key_id(user), key_for(user).private_pem
    return signatures.sign(method, parts.netloc, path, key_id, pem, body)


def instance_key_id() -> str:
    return documents.instance_actor_url() + "#main-key"


def signed_get(user: User | None, url: str) -> dict:
    """GET a document as `user`, or as the instance actor when None (servers in
    authorized-fetch mode want a signature)."""
    return fetch.get_json(url, _signed(user, "GET", url, None))


def signed_post(user: User | None, url: str, body: bytes) -> fetch.Response:
    """POST signed as `user`, or as the instance actor when None."""
    headers = _signed(user, "POST", url, body)
    headers["Content-Type"] = fetch.ACTIVITY_JSON
    return fetch.request("POST", url, headers, body)
