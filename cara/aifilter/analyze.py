"""Every signal for one upload's original bytes, and the decision (provenance + classifier)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

from PIL import Image, ImageOps

from cara.aifilter.classifier import Classifier
from cara.aifilter.provenance import provenance_signals
from cara.aifilter.signals import (
    CLASSIFIER,
    Decision,
    Signal,
    Thresholds,
    classifier_signal,
    decide,
)

logger = logging.getLogger(__name__)


def analyze(
    data: bytes,
    *,
    classifier: Classifier | None = None,
    thresholds: Thresholds | None = None,
    extra: Iterable[Signal] = (),
) -> tuple[list[Signal], Decision]:
    """Collect every signal for the ORIGINAL upload bytes and decide.

    Provenance is read from ``data`` as uploaded (derivatives have their metadata stripped).
    ``extra`` carries signals computed elsewhere, e.g. :func:`known_hash_signal`. Without
    explicit ``thresholds`` the classifier's sidecar ``hold_threshold`` applies, if it has one.
    Never raises on malformed images.
    """
    # Imported here: cara.provenance imports Signal from this module.

    if thresholds is None:
        thresholds = classifier.thresholds() if classifier is not None else Thresholds()
    signals = provenance_signals(data)
    if classifier is not None:
        signals.extend(_classify(data, classifier, thresholds))
    signals.extend(extra)
    return signals, decide(signals, thresholds)


def _classify(data: bytes, classifier: Classifier, thresholds: Thresholds) -> list[Signal]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            # JPEG can decode at a reduced scale: much cheaper, and we resize down anyway.
            img.draft("RGB", (classifier.config.width, classifier.config.height))
            img = ImageOps.exif_transpose(img)
            img.load()
    except Exception as exc:  # a bad upload must not fail the job: no classifier signal
        logger.info("classifier skipped, image not decodable: %s", exc)
        return []
    try:
        (score,) = classifier.predict([img])
    except Exception as exc:
        # Visible in the stored signals instead of silently publishing.
        logger.exception("classifier failed")
        return [
            Signal(CLASSIFIER, "unknown", 0.0, f"Classifier could not run ({type(exc).__name__})")
        ]
    return [classifier_signal(score, thresholds, classifier.name)]
