"""Remote images pass the same pipeline and AI filter as an upload: fetched through the safe
fetcher, validated, judged (provenance, known AI hashes, the classifier), and re-encoded into
our own derivatives (pixels only). An image the filter does not pass is held: kept out of
sight, its file never written. Nothing is hotlinked."""

import tempfile
from dataclasses import asdict
from pathlib import Path

from flask import Response, current_app
from sqlalchemy import select

from cara import imaging
from cara.aifilter.signals import Outcome
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import RemoteActor, RemotePost
from cara.federation import fetch
from cara.posting import drafts, known, screening

# A held image a moderator confirmed as AI becomes REJECTED (its file deleted); one cleared, SHOWN.
SHOWN, HELD, FAILED, REJECTED = "shown", "held", "failed", "rejected"
MAX_WIDTH = 1280  # the one size shown: remote art is seen at feed size here


def import_images(post_id: int) -> None:
    """Fetch, check and re-encode each image of a remote post not handled yet (the job). A held
    image is kept out of sight for the moderators' queue (cara.federation.review)."""
    post = db.session.get(RemotePost, post_id)
    if post is None:
        return
    post.attachments = [
        item if item.get("state") else {**item, **_import(post.id, index, item, keep_held=True)}
        for index, item in enumerate(post.attachments)
    ]
    post.awaiting_review = any(item.get("state") == HELD for item in post.attachments)
    db.session.commit()


def _import(post_id, index: int, item: dict, max_width: int = MAX_WIDTH, keep_held=False) -> dict:
    """Judge one image and keep our derivative of it: shown when the filter passes it, else
    held (its file kept, never served publicly, only with `keep_held`)."""
    config = current_app.config
    limits = drafts.upload_limits(config)
    try:
        answer = fetch.request("GET", item["url"], {"Accept": "image/*"}, limit=limits.max_bytes)
        if answer.status != 200:
            return {"state": FAILED, "error": f"answered {answer.status}"}
        info = imaging.inspect_upload(answer.body, "remote image", limits)
    except (fetch.FetchError, imaging.MediaError) as error:
        return {"state": FAILED, "error": str(error)[:300]}
    with tempfile.TemporaryDirectory(prefix="cara-remote-") as folder:
        out = Path(folder)
        original = out / ".incoming"
        original.write_bytes(answer.body)
        work = known.load_work_image(str(original))
        _, decision = screening.judge(answer.body, work, screening.classifier())
        result = {"state": SHOWN}
        if decision.decision != Outcome.PUBLISH:
            result = {"state": HELD, "signals": [asdict(s) for s in decision.reasons]}
            if not keep_held:
                return result
        rendition = imaging.make_derivatives(
            original, out, f"{index}-{info.sha256[:16]}", max_pixels=limits.max_pixels
        )
        jpegs = [d for d in rendition.files if d.format == "jpeg"] or rendition.files
        fitting = [d for d in jpegs if d.width <= max_width] or [min(jpegs, key=lambda d: d.width)]
        best = max(fitting, key=lambda d: d.width)
        storage.save_remote(post_id, best.path)  # only the one served is kept
    return {**result, "file": best.path.name, "w": best.width, "h": best.height}


def send_shown(post: RemotePost, name: str) -> Response | None:
    """The response for the derivative `name` of a remote post, if it is one of its shown
    images (from the disk or the bucket, as the media storage is configured)."""
    if not any(i.get("state") == SHOWN and i.get("file") == name for i in post.attachments):
        return None
    return storage.send_remote(post.id, name, storage.MIME[name.rpartition(".")[2]])


def remove(post_id: int) -> None:
    storage.delete_remote(post_id)


def remove_actors(actor_ids: list[int]) -> None:
    """The image folders of the posts (and the avatars) of actors about to be deleted."""
    posts = select(RemotePost.id).where(RemotePost.actor_id.in_(actor_ids))
    for post_id in db.session.scalars(posts):
        remove(post_id)
    for actor_id in actor_ids:
        storage.delete_remote(_avatar_key(actor_id))


# --- avatars: the actor's icon, through the same pipeline and filter ---------------------------

AVATAR_WIDTH = 320


def _avatar_key(actor_id: int) -> str:
    return f"a{actor_id}"  # remote/a<id>/: never a post's folder (those are digits)


def import_avatar(actor_id: int) -> None:
    """Fetch, check and re-encode an actor's icon not handled yet (the job); a new icon
    replaces the old file."""
    actor = db.session.get(RemoteActor, actor_id)
    if actor is None or not actor.avatar or actor.avatar.get("state"):
        return
    storage.delete_remote(_avatar_key(actor.id))
    result = _import(_avatar_key(actor.id), 0, actor.avatar, max_width=AVATAR_WIDTH)
    actor.avatar = {**actor.avatar, **result}
    db.session.commit()


def send_avatar(actor: RemoteActor, name: str) -> Response | None:
    """The response for an actor's re-encoded avatar `name`, if it is the one shown."""
    avatar = actor.avatar or {}
    if avatar.get("state") != SHOWN or avatar.get("file") != name:
        return None
    return storage.send_remote(_avatar_key(actor.id), name, storage.MIME[name.rpartition(".")[2]])
