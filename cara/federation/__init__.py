"""ActivityPub federation (docs/federation.md): actors, WebFinger, NodeInfo, HTTP Signatures,
follows across servers and delivery of posts. Off until the admin turns it on."""

from flask import current_app

from cara.core import settings


def enabled() -> bool:
    """Federation is on: CARA_FEDERATION, or the admin's `federation` setting, says so."""
    return bool(settings.get("federation", current_app.config["FEDERATION"]))
