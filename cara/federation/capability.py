"""Capability URLs for the images of followers-only posts.

A followers-only post's derivatives are served to signed-in followers only, but the servers of
its remote followers fetch attachments without a session (Mastodon fetches media unsigned). So
the Note delivered to them names each image by a URL that carries its own permission: an
expiry and an HMAC of the file and that expiry under the app's secret key. A change of
visibility renames the derivatives, which ends every URL issued for the old names.
"""

import hashlib
import hmac
import time

from flask import current_app

from cara.core.text import site_url


def _signature(media_id: int, name: str, expires: int) -> str:
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"federation-media", "sha256")
    message = f"{media_id}/{name}/{expires}".encode()
    return hmac.new(key.digest(), message, hashlib.sha256).hexdigest()


def url(media_id: int, name: str, now: float | None = None) -> str:
    """The URL of one derivative, valid for FEDERATION_MEDIA_SECONDS from `now`."""
    now = time.time() if now is None else now
    expires = int(now) + current_app.config["FEDERATION_MEDIA_SECONDS"]
    sig = _signature(media_id, name, expires)
    return site_url(f"/federation/files/{media_id}/{name}?expires={expires}&sig={sig}")


def valid(media_id: int, name: str, expires: str, sig: str, now: float | None = None) -> bool:
    """The URL was issued here for this file and has not expired."""
    if not expires.isdigit() or len(expires) > 12:
        return False
    now = time.time() if now is None else now
    if int(expires) < now:
        return False
    return hmac.compare_digest(_signature(media_id, name, int(expires)), sig)
