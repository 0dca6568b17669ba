"""Screening an image with the AI filter: its Verdict row, the classifier batch, the artist told.

The pure filter (cara.aifilter) decides from signals; this module gathers them for a Media row
(provenance from the original bytes, known hashes, the configured classifier) and stores them.
"""

import csv
import io
import logging
import math
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from flask import current_app
from PIL import Image
from sqlalchemy import or_, select

from cara import imaging
from cara.aifilter import hashindex, provenance
from cara.aifilter.analyze import analyze
from cara.aifilter.classifier import Classifier, ClassifierError
from cara.aifilter.signals import (
    CLASSIFIER,
    KNOWN_HASH,
    Decision,
    Outcome,
    Signal,
    Thresholds,
    classifier_signal,
    decide,
)
from cara.core import settings, storage
from cara.core.extensions import db
from cara.core.models import KnownHash, Media, MediaState, Post, PostState, Verdict, utcnow
from cara.posting import known
from cara.social import notify

log = logging.getLogger(__name__)


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
    data = storage.original_bytes(media.original_path)
    signals, _ = judge(data, work_image)
    earlier = [s for s in stored_signals(media.verdict) if s.name == CLASSIFIER]
    return store_verdict(media, signals + earlier)


def stored_signals(row: Verdict | None) -> list[Signal]:
    """The signals of a Verdict row, as Signal objects again."""
    fields = ("name", "verdict", "score", "evidence", "definitive")
    return [Signal(**{k: s[k] for k in fields}) for s in (row.signals if row else [])]


def store_verdict(media: Media, signals: list[Signal]) -> Verdict:
    """Decide from `signals` (allow list applied) and upsert the image's Verdict row."""
    verdict = known.apply_allow_list(decide(signals, thresholds(classifier())), signals)
    row = media.verdict or Verdict(media=media)
    row.decision = verdict.decision
    row.signals = [{**asdict(s), "reason": s in verdict.reasons} for s in signals]
    row.created_at = utcnow()
    db.session.add(row)
    return row


def classify_post(post: Post) -> None:
    """Score every image of the post the classifier has not seen, in one batch."""
    classify_images(post.media)


def classify_images(media_list: list[Media]) -> None:
    """Score the images the classifier has not seen, in one batch."""
    model = classifier()
    todo = [
        m
        for m in media_list
        if m.verdict is not None
        and not any(s.name == CLASSIFIER for s in stored_signals(m.verdict))
    ]
    if model is None or not todo:
        return
    try:
        scores = model.predict([_classifier_input(m, model) for m in todo])
        signals = [classifier_signal(x, thresholds(model), model.name) for x in scores]
    except Exception as exc:  # a model failure must not stop publishing: record it instead
        log.exception("classifier failed on media %s", [m.id for m in todo])
        failed = f"Classifier could not run ({type(exc).__name__})"
        signals = [Signal(CLASSIFIER, "unknown", 0.0, failed)] * len(todo)
    for media, signal in zip(todo, signals, strict=True):
        store_verdict(media, [*stored_signals(media.verdict), signal])


def thresholds(model: Classifier | None) -> Thresholds:
    """The admin's hold threshold (cara.core.settings), else the model sidecar's, else 0.9."""
    base = model.thresholds() if model else Thresholds()
    hold = settings.hold_threshold()
    return base if hold is None else replace(base, classifier_hold=hold)


def _classifier_input(media: Media, model: Classifier) -> Image.Image:
    """The smallest display derivative at least as wide as the model's input (already
    oriented, sRGB and stripped), so the original is not decoded again."""
    webp = sorted(
        (r for r in media.renditions if r["fmt"] == "webp" and not r.get("sq")),
        key=lambda r: r["w"],
    )
    chosen = next((r for r in webp if r["w"] >= model.config.width), webp[-1])
    with storage.rendition_file(media.id, chosen) as path, Image.open(path) as img:
        return img.convert("RGB")


def judge(
    data: bytes, work_image: Image.Image | None, classifier: Classifier | None = None
) -> tuple[list[Signal], Decision]:
    """Every signal for one image (provenance, known hashes, and the classifier when one is
    given) and the decision, with the allow list applied. `flask filter check` calls this."""
    extra = known.signals_for(work_image) if work_image is not None else []
    signals, verdict = analyze(data, classifier=classifier, extra=extra)
    return signals, known.apply_allow_list(verdict, signals)


def judge_file(path: Path, classifier: Classifier | None = None):
    """judge() for an image file (the admin commands): provenance from its bytes, hashes and the
    classifier from whatever Pillow can decode, a cut-short file included. Returns (signals,
    decision, why) with `why` saying why no pixels could be read (None when they could)."""
    data = path.read_bytes()
    try:
        with imaging.truncated_ok():
            work, why = known.load_work_image(path), None
    except (ValueError, OSError, Image.DecompressionBombError) as exc:
        work, why = None, str(exc)  # provenance is still read from the bytes
    signals, decision = judge(data, work, classifier)
    return signals, decision, why


@dataclass
class Evaluation:
    """The filter measured on labelled files: what an admin reads before trusting it."""

    # (label, predicted): label "ai"/"human", predicted "ai" (held or rejected) or "human".
    confusion: Counter = field(default_factory=Counter)
    # signal name -> Counter of labels of the files it fired on (as an AI signal).
    signals: dict[str, Counter] = field(default_factory=dict)
    # (file, label, decision, evidence) of every file the filter got wrong.
    wrong: list[tuple[str, str, str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def rate(self, label: str) -> float:
        """Share of `label` files the filter got right (recall of AI, or of human art)."""
        total = self.confusion[(label, "ai")] + self.confusion[(label, "human")]
        return self.confusion[(label, label)] / total if total else float("nan")

    def shown_rate(self, label: str) -> str:
        """rate() with three decimals, "n/a" when no file had that label."""
        rate = self.rate(label)
        return "n/a" if math.isnan(rate) else f"{rate:.3f}"


def read_labels(text: str) -> list[tuple[str, str]]:
    """(file, "ai"/"human") rows of a labels CSV (`file` and `label` columns, as `filter
    evaluate --labels` takes); raises ValueError naming the line at fault."""
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise ValueError("needs a header with file and label columns")
    out = []
    for line, row in enumerate(rows, start=2):
        label = (row["label"] or "").strip().lower()
        if label not in ("ai", "human"):
            raise ValueError(f"line {line}: label must be ai or human, not {label!r}")
        out.append(((row["file"] or "").strip(), label))
    return out


def evaluate(files: list[tuple[Path, str]], classifier: Classifier | None = None) -> Evaluation:
    """Judge each (file, label) as an upload would be judged now; nothing is stored."""
    result = Evaluation()
    for path, label in files:
        signals, decision, why = judge_file(path, classifier)
        if why is not None:
            result.unreadable.append((str(path), why))
        predicted = "human" if decision.decision == Outcome.PUBLISH else "ai"
        result.confusion[(label, predicted)] += 1
        for signal in signals:
            if signal.verdict == "ai":
                result.signals.setdefault(signal.name, Counter())[label] += 1
        if predicted != label:
            evidence = "; ".join(s.evidence for s in decision.reasons) or "no AI signal"
            result.wrong.append((str(path), label, decision.decision, evidence))
    return result


MAX_TRAINING_IMAGES = 5000  # per class from the database: bounds `filter train`'s run time


def training_images(
    folders: dict[str, list[Path]], limit: int = MAX_TRAINING_IMAGES
) -> tuple[list[Image.Image], list[int], list[str]]:
    """Labelled work images for `filter train` (labels 1 = AI): media a moderator confirmed as
    AI (listed KnownHash rows), against media a moderator cleared and the images of published
    posts, newest first; then every image file under the given folders ({"ai": [...],
    "human": [...]}). Also returns the files that could not be read."""
    listed = (
        select(KnownHash.media_id)
        .where(KnownHash.media_id.is_not(None), KnownHash.allow.is_(False))
        .distinct()
    )
    cleared = select(KnownHash.media_id).where(KnownHash.allow.is_(True))
    ai = db.session.scalars(
        select(Media).where(Media.id.in_(listed)).order_by(Media.id.desc()).limit(limit)
    ).all()
    human = db.session.scalars(
        select(Media)
        .join(Post, Media.post_id == Post.id)
        .where(
            Media.id.not_in(listed),
            or_(Media.id.in_(cleared), Post.state == PostState.PUBLISHED),
            Media.state == MediaState.DONE,
        )
        .order_by(Media.id.desc())
        .limit(limit)
    ).all()
    images, labels, unreadable = [], [], []
    for label, media in ((1, ai), (0, human)):
        for m in media:
            try:
                images.append(known.work_image_of(m))
                labels.append(label)
            except (ValueError, OSError, Image.DecompressionBombError):
                unreadable.append(f"media {m.id}")
    for label, name in ((1, "ai"), (0, "human")):
        for folder in folders.get(name, []):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                try:
                    images.append(known.load_work_image(path))
                    labels.append(label)
                except (ValueError, OSError, Image.DecompressionBombError):
                    unreadable.append(str(path))
    return images, labels, unreadable


# Loaded once per process: (model path, sidecar path) -> Classifier, or the error it gave.
_classifiers: dict[tuple[str, str], Classifier | str] = {}
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


def load_classifier(model: Path, sidecar: Path) -> Classifier:
    """Load a classifier (raises ClassifierError); one ONNX thread: jobs run side by side."""
    return Classifier.from_files(model, sidecar, intra_op_num_threads=1)


def _configured() -> Classifier | str | None:
    paths = classifier_paths(current_app.config)
    if paths is None:
        return None
    key = (str(paths[0]), str(paths[1]))
    with _classifier_lock:
        if key not in _classifiers:
            try:
                _classifiers[key] = load_classifier(*paths)
            except ClassifierError as exc:
                # Kept, not retried per image: /healthz and the moderation page report it.
                log.error("classifier disabled: %s", exc)
                _classifiers[key] = str(exc)
        return _classifiers[key]


def classifier() -> Classifier | None:
    """The configured classifier, or None when there is none (or it could not be loaded)."""
    loaded = _configured()
    return loaded if isinstance(loaded, Classifier) else None


def classifier_status() -> str:
    """Say "not configured", "ok" or "error: <why>" (for /healthz and the moderation page)."""
    loaded = _configured()
    if loaded is None:
        return "not configured"
    return "ok" if isinstance(loaded, Classifier) else f"error: {loaded}"


# --- what the artist and the moderators are shown ------------------------------------------


def flagged(post: Post) -> list[Media]:
    """The post's images whose verdict holds or rejects them."""
    return [
        m for m in post.media if m.verdict and m.verdict.decision in (Outcome.HOLD, Outcome.REJECT)
    ]


def reasons(media: Media) -> list[dict]:
    """The signals that decided an image's verdict (stored dicts: name, score, evidence...)."""
    if media.verdict is None:
        return []
    return [s for s in media.verdict.signals if s.get("reason")]


_QUOTED = re.compile(r'"([^"]+)"')
_BRACKETED = re.compile(r"\(([^()]+)\)")


def plain_reason(signal: dict) -> str:
    """What a deciding signal means, in words an artist reads without knowing the filter (the
    evidence string stays for moderators, and one click away for the artist)."""
    name, evidence = signal.get("name", ""), signal.get("evidence", "")
    if name == provenance.C2PA:
        found = _QUOTED.search(evidence)
        who = f" ({found[1]})" if found else ""
        return f"This image carries a signature from an AI image generator{who}."
    if name in (provenance.PNG_TEXT, provenance.EXIF):
        found = _BRACKETED.search(evidence)  # the generator, or what kind of settings
        who = f" ({found[1].removesuffix(' generation settings')})" if found else ""
        return f"This image's file holds the settings of an AI image generator{who}."
    if name == provenance.XMP:
        return "This image's file describes it as made by generative AI."
    if name == provenance.STEALTH:
        return "This image hides the settings of an AI image generator in its pixels."
    if name == KNOWN_HASH:
        return "This image matches one already known to be AI-generated."
    if name == CLASSIFIER:
        return "Our AI-image detector rates this image as likely AI-generated."
    return "Our AI-image filter flagged this image."


def tell_artist_filtered(post: Post) -> None:
    """The filter held or rejected a post: say why, and that an appeal is possible."""
    first = next((r for m in flagged(post) for r in reasons(m)), None)
    if post.state == PostState.REJECTED:
        text = "Your post was not published: it matches a known AI-generated image."
    else:
        text = "Your post is held for review; only you and the moderators can see it."
    if first:
        text += f" {plain_reason(first)}"
    notify.notify(post.author_id, "moderation", post_id=post.id, text=text + " You can appeal.")
