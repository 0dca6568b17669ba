"""Posting art: drafts with uploaded images, describing and publishing, editing, deleting."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from cara import imaging
from cara.core import storage, tasks, text
from cara.core.extensions import db
from cara.core.models import Media, Post, PostState, Tag, User, Visibility, utcnow
from cara.posting import processing

CAPTION_MAX = 2200
ALT_MAX = 1500
TAGS_MAX = 10


# Square-crop focus choices for portfolio grids: (x, y) in 0..1.
CROP_FOCUS = {
    "center": (0.5, 0.5),
    "top": (0.5, 0.0),
    "bottom": (0.5, 1.0),
    "left": (0.0, 0.5),
    "right": (1.0, 0.5),
}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def upload_limits(config) -> imaging.Limits:
    return imaging.Limits(max_bytes=config["MAX_UPLOAD_BYTES"], max_pixels=config["MAX_PIXELS"])


def form_values(form, post: Post) -> dict:
    """The describe/edit form (a request.form) as the plain dict describe() takes."""
    return {
        "caption": form.get("caption", ""),
        "tags": form.get("tags", ""),
        "alt": {m.id: form.get(f"alt-{m.id}", "") for m in post.media},
        "crop": {m.id: form.get(f"crop-{m.id}", "center") for m in post.media},
        "in_portfolio": form.get("in_portfolio") == "on",
        "mature": form.get("mature") == "on",
        "protected": form.get("protected") == "on",
        "visibility": form.get("visibility", Visibility.PUBLIC.value),
    }


def stored_bytes(owner_id: int) -> int:
    """Bytes of the originals an account keeps (what its storage quota counts)."""
    total = select(func.coalesce(func.sum(Media.byte_size), 0)).where(Media.owner_id == owner_id)
    return int(db.session.scalar(total))


def _size(n: float) -> str:
    """Bytes for people: 1.5 GB, 200.0 KB."""
    unit = 0
    while n >= 1024 and unit < 3:
        n, unit = n / 1024, unit + 1
    return f"{n:,.0f} bytes" if unit == 0 else f"{n:,.1f} {('KB', 'MB', 'GB')[unit - 1]}"


def add_images(
    author: User,
    post: Post | None,
    uploads: list[Upload],
    limits,
    max_images: int,
    quota: int = 0,
):
    """Validate and store uploaded images in a draft (created when `post` is None).

    Returns (post, errors): every accepted file is stored and its processing started, even
    when others are refused; each error names the file and the reason. `quota` (bytes of
    originals per account, 0 for none) refuses files that would not fit.
    """
    errors: list[str] = []
    used = stored_bytes(author.id) if quota else 0
    post = post or Post(author_id=author.id, state=PostState.DRAFT)
    room = max_images - len(post.media)
    if len(uploads) > room:
        errors.append(f"A post holds at most {max_images} images; {len(uploads) - room} not added.")
        uploads = uploads[: max(room, 0)]
    seen = {m.sha256 for m in post.media}
    added: list[Media] = []
    for upload in uploads:
        try:
            info = imaging.inspect_upload(upload.data, upload.filename, limits)
        except imaging.UploadError as exc:
            errors.append(str(exc))
            continue
        if info.sha256 in seen:
            errors.append(f"{upload.filename}: this image is already in the post.")
            continue
        if quota and used + len(upload.data) > quota:
            errors.append(
                f"{upload.filename}: not added, your storage quota of {_size(quota)} is full "
                f"({_size(used)} used). Delete posts or drafts to make room."
            )
            continue
        used += len(upload.data)
        seen.add(info.sha256)
        media = store_original(author.id, upload, info, position=len(post.media))
        post.media.append(media)
        added.append(media)
    if added:
        post.updated_at = utcnow()  # a draft's expiry counts from its last change
        db.session.add(post)
        db.session.commit()  # rows first: a job must never see media the database does not have
        for media in added:
            processing.start_processing(media)
    return (post if post.id else None), errors


def store_original(owner_id: int, upload: Upload, info, **fields) -> Media:
    """Write a validated upload under a random private name; return its (unsaved) Media row."""
    relative = imaging.random_name()
    storage.save_original(relative, upload.data)
    return Media(
        owner_id=owner_id,
        original_name=upload.filename[:255],
        original_path=relative,
        sha256=info.sha256,
        format=info.format,
        width=info.width,
        height=info.height,
        byte_size=len(upload.data),
        **fields,
    )


def remove_image(post: Post, media: Media) -> None:
    post.media.remove(media)
    db.session.commit()
    storage.delete_media_files(media.id, media.original_path)


def describe(post: Post, form: dict) -> dict[str, list[str]]:
    """Apply caption, alt texts, tags and options from `form`; return errors by field.

    `form` keys: caption, tags, alt (dict media_id -> text), in_portfolio, mature, protected,
    visibility. Nothing is saved when there are errors.
    """
    errors: dict[str, list[str]] = {}
    caption = form.get("caption", "").strip()
    if len(caption) > CAPTION_MAX:
        errors["caption"] = [f"Use at most {CAPTION_MAX:,} characters ({len(caption):,} now)."]
    # Tags from the Tags field, then #hashtags of the caption.
    tags = text.parse_tags(form.get("tags", "")) + text.hashtags(caption)
    tags = list(dict.fromkeys(tags))
    if len(tags) > TAGS_MAX:
        errors["tags"] = [f"Use at most {TAGS_MAX} tags."]
    alts = form.get("alt", {})
    for media in post.media:
        alt = alts.get(media.id, "").strip()
        if not alt:
            errors[f"alt-{media.id}"] = ["Describe this image for people who cannot see it."]
        elif len(alt) > ALT_MAX:
            errors[f"alt-{media.id}"] = [f"Use at most {ALT_MAX:,} characters."]
    visibility = form.get("visibility", Visibility.PUBLIC.value)
    if visibility not in {v.value for v in Visibility}:
        errors["visibility"] = ["Choose public or followers only."]
    crops = form.get("crop", {})
    if any(crops.get(m.id, "center") not in CROP_FOCUS for m in post.media):
        errors["crop"] = ["Choose a crop focus from the list."]
    if errors:
        return errors
    for media in post.media:
        media.alt_text = alts[media.id].strip()
        media.crop_x, media.crop_y = CROP_FOCUS[crops.get(media.id, "center")]
    post.caption = caption
    post.tags = _tags(tags)
    post.visibility = Visibility(visibility)
    post.in_portfolio = bool(form.get("in_portfolio"))
    post.mature = bool(form.get("mature"))
    post.protected = bool(form.get("protected"))
    return {}


def publish(post: Post, form: dict) -> dict[str, list[str]]:
    """Describe and publish a draft; it goes live when its images are processed and pass."""
    if not post.media:
        return {"images": ["Add at least one image."]}
    errors = describe(post, form)
    if errors:
        db.session.rollback()
        return errors
    post.state = PostState.PENDING
    db.session.commit()
    processing.finish_post(post.id)
    return {}


def update(post: Post, form: dict) -> dict[str, list[str]]:
    """Edit a post's caption, alt text, tags and options."""

    def render_options():
        return [post.protected, *((m.crop_x, m.crop_y) for m in post.media)]

    before = render_options()
    errors = describe(post, form)
    if errors:
        db.session.rollback()
        return errors
    post.updated_at = utcnow()
    if render_options() != before:
        processing.rerender(post.media)  # commits; the new names follow the visibility too
    else:
        processing.follow_visibility(post)  # commits
    return {}


def portfolio(author: User) -> list[Post]:
    """The artist's portfolio posts in display order: pinned first, then their chosen order."""
    stmt = (
        select(Post)
        .where(Post.author_id == author.id, Post.in_portfolio.is_(True))
        .order_by(Post.pinned.desc(), Post.portfolio_position, Post.published_at.desc(), Post.id)
    )
    return list(db.session.scalars(stmt))


UNFINISHED = (
    PostState.DRAFT,
    PostState.PENDING,
    PostState.HELD,
    PostState.REJECTED,
    PostState.FAILED,
    PostState.REMOVED,
)


def unfinished(author: User) -> list[Post]:
    """The artist's posts that are not (or no longer) public, most recently changed first:
    drafts, processing, held, rejected, failed and removed (the profile's "Drafts & review")."""
    stmt = (
        select(Post)
        .where(Post.author_id == author.id, Post.state.in_(UNFINISHED))
        .order_by(Post.updated_at.desc(), Post.id.desc())
    )
    return list(db.session.scalars(stmt))


def set_pinned(post: Post, pinned: bool) -> None:
    post.pinned = pinned
    db.session.commit()


def move_in_portfolio(post: Post, step: int) -> None:
    """Swap the post with its neighbour in the portfolio order (step -1 earlier, +1 later)."""
    posts = [p for p in portfolio(post.author) if p.pinned == post.pinned]
    index = posts.index(post) if post in posts else -1
    target = index + step
    if index < 0 or not 0 <= target < len(posts):
        return
    posts[index], posts[target] = posts[target], posts[index]
    for position, p in enumerate(posts):
        p.portfolio_position = position
    db.session.commit()


def delete(post: Post) -> None:
    """Delete a post with its originals and derivatives."""
    files = [(m.id, m.original_path) for m in post.media]
    db.session.delete(post)
    db.session.commit()
    for media_id, original in files:
        storage.delete_media_files(media_id, original)


EXPIRE_BATCH = 100  # drafts deleted per sweep; the next sweep takes the rest


@tasks.sweeper
def expire_drafts() -> int:
    """Delete drafts unchanged for DRAFT_EXPIRY_DAYS, with their files; return how many."""
    days = current_app.config["DRAFT_EXPIRY_DAYS"]
    if not days:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    stale = select(Post).where(Post.state == PostState.DRAFT, Post.updated_at < cutoff)
    posts = list(db.session.scalars(stale.order_by(Post.id).limit(EXPIRE_BATCH)))
    for post in posts:
        delete(post)
    return len(posts)


def _tags(names: list[str]) -> list[Tag]:
    existing = {t.name: t for t in db.session.scalars(select(Tag).where(Tag.name.in_(names)))}
    return [existing.get(n) or Tag(name=n) for n in names]
