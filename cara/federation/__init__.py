"""ActivityPub federation (docs/federation.md): actors, WebFinger, NodeInfo, HTTP Signatures,
follows across servers and delivery of posts. Off until the admin turns it on."""

from flask import current_app, url_for

from cara.core import settings


def enabled() -> bool:
    """Federation is on: CARA_FEDERATION, or the admin's `federation` setting, says so."""
    return bool(settings.get("federation", current_app.config["FEDERATION"]))


def handle_page(text: str) -> str | None:
    """The page of the person `@name@server` names (search resolves addresses), while
    federation is on; None for anything else."""
    from cara.federation import actors  # the package's modules import this one

    parsed = actors.parse_handle(text) if enabled() and text.count("@") == 2 else None
    if parsed is None:
        return None
    return url_for("federation.profile", username=parsed[0], domain=parsed[1])
