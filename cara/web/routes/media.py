"""Serving derivatives under content-versioned names; originals are never served."""

from flask import Blueprint, abort, send_file
from flask_login import current_user

from cara.core import storage
from cara.core.extensions import db
from cara.core.models import Media, Visibility
from cara.core.policy import can_view
from cara.web import optout

bp = Blueprint("media", __name__)

MIME = {"webp": "image/webp", "avif": "image/avif", "jpg": "image/jpeg", "png": "image/png"}
YEAR = 365 * 24 * 3600


@bp.get("/media/<int:media_id>/<name>")
def derivative(media_id: int, name: str):
    media = db.session.get(Media, media_id)
    path = storage.derivative_path(media_id, name)
    ext = name.rpartition(".")[2]
    if media is None or path is None or ext not in MIME or not can_view(current_user, media):
        abort(404)
    if not path.is_file() or not any(r["name"] == name for r in media.renditions):
        abort(404)
    optout.guard_derivative(media, name)  # size cap and hotlink protection
    response = send_file(path, mimetype=MIME[ext], conditional=True, etag=True)
    # Names carry a content version, so a cached copy never goes stale.
    public = media.post is not None and media.post.visibility == Visibility.PUBLIC
    response.headers["Cache-Control"] = (
        f"{'public' if public else 'private'}, max-age={YEAR}, immutable"
    )
    return response
