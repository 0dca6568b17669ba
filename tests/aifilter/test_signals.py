"""decide() rules and the known-hash and classifier signals of cara.aifilter.signals."""

from __future__ import annotations

import pytest

from cara.aifilter.signals import (
    Decision,
    Signal,
    Thresholds,
    classifier_signal,
    decide,
    known_hash_signal,
)

# --------------------------------------------------------------------------- decide()

PROVENANCE = Signal("c2pa", "ai", 1.0, "C2PA manifest declares trainedAlgorithmicMedia", True)
HUMANISH = Signal("c2pa", "unknown", 0.0, "C2PA manifest makes no AI claim")
HASH = known_hash_signal("phash", 4, "moderator", "confirmed AI", allow_listed=False)
ALLOWED = known_hash_signal("pdq", 10, "import:stopai", "", allow_listed=True)
WATERMARK = Signal("watermark", "ai", 0.8, "Stable Diffusion watermark (weak)", False)


def test_no_signals_publish() -> None:
    assert decide([]) == Decision("publish", ())


def test_known_hash_match_rejects() -> None:
    verdict = decide([HUMANISH, HASH, PROVENANCE])
    assert verdict.decision == "reject"
    assert verdict.reasons == (HASH,)


def test_allow_listed_hash_match_only_holds() -> None:
    verdict = decide([ALLOWED, HUMANISH])
    assert verdict.decision == "hold"
    assert verdict.reasons == (ALLOWED,)


def test_definitive_provenance_holds() -> None:
    verdict = decide([HUMANISH, PROVENANCE])
    assert verdict == Decision("hold", (PROVENANCE,))


def test_non_definitive_ai_signal_does_not_hold() -> None:
    assert decide([WATERMARK, HUMANISH]).decision == "publish"


@pytest.mark.parametrize(
    ("score", "threshold", "decision"),
    [(0.95, 0.9, "hold"), (0.9, 0.9, "hold"), (0.8999, 0.9, "publish"), (0.6, 0.5, "hold")],
)
def test_classifier_threshold(score: float, threshold: float, decision: str) -> None:
    thresholds = Thresholds(classifier_hold=threshold)
    signal = classifier_signal(score, thresholds)
    verdict = decide([signal], thresholds)
    assert verdict.decision == decision
    assert verdict.reasons == ((signal,) if decision == "hold" else ())


def test_classifier_alone_never_rejects() -> None:
    sure = classifier_signal(1.0)
    assert decide([sure]).decision == "hold"
    # Even a hand-made "definitive" classifier signal cannot reject (or hold below threshold).
    forged = Signal("classifier", "ai", 1.0, "forged", definitive=True)
    assert decide([forged]).decision == "hold"
    low = Signal("classifier", "ai", 0.2, "forged", definitive=True)
    assert decide([low]).decision == "publish"


def test_decide_uses_given_thresholds_not_signal_verdict() -> None:
    signal = classifier_signal(0.7, Thresholds(0.9))  # made with a strict threshold
    assert signal.verdict == "unknown"
    assert decide([signal], Thresholds(0.6)).decision == "hold"


def test_hold_lists_every_cause() -> None:
    sure = classifier_signal(0.99)
    verdict = decide([PROVENANCE, HUMANISH, sure, ALLOWED])
    assert verdict.decision == "hold"
    assert set(verdict.reasons) == {PROVENANCE, sure, ALLOWED}


def test_decide_accepts_any_iterable() -> None:
    assert decide(iter([PROVENANCE])).decision == "hold"


# --------------------------------------------------------------------------- signals


def test_known_hash_signal() -> None:
    assert HASH.name == "known-hash" and HASH.verdict == "ai" and HASH.definitive
    assert HASH.score == pytest.approx(1 - 4 / 64)
    assert "phash distance 4" in HASH.evidence and "confirmed AI" in HASH.evidence
    assert ALLOWED.name == "known-hash+allowed" and ALLOWED.definitive
    assert ALLOWED.score == pytest.approx(1 - 10 / 256)
    exact = known_hash_signal("sha256", 0, "moderator", "", allow_listed=False)
    assert exact.score == 1.0


def test_classifier_signal_is_never_definitive() -> None:
    for score in (0.0, 0.5, 0.9, 1.0):
        signal = classifier_signal(score, Thresholds(0.9), model="tiny")
        assert signal.name == "classifier" and not signal.definitive
        assert signal.verdict == ("ai" if score >= 0.9 else "unknown")
        assert signal.score == score and '"tiny"' in signal.evidence


@pytest.mark.parametrize(("verdict", "score"), [("maybe", 0.5), ("ai", 1.5), ("ai", -0.1)])
def test_signal_rejects_bad_values(verdict: str, score: float) -> None:
    with pytest.raises(ValueError):
        Signal("x", verdict, score, "")
