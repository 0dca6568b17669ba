"""Profile and preference changes: plain functions returning errors by field."""

from urllib.parse import urlsplit

from sqlalchemy import update

from cara import imaging
from cara.aifilter.signals import Outcome
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import Follow, Media, MediaState, Post, User
from cara.posting import drafts, processing

LINKS_MAX = 5
DATA_MINING_CHOICES = {
    "DMI-PROHIBITED-AIMLTRAINING": "No AI or machine-learning training",
    "DMI-PROHIBITED-GENAIMLTRAINING": "No generative AI training",
}


def parse_links(text: str) -> tuple[list[str], list[str]]:
    """One http(s) URL per line -> (links, errors)."""
    links = [line.strip() for line in text.splitlines() if line.strip()]
    errors = []
    if len(links) > LINKS_MAX:
        errors.append(f"Add at most {LINKS_MAX} links.")
    for link in links:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 200:
            errors.append(f"{link[:60]} is not a web address (start it with https://).")
    return links, errors


def update_profile(user: User, display_name: str, bio: str, links_text: str, open_to_work: bool):
    links, link_errors = parse_links(links_text)
    if link_errors:
        return {"links": link_errors}
    rights_before = (user.name,)
    user.display_name = display_name.strip()[:60]
    user.bio = bio.strip()[:500]
    user.links = links
    user.open_to_work = open_to_work
    db.session.commit()
    if (user.name,) != rights_before:
        rerender_all(user)  # the creator name is written into every derivative
    return {}


def save_profile(
    user: User, values: dict, images: dict[str, drafts.Upload], limits
) -> dict[str, list[str]]:
    """The profile form (Settings and the welcome's first step): the texts, then the images
    sent ({"avatar": upload, "banner": upload}, either may be missing)."""
    errors = update_profile(
        user, values["display_name"], values["bio"], values["links"], values["open_to_work"]
    )
    for field in ("avatar", "banner"):
        if not errors and field in images and (e := set_image(user, field, images[field], limits)):
            errors = {field: e}
    return errors


def set_image(user: User, field: str, upload: drafts.Upload, limits) -> list[str]:
    """Store and process the avatar or banner like any upload; the old one is removed once
    replaced."""
    try:
        info = imaging.inspect_upload(upload.data, upload.filename, limits)
    except imaging.UploadError as exc:
        return [str(exc)]
    column = f"{field}_media_id"
    old = getattr(user, column)
    image = drafts.store_original(user.id, upload, info)
    db.session.add(image)
    db.session.flush()
    setattr(user, column, image.id)
    db.session.commit()
    _delete_image(old)
    processing.start_processing(image)
    return []


def banner_state(user: User) -> str:
    """What became of the artist's banner: "" (none), "processing", "failed", "held" (by the
    AI filter: not shown) or "shown"."""
    media = db.session.get(Media, user.banner_media_id) if user.banner_media_id else None
    if media is None:
        return ""
    if media.state == MediaState.FAILED:
        return "failed"
    if media.state != MediaState.DONE:
        return "processing"
    return "held" if media.verdict and media.verdict.decision != Outcome.PUBLISH else "shown"


def remove_banner(user: User) -> None:
    """The banner goes (files and row); the header shows the colour band again."""
    old, user.banner_media_id = user.banner_media_id, None
    db.session.commit()
    _delete_image(old)


def _delete_image(media_id: int | None) -> None:
    old = db.session.get(Media, media_id) if media_id else None
    if old is not None:
        storage.delete_media_files(old.id, old.original_path)
        db.session.delete(old)
        db.session.commit()


def update_preferences(user: User, values: dict) -> dict[str, list[str]]:
    """Privacy, display and rights choices. Rights changes rewrite the artist's derivatives."""
    if values["licence"] not in processing.LICENCES:
        return {"licence": ["Choose a licence from the list."]}
    if values["data_mining"] not in DATA_MINING_CHOICES:
        return {"data_mining": ["Choose a reservation from the list."]}
    rights_before, private_before = (user.licence, user.data_mining), user.is_private
    if user.is_private and not values["is_private"]:
        # A public account has no one to approve: waiting follow requests become follows.
        db.session.execute(
            update(Follow).where(Follow.followee_id == user.id).values(pending=False)
        )
    for key in ("is_private", "show_mature", "data_saver", "noindex", "licence", "data_mining"):
        setattr(user, key, values[key])
    db.session.commit()
    if (user.licence, user.data_mining) != rights_before:
        rerender_all(user)  # the new names follow the privacy too
    elif user.is_private != private_before:
        for post in user.posts:
            processing.follow_visibility(post)
    return {}


THEMES = {"system": "Same as my device", "light": "Light", "dark": "Dark"}


def set_theme(user: User, theme: str) -> dict[str, list[str]]:
    """The colour scheme of every page the artist sees."""
    if theme not in THEMES:
        return {"theme": ["Choose system, light or dark."]}
    user.theme = theme
    db.session.commit()
    return {}


def rerender_all(user: User) -> None:
    """Rewrite every processed image of the artist under new versioned names: their posts'
    images, their avatar and their banner (all carry the rights)."""
    for post in db.session.scalars(db.select(Post).where(Post.author_id == user.id)):
        if any(m.state == MediaState.DONE for m in post.media):
            processing.rerender(post.media)
    ids = [i for i in (user.avatar_media_id, user.banner_media_id) if i]
    processing.rerender(db.session.scalars(db.select(Media).where(Media.id.in_(ids))).all())
