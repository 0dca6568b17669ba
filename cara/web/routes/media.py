"""Serving derivatives under content-versioned names; originals are never served.

Every request passes the policy and the opt-out guard here, whoever then sends the bytes: the
app, nginx (X-Accel-Redirect) or, for public images only, the bucket (a redirect)."""

from flask import Blueprint, abort, current_app, redirect
from flask_login import current_user

from cara.core import storage
from cara.core.extensions import db
from cara.core.models import Media
from cara.core.policy import can_view
from cara.web import optout, security

bp = Blueprint("media", __name__)


@bp.get("/media/<int:media_id>/<name>")
def derivative(media_id: int, name: str):
    media = db.session.get(Media, media_id)
    mimetype = storage.MIME.get(name.rpartition(".")[2])
    if media is None or mimetype is None or not can_view(current_user, media):
        abort(404)
    rendition = next((r for r in media.renditions if r["name"] == name), None)
    if rendition is None:
        abort(404)
    optout.guard_derivative(media, name)  # size cap and hotlink protection
    # Public now AND named as public: a name made while the image was hidden may not enter a
    # shared cache, or it would stay there after the image is hidden again under that name.
    stored_public = bool(rendition.get("pub"))
    public = stored_public and can_view(None, media)
    if public and current_app.config["MEDIA_SERVE"] in ("presigned", "public-url"):
        response = redirect(storage.url(media_id, name), 302)
        response.headers["Cache-Control"] = storage.redirect_cache_control()
    else:
        response = storage.send(media_id, name, stored_public, mimetype) or abort(404)
        response.headers["Cache-Control"] = storage.cache_control(public)
    # Others may embed public art (optout.guard_derivative chose the policy: the largest size
    # stays home); the rest is for this site's pages only.
    if not public:
        security.resource_policy("same-origin")
    return response
