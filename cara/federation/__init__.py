"""ActivityPub federation (docs/federation.md): actors, WebFinger, NodeInfo, HTTP Signatures,
follows across servers and delivery of posts. Off until the admin turns it on."""

from flask import current_app, url_for

from cara import moderation
from cara.core import settings
from cara.core.extensions import db
from cara.core.models import User


def enabled() -> bool:
    """Federation is on: CARA_FEDERATION, or the admin's `federation` setting, says so."""
    return bool(settings.get("federation", current_app.config["FEDERATION"]))


def set_enabled(on: bool, who: User | None) -> bool:
    """Turn federation on or off (the admin's setting, which wins over CARA_FEDERATION);
    audited. Returns whether anything changed."""
    if enabled() == on:
        return False
    settings.save({"federation": on})
    moderation.audit(who, "federation-on" if on else "federation-off", "setting", 0, "")
    db.session.commit()
    return True


def handle_page(text: str) -> str | None:
    """The page of the person `@name@server` names (search resolves addresses), while
    federation is on; None for anything else."""
    from cara.federation import actors  # the package's modules import this one

    parsed = actors.parse_handle(text) if enabled() and text.count("@") == 2 else None
    if parsed is None:
        return None
    return url_for("federation.profile", username=parsed[0], domain=parsed[1])
