"""Processing uploaded images: the job that makes derivatives, hashes and the filter's verdict,
its leases and retries, and how a post's images decide its state.

Jobs take ids and are idempotent: a claim is a conditional UPDATE, derivative names carry a
content version, and `sweep_media` (run by every sweep) re-enqueues what a dead worker left."""

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from cara import imaging
from cara.aifilter.signals import Outcome
from cara.core import storage, tasks, text
from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState, User, utcnow
from cara.core.policy import can_view
from cara.imaging import placeholder
from cara.posting import screening

log = logging.getLogger(__name__)

# Licence codes offered to artists, with the URL written into the derivatives.
LICENCES = {
    "all-rights-reserved": ("All rights reserved", None),
    "cc-by-4.0": ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "cc-by-sa-4.0": ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "cc-by-nc-4.0": ("CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    "cc-by-nc-nd-4.0": ("CC BY-NC-ND 4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/"),
}


def rights_for(media: Media, author: User) -> imaging.Rights:
    """The rights written into every derivative, a post's images and a profile's avatar and
    banner alike (their page: the post, or the profile): from our database, never from the
    upload."""
    label, url = LICENCES.get(author.licence, LICENCES["all-rights-reserved"])
    post = media.post
    when = (post.published_at or post.created_at) if post else media.created_at
    page = f"/posts/{post.id}" if post else f"/@{author.username}"
    year = (when or datetime.now(UTC)).year
    return imaging.Rights(
        creator=author.name,
        copyright=f"© {year} {author.name}. {label}. Not licensed for AI training.",
        web_statement=text.site_url(page),
        licence_url=url,
        data_mining=author.data_mining,
    )


def content_version(
    media: Media, rights: imaging.Rights | None, protected: bool, public: bool
) -> str:
    """Derivative names change whenever their bytes would (new pixels, rights or options) and
    whenever the image becomes public or stops being public: a shared cache may keep a public
    name for a year, so a name never outlives the visibility it was made for."""
    parts = [media.sha256, repr(rights), protected, media.crop_x, media.crop_y, public]
    key = "|".join(map(str, [*parts, imaging.PIPELINE_VERSION]))
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _options(media: Media) -> tuple[imaging.Rights | None, bool, bool, str]:
    """(rights, protected, public, stem) of the derivatives this media should have now."""
    post = media.post
    author = db.session.get(User, media.owner_id)
    protected = bool(post and post.protected)
    rights = rights_for(media, author)
    public = can_view(None, media)  # anyone, logged out, may see it
    return (
        rights,
        protected,
        public,
        f"{media.id}-{content_version(media, rights, protected, public)}",
    )


# A profile banner spans the page (up to ~1100 px, twice that on dense screens) and is never
# shown square.
BANNER_WIDTHS = {"widths": (640, 1280, 1920), "jpeg_widths": (1280,)}


def is_banner(media: Media) -> bool:
    """Is this image its owner's profile banner?"""
    if media.post_id is not None:
        return False
    return db.session.get(User, media.owner_id).banner_media_id == media.id


def process(media: Media) -> None:
    """Derivatives (metadata stripped, rights embedded), hashes and the filter's verdict."""
    rights, protected, public, stem = _options(media)
    banner = is_banner(media)
    with (
        storage.original_file(media.original_path) as original,
        storage.new_derivatives(media.id, public) as out_dir,
    ):
        rendition = imaging.make_derivatives(
            original,
            out_dir,
            stem,
            protected=protected,
            rights=rights,
            **(BANNER_WIDTHS if banner else {}),
        )
        square = (
            None
            if banner
            else imaging.make_square(
                rendition.work_image,
                out_dir,
                f"{stem}-sq",
                focus=(media.crop_x, media.crop_y),
                protected=protected,
                rights=rights,
            )
        )
    media.version = stem.partition("-")[2]
    media.width, media.height = rendition.width, rendition.height
    media.placeholder_color = rendition.placeholder_color
    media.blurhash = placeholder.blurhash(rendition.work_image)
    files = [_entry(d, public) for d in rendition.files]
    media.renditions = files + ([_entry(square, public, sq=True)] if square else [])
    storage.prune_derivatives(media.id, stem)  # earlier versions of this image's derivatives
    # Post images and banners are screened (a banner is shown like art); avatars are not.
    if media.post_id is not None or banner:
        screening.check_image(media, rendition.work_image)
    if banner:  # no post to batch it with: the classifier scores it alone
        screening.classify_images([media])


def _entry(d: imaging.Derivative, public: bool, sq: bool = False) -> dict:
    entry = {"w": d.width, "h": d.height, "fmt": d.format, "name": d.path.name, "bytes": d.bytes}
    return _stored({**entry, "sq": True} if sq else entry, public)


def _stored(entry: dict, public: bool) -> dict:
    """The entry marked "pub" when stored as a public image's (S3 keeps those apart)."""
    entry = {k: v for k, v in entry.items() if k != "pub"}
    return {**entry, "pub": True} if public else entry


def add_avif(media: Media) -> None:
    """AVIF versions of the current derivatives (slow, so a lower-priority job of its own).

    The encode takes seconds, during which the post may go live and its images be renamed:
    the new list is written only if the names are still the ones it encoded for."""
    rights, protected, public, stem = _options(media)
    version = media.version
    if media.state != MediaState.DONE or not version or not stem.endswith(version):
        return  # changed since: the newer processing run enqueues its own AVIF job
    if any(r["fmt"] == "avif" for r in media.renditions):
        return  # made already (a rename copies them)
    with (
        storage.original_file(media.original_path) as original,
        storage.new_derivatives(media.id, public) as out_dir,
    ):
        files = imaging.make_avif(original, out_dir, stem, protected=protected, rights=rights)
    written = db.session.execute(
        update(Media)
        .where(Media.id == media.id, Media.version == version, Media.state == MediaState.DONE)
        .values(renditions=media.renditions + [_entry(d, public) for d in files])
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not written:  # renamed or remade meanwhile: that change enqueued AVIF for its names
        storage.delete_derivatives(media.id, [d.path.name for d in files], public)


def follow_visibility(post: Post) -> None:
    """Commit a change that may change who sees the post (its state, its visibility, its
    author's privacy) together with the image names that visibility calls for."""
    _follow(post.media)


def _follow(media_list: list[Media]) -> None:
    """Copy the files to their new names before the commit and delete the old names after
    it, so no page ever names a missing file and a failure at any step loses nothing."""
    changes = [(m, _follow_visibility(m)) for m in media_list]
    db.session.commit()
    for media, change in changes:
        if change == RERENDER:
            start_processing(media)
        elif change:
            storage.prune_derivatives(media.id, change)
            tasks.enqueue(make_avif, media.id, low=True)  # unless the rename copied them


RERENDER = "rerender"


def _follow_visibility(media: Media) -> str | None:
    """Copy the media's files to the names its visibility calls for and point it at them
    (uncommitted); the new stem, to prune the rest by, or RERENDER when more than the
    visibility changed and the images must be made again."""
    if media.state != MediaState.DONE or not media.version:
        return None  # pending or processing: that run computes the names itself
    rights, protected, public, stem = _options(media)
    version = stem.partition("-")[2]
    if media.version == version:
        return None
    if media.version != content_version(media, rights, protected, not public):
        media.state, media.attempts = MediaState.PENDING, 0
        return RERENDER
    old = f"{media.id}-{media.version}"
    renamed = []
    for r in media.renditions:
        name = stem + r["name"].removeprefix(old)
        storage.copy_derivative(media.id, r["name"], name, public)
        renamed.append(_stored({**r, "name": name}, public))
    media.renditions, media.version = renamed, version
    return stem


def finish(post: Post) -> None:
    """All images processed: failed, rejected, held or published, the worst image deciding."""
    if any(m.state == MediaState.FAILED for m in post.media):
        post.state = PostState.FAILED
        return
    screening.classify_post(post)
    decisions = {m.verdict.decision for m in post.media if m.verdict is not None}
    if Outcome.REJECT in decisions or Outcome.HOLD in decisions:
        post.state = PostState.REJECTED if Outcome.REJECT in decisions else PostState.HELD
        screening.tell_artist_filtered(post)
        return
    post.state = PostState.PUBLISHED
    post.published_at = post.published_at or utcnow()


# --- jobs ------------------------------------------------------------------------------------

MAX_ATTEMPTS = 4
BACKOFF_SECONDS = (5, 30, 120)  # before the 2nd, 3rd and 4th attempts


def start_processing(media: Media) -> None:
    """Lease the media (the sweeper leaves it alone until the lease ends), commit, enqueue."""
    media.lease_until = tasks.now() + tasks.lease()
    db.session.commit()
    tasks.enqueue(process_media, media.id)


def rerender(media_list) -> None:
    """Write these processed images again (new options or rights) under new versioned names."""
    todo = [media for media in media_list if media.state == MediaState.DONE]
    for media in todo:
        media.state = MediaState.PENDING
        media.attempts = 0
    db.session.commit()
    for media in todo:
        start_processing(media)


def _claim(media_id: int) -> Media | None:
    """Atomically take the media for processing, unless done or leased by another worker."""
    t = tasks.now()
    result = db.session.execute(
        update(Media)
        .where(
            Media.id == media_id,
            or_(
                Media.state == MediaState.PENDING,
                (Media.state == MediaState.PROCESSING) & (Media.lease_until < t),
            ),
        )
        .values(
            state=MediaState.PROCESSING, lease_until=t + tasks.lease(), attempts=Media.attempts + 1
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(Media, media_id) if result.rowcount == 1 else None


def process_media(media_id: int) -> None:
    """Derivatives, hashes and the AI filter for one image; then maybe finish its post."""
    media = _claim(media_id)
    if media is None:
        return
    try:
        with tasks.keep_leased(lambda: _renew(media_id)):
            process(media)
    except Exception as exc:
        db.session.rollback()
        _retry_or_fail(db.session.get(Media, media_id), exc)
        return
    media.state = MediaState.DONE
    media.processed_at = utcnow()
    media.lease_until = None
    media.error = ""
    _follow([media])  # commits; the visibility may have changed while this job ran
    if media.post_id:
        finish_post(media.post_id)
    tasks.enqueue(make_avif, media_id, low=True)


def _renew(media_id: int) -> None:
    """Extend the lease of media this worker is still processing."""
    db.session.execute(
        update(Media)
        .where(Media.id == media_id, Media.state == MediaState.PROCESSING)
        .values(lease_until=tasks.now() + tasks.lease())
    )


def make_avif(media_id: int) -> None:
    """Lower-priority follow-up: AVIF derivatives, smaller than WebP but slow to encode."""
    media = db.session.get(Media, media_id)
    if media is not None:
        add_avif(media)


def _retry_or_fail(media: Media, exc: Exception) -> None:
    log.warning("processing media %s failed (attempt %s): %r", media.id, media.attempts, exc)
    media.error = f"{type(exc).__name__}: {exc}"[:500]
    if media.attempts >= MAX_ATTEMPTS:
        media.state = MediaState.FAILED
        media.lease_until = None
        db.session.commit()
        if media.post_id:
            finish_post(media.post_id)
        return
    delay = BACKOFF_SECONDS[min(media.attempts, len(BACKOFF_SECONDS)) - 1]
    media.state = MediaState.PENDING
    media.lease_until = tasks.now() + timedelta(
        seconds=delay
    )  # the sweeper waits for the backoff too
    db.session.commit()
    tasks.enqueue(process_media, media.id, delay=delay)


def finish_post(post_id: int) -> None:
    """When every image of a published post is processed, apply the filter's decision."""
    post = db.session.get(Post, post_id)
    if post is None or post.state != PostState.PENDING:
        return
    if any(m.state in (MediaState.PENDING, MediaState.PROCESSING) for m in post.media):
        return
    finish(post)
    follow_visibility(post)  # commits: the post goes live with its images' public names


def retry_failed(post: Post) -> None:
    """The artist's retry button: give failed images a fresh set of attempts."""
    for media in post.media:
        if media.state == MediaState.FAILED:
            media.state, media.attempts, media.error = MediaState.PENDING, 0, ""
    if post.state == PostState.FAILED:
        post.state = PostState.PENDING
    db.session.commit()
    for media in post.media:
        if media.state == MediaState.PENDING:
            start_processing(media)


@tasks.sweeper
def sweep_media() -> int:
    """Re-enqueue media left pending or processing past its lease; finish stuck posts."""
    t = tasks.now()
    stale = db.session.scalars(
        select(Media.id).where(
            Media.state.in_([MediaState.PENDING, MediaState.PROCESSING]),
            or_(Media.lease_until.is_(None), Media.lease_until < t),
        )
    ).all()
    for media_id in stale:
        tasks.enqueue(process_media, media_id)
    stuck = db.session.scalars(select(Post.id).where(Post.state == PostState.PENDING)).all()
    for post_id in stuck:
        finish_post(post_id)
    return len(stale)
