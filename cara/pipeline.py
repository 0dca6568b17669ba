"""What a processing job does to one image, and how a post's images decide its state."""

import hashlib
from datetime import UTC, datetime

from flask import current_app

from . import media as imaging
from . import storage
from .extensions import db
from .models import Media, MediaState, Post, PostState, User, utcnow

# Licence codes offered to artists, with the URL written into the derivatives.
LICENCES = {
    "all-rights-reserved": ("All rights reserved", None),
    "cc-by-4.0": ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "cc-by-sa-4.0": ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "cc-by-nc-4.0": ("CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    "cc-by-nc-nd-4.0": ("CC BY-NC-ND 4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/"),
}


def rights_for(post: Post, author: User) -> imaging.Rights:
    """The rights written into every derivative: from our database, never from the upload."""
    label, url = LICENCES.get(author.licence, LICENCES["all-rights-reserved"])
    year = (post.published_at or post.created_at or datetime.now(UTC)).year
    base = current_app.config.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    return imaging.Rights(
        creator=author.name,
        copyright=f"© {year} {author.name}. {label}. Not licensed for AI training.",
        web_statement=f"{base}/posts/{post.id}",
        licence_url=url,
        data_mining=author.data_mining,
    )


def content_version(media: Media, rights: imaging.Rights, protected: bool) -> str:
    """Derivative names change whenever their bytes would: new pixels, rights or options."""
    key = "|".join([media.sha256, repr(rights), str(protected), str(imaging.PIPELINE_VERSION)])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def process(media: Media) -> None:
    """Derivatives (metadata stripped, rights embedded), hashes and the filter's verdict."""
    post = media.post
    author = db.session.get(User, media.owner_id)
    protected = bool(post and post.protected)
    rights = rights_for(post, author) if post else None
    version = content_version(media, rights, protected)
    out_dir = storage.derivative_dir(media.id)
    rendition = imaging.make_derivatives(
        storage.original_path(media.original_path),
        out_dir,
        f"{media.id}-{version}",
        protected=protected,
        rights=rights,
    )
    media.version = version
    media.width, media.height = rendition.width, rendition.height
    media.placeholder_color = rendition.placeholder_color
    media.renditions = [
        {"w": d.width, "h": d.height, "fmt": d.format, "name": d.path.name, "bytes": d.bytes}
        for d in rendition.files
    ]
    keep = {d.path.name for d in rendition.files}
    for old in out_dir.iterdir():  # earlier versions of this image's derivatives
        if old.name not in keep and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)


def finish(post: Post) -> None:
    """All images processed: publish, or mark the post failed if any image failed."""
    if any(m.state == MediaState.FAILED for m in post.media):
        post.state = PostState.FAILED
        return
    post.state = PostState.PUBLISHED
    post.published_at = post.published_at or utcnow()
