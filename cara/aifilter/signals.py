"""AI-image filter: signals -> decision.

Framework-free on purpose (no Flask, no config reads, no database): the upload job, the
``flask filter check`` command and the tests all call the same functions with plain values.

A :class:`Signal` is one piece of evidence. Provenance signals (C2PA, XMP, generator metadata,
see :mod:`cara.aifilter.provenance`) and known-hash matches are *definitive*: the file or our own
moderators say the image is AI-made. A classifier score is never definitive. :func:`decide`
turns signals into a :class:`Decision`; it never rejects on a classifier score, because human art
falsely flagged is the worst failure for our users.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

VERDICTS = ("ai", "human", "unknown")


class Outcome(enum.StrEnum):
    """What happens to an image."""

    PUBLISH = "publish"
    HOLD = "hold"
    REJECT = "reject"


DECISIONS = tuple(Outcome)

KNOWN_HASH = "known-hash"
KNOWN_HASH_ALLOWED = "known-hash+allowed"
CLASSIFIER = "classifier"

# Hamming-distance scale of each perceptual hash, to turn a distance into a 0..1 similarity.
_HASH_BITS = {"phash": 64, "ahash": 64, "dhash": 64, "whash": 64, "pdq": 256}


@dataclass(frozen=True)
class Signal:
    """One piece of evidence about an image; ``evidence`` is shown to the artist."""

    name: str
    verdict: str
    score: float
    evidence: str
    definitive: bool = False

    def __post_init__(self) -> None:
        # Fail where a bad signal is made, not later in a template or a DB row.
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be within 0..1, not {self.score!r}")


@dataclass(frozen=True)
class Thresholds:
    """Tunable cut-offs; a classifier score at or above ``classifier_hold`` holds the image."""

    classifier_hold: float = 0.9


@dataclass(frozen=True)
class Decision:
    """What to do with an image, and the signals that caused it (empty for publish)."""

    decision: str
    reasons: tuple[Signal, ...] = ()


def decide(signals: Iterable[Signal], thresholds: Thresholds = Thresholds()) -> Decision:
    """Apply the decision rules, strongest first.

    1. a known-hash match that is not allow-listed -> reject;
    2. any other definitive AI signal (provenance claim, allow-listed hash match) -> hold;
    3. a classifier score >= ``thresholds.classifier_hold`` -> hold (never reject);
    4. otherwise publish.
    """
    signals = list(signals)
    rejecting = tuple(
        s for s in signals if s.name == KNOWN_HASH and s.verdict == "ai" and s.definitive
    )
    if rejecting:
        return Decision(Outcome.REJECT, rejecting)
    holding = tuple(
        s
        for s in signals
        if (s.name != CLASSIFIER and s.verdict == "ai" and s.definitive)
        # A classifier only ever holds, whatever flags its signal carries.
        or (s.name == CLASSIFIER and s.score >= thresholds.classifier_hold)
    )
    if holding:
        return Decision(Outcome.HOLD, holding)
    return Decision(Outcome.PUBLISH, ())


def known_hash_signal(
    kind: str, distance: int, source: str, note: str, allow_listed: bool
) -> Signal:
    """A near-duplicate match against the known-AI hash list (computed in cara.aifilter.hashindex).

    ``kind`` is the hash ("phash", "pdq", "sha256"...), ``source`` where the listed hash came from
    (e.g. "moderator" or an import name), ``note`` free text. An allow-listed match (a moderator
    cleared an image with this hash) is still an AI signal, but it only holds, never rejects.
    """
    bits = _HASH_BITS.get(kind.lower())
    score = 1.0 if not bits else max(0.0, min(1.0, 1.0 - distance / bits))
    where = f"; {source}" if source else ""
    what = f": {note}" if note else ""
    evidence = f"Matches a known AI-generated image ({kind} distance {distance}{where}{what})"
    if allow_listed:
        evidence += "; a moderator also cleared a matching image, so it is held for review"
    return Signal(
        name=KNOWN_HASH_ALLOWED if allow_listed else KNOWN_HASH,
        verdict="ai",
        score=score,
        evidence=evidence,
        definitive=True,
    )


def classifier_signal(
    score: float,
    thresholds: Thresholds = Thresholds(),
    model: str = "",
) -> Signal:
    """Turn a classifier probability into a signal. Never definitive."""
    if math.isnan(score):
        raise ValueError("classifier score is NaN")
    score = max(0.0, min(1.0, float(score)))
    held = score >= thresholds.classifier_hold
    who = f'Classifier "{model}"' if model else "An automatic classifier"
    evidence = f"{who} scored this image {score:.2f} (hold at {thresholds.classifier_hold:.2f})"
    if held:
        evidence += "; classifiers make mistakes, so a moderator will review it"
    return Signal(CLASSIFIER, "ai" if held else "unknown", score, evidence, definitive=False)
