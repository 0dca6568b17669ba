"""What a processing job does to one image, and how a post's images decide its state."""

import hashlib
import logging
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from PIL import Image

from . import filter as aifilter
from . import hashindex, known, moderation, storage
from . import media as imaging
from .extensions import db
from .models import Media, MediaState, Post, PostState, User, Verdict, utcnow

log = logging.getLogger(__name__)

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


def content_version(media: Media, rights: imaging.Rights | None, protected: bool) -> str:
    """Derivative names change whenever their bytes would: new pixels, rights or options."""
    parts = [media.sha256, repr(rights), protected, media.crop_x, media.crop_y]
    key = "|".join(map(str, [*parts, imaging.PIPELINE_VERSION]))
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _options(media: Media) -> tuple[imaging.Rights | None, bool, str]:
    """(rights, protected, stem) of the derivatives this media should have now."""
    post = media.post
    author = db.session.get(User, media.owner_id)
    protected = bool(post and post.protected)
    rights = rights_for(post, author) if post else None
    return rights, protected, f"{media.id}-{content_version(media, rights, protected)}"


def process(media: Media) -> None:
    """Derivatives (metadata stripped, rights embedded), hashes and the filter's verdict."""
    rights, protected, stem = _options(media)
    out_dir = storage.derivative_dir(media.id)
    rendition = imaging.make_derivatives(
        storage.original_path(media.original_path),
        out_dir,
        stem,
        protected=protected,
        rights=rights,
    )
    square = imaging.make_square(
        rendition.work_image,
        out_dir,
        f"{stem}-sq",
        focus=(media.crop_x, media.crop_y),
        protected=protected,
        rights=rights,
    )
    media.version = stem.partition("-")[2]
    media.width, media.height = rendition.width, rendition.height
    media.placeholder_color = rendition.placeholder_color
    media.renditions = [_entry(d) for d in rendition.files] + [_entry(square, sq=True)]
    for old in out_dir.iterdir():  # earlier versions of this image's derivatives
        if not old.name.startswith(f"{stem}-"):
            old.unlink(missing_ok=True)
    if media.post_id is not None:  # post images only: avatars are not art
        check_image(media, rendition.work_image)


def _entry(d: imaging.Derivative, sq: bool = False) -> dict:
    entry = {"w": d.width, "h": d.height, "fmt": d.format, "name": d.path.name, "bytes": d.bytes}
    return {**entry, "sq": True} if sq else entry


def add_avif(media: Media) -> None:
    """AVIF versions of the current derivatives (slow, so a lower-priority job of its own)."""
    rights, protected, stem = _options(media)
    if media.state != MediaState.DONE or not media.version or not stem.endswith(media.version):
        return  # changed since: the newer processing run enqueues its own AVIF job
    files = imaging.make_avif(
        storage.original_path(media.original_path),
        storage.derivative_dir(media.id),
        stem,
        protected=protected,
        rights=rights,
    )
    names = {r["name"] for r in media.renditions}
    media.renditions = media.renditions + [_entry(d) for d in files if d.path.name not in names]


def finish(post: Post) -> None:
    """All images processed: failed, rejected, held or published, the worst image deciding."""
    if any(m.state == MediaState.FAILED for m in post.media):
        post.state = PostState.FAILED
        return
    classify_post(post)
    decisions = {m.verdict.decision for m in post.media if m.verdict is not None}
    if "reject" in decisions or "hold" in decisions:
        post.state = PostState.REJECTED if "reject" in decisions else PostState.HELD
        moderation.tell_artist_filtered(post)
        return
    post.state = PostState.PUBLISHED
    post.published_at = post.published_at or utcnow()


# --- the AI filter ---------------------------------------------------------------------------


def check_image(media: Media, work_image: Image.Image) -> Verdict:
    """Perceptual hashes of the work image, then the filter on the ORIGINAL bytes: upsert
    the image's Verdict row (the decision, and every signal with its evidence).

    The classifier is not run here: `classify_post` scores a post's images in one batch when
    the post finishes. A score from an earlier run of this image is kept (same pixels).
    """
    try:
        hashes = hashindex.hash_image(work_image)
        media.phash, media.pdq = hashes.phash_hex, hashes.pdq_hex
    except ValueError:  # a thin strip too small to hash: no hash, so no hash match either
        media.phash = media.pdq = None
    data = storage.original_path(media.original_path).read_bytes()
    signals, _ = judge(data, work_image)
    earlier = [s for s in stored_signals(media.verdict) if s.name == aifilter.CLASSIFIER]
    return store_verdict(media, signals + earlier)


def stored_signals(row: Verdict | None) -> list[aifilter.Signal]:
    """The signals of a Verdict row, as Signal objects again."""
    fields = ("name", "verdict", "score", "evidence", "definitive")
    return [aifilter.Signal(**{k: s[k] for k in fields}) for s in (row.signals if row else [])]


def store_verdict(media: Media, signals: list[aifilter.Signal]) -> Verdict:
    """Decide from `signals` (allow list applied) and upsert the image's Verdict row."""
    loaded = classifier()
    thresholds = loaded.thresholds() if loaded else aifilter.Thresholds()
    verdict = known.apply_allow_list(aifilter.decide(signals, thresholds), signals)
    row = media.verdict or Verdict(media=media)
    row.decision = verdict.decision
    row.signals = [{**asdict(s), "reason": s in verdict.reasons} for s in signals]
    row.created_at = utcnow()
    db.session.add(row)
    return row


def classify_post(post: Post) -> None:
    """Score every image of the post the classifier has not seen, in one batch."""
    model = classifier()
    todo = [
        m
        for m in post.media
        if m.verdict is not None
        and not any(s.name == aifilter.CLASSIFIER for s in stored_signals(m.verdict))
    ]
    if model is None or not todo:
        return
    try:
        scores = model.predict([_classifier_input(m, model) for m in todo])
        signals = [aifilter.classifier_signal(x, model.thresholds(), model.name) for x in scores]
    except Exception as exc:  # a model failure must not stop publishing: record it instead
        log.exception("classifier failed on post %s", post.id)
        failed = f"Classifier could not run ({type(exc).__name__})"
        signals = [aifilter.Signal(aifilter.CLASSIFIER, "unknown", 0.0, failed)] * len(todo)
    for media, signal in zip(todo, signals, strict=True):
        store_verdict(media, [*stored_signals(media.verdict), signal])


def _classifier_input(media: Media, model: aifilter.Classifier) -> Image.Image:
    """The smallest display derivative at least as wide as the model's input (already
    oriented, sRGB and stripped), so the original is not decoded again."""
    webp = sorted(
        (r for r in media.renditions if r["fmt"] == "webp" and not r.get("sq")),
        key=lambda r: r["w"],
    )
    chosen = next((r for r in webp if r["w"] >= model.config.width), webp[-1])
    with Image.open(storage.derivative_dir(media.id) / chosen["name"]) as img:
        return img.convert("RGB")


def judge(
    data: bytes, work_image: Image.Image | None, classifier: aifilter.Classifier | None = None
) -> tuple[list[aifilter.Signal], aifilter.Verdict]:
    """Every signal for one image (provenance, known hashes, and the classifier when one is
    given) and the decision, with the allow list applied. `flask filter check` calls this."""
    extra = known.signals_for(work_image) if work_image is not None else []
    signals, verdict = aifilter.analyze(data, classifier=classifier, extra=extra)
    return signals, known.apply_allow_list(verdict, signals)


# Loaded once per process: (model path, sidecar path) -> Classifier, or the error it gave.
_classifiers: dict[tuple[str, str], aifilter.Classifier | str] = {}
_classifier_lock = threading.Lock()


def classifier_paths(config) -> tuple[Path, Path] | None:
    """The configured model and sidecar (relative paths are in the instance folder)."""
    model = config.get("CLASSIFIER_MODEL")
    if not model:
        return None
    instance = Path(current_app.instance_path)
    model = instance / model
    sidecar = config.get("CLASSIFIER_SIDECAR")
    return model, (instance / sidecar if sidecar else model.with_suffix(".json"))


def load_classifier(model: Path, sidecar: Path) -> aifilter.Classifier:
    """Load a classifier (raises ClassifierError); one ONNX thread: jobs run side by side."""
    return aifilter.Classifier.from_files(model, sidecar, intra_op_num_threads=1)


def _configured() -> aifilter.Classifier | str | None:
    paths = classifier_paths(current_app.config)
    if paths is None:
        return None
    key = (str(paths[0]), str(paths[1]))
    with _classifier_lock:
        if key not in _classifiers:
            try:
                _classifiers[key] = load_classifier(*paths)
            except aifilter.ClassifierError as exc:
                # Kept, not retried per image: /healthz and the moderation page report it.
                log.error("classifier disabled: %s", exc)
                _classifiers[key] = str(exc)
        return _classifiers[key]


def classifier() -> aifilter.Classifier | None:
    """The configured classifier, or None when there is none (or it could not be loaded)."""
    loaded = _configured()
    return loaded if isinstance(loaded, aifilter.Classifier) else None


def classifier_status() -> str:
    """Say "not configured", "ok" or "error: <why>" (for /healthz and the moderation page)."""
    loaded = _configured()
    if loaded is None:
        return "not configured"
    return "ok" if isinstance(loaded, aifilter.Classifier) else f"error: {loaded}"
