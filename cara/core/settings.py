"""Instance settings an admin changes at run time: rows of the settings table over config defaults.

Every web and worker process reads the table (no process-wide cache, so a change made in one
gunicorn worker holds in all of them at once); one query per request, on first use.
"""

import json
from enum import StrEnum

from flask import current_app, g, has_request_context
from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import Setting


class Registration(StrEnum):
    OPEN = "open"
    APPROVAL = "approval"  # new accounts wait for an admin
    INVITE = "invite"  # sign-up only through an invite link
    CLOSED = "closed"


# Setting name -> the config key that gives its default.
CONFIG_KEYS = {
    "site_name": "SITE_NAME",
    "site_description": "SITE_DESCRIPTION",
    "contact_email": "CONTACT_EMAIL",
    "registration": "REGISTRATION",
    "hold_threshold": "CLASSIFIER_HOLD_THRESHOLD",
}


def _stored() -> dict:
    # Read once per request; outside one (a worker's long-lived app context) on every call,
    # so a job never works from settings older than itself.
    if has_request_context() and "cara_settings" in g:
        return g.cara_settings
    rows = db.session.execute(select(Setting.key, Setting.value)).all()
    stored = {key: json.loads(value) for key, value in rows}
    if has_request_context():
        g.cara_settings = stored
    return stored


def get(name: str, default=None):
    """The stored value of a setting, else its config default (or `default`)."""
    stored = _stored()
    if name in stored:
        return stored[name]
    key = CONFIG_KEYS.get(name)
    return current_app.config.get(key, default) if key else default


def save(values: dict) -> None:
    """Store settings (JSON values); None removes one, so its config default applies again.
    The caller commits (with its audit entry)."""
    for name, value in values.items():
        row = db.session.get(Setting, name)
        if value is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(Setting(key=name, value=json.dumps(value)))
        else:
            row.value = json.dumps(value)
    g.pop("cara_settings", None)


def registration() -> Registration:
    """How people may sign up; an unknown value (a typo in config) reads as closed."""
    try:
        return Registration(get("registration"))
    except ValueError:
        return Registration.CLOSED


def hold_threshold() -> float | None:
    """The classifier score that holds an image, when the admin (or config) set one; None:
    the model's sidecar, else the filter's default, decides."""
    value = get("hold_threshold")
    return float(value) if value is not None else None
