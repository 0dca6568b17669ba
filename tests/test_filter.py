"""decide() rules, hash and classifier signals, analyze(), and the ONNX classifier."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cara.aifilter.analyze import analyze
from cara.aifilter.classifier import Classifier, ClassifierError
from cara.aifilter.signals import (
    Decision,
    Signal,
    Thresholds,
    classifier_signal,
    decide,
    known_hash_signal,
)
from tests.support import AI_FILTER_FIXTURES

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


# --------------------------------------------------------------------------- tiny ONNX model

# Mean colour (R, G, B) of the normalised input -> 2 logits. Red pushes toward "ai" (index 1).
WEIGHTS = np.array([[-1.0, 2.0], [0.5, -0.5], [0.3, 0.1]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)


def build_tiny_model(
    path: Path,
    *,
    layout: str = "NCHW",
    size: tuple[int, int] = (8, 12),
    dynamic_batch: bool = True,
    input_name: str = "pixel_values",
) -> Path:
    """An ONNX graph that averages the image per channel, then a fixed linear layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = size
    batch: int | str = "batch" if dynamic_batch else 1
    shape = [batch, 3, h, w] if layout == "NCHW" else [batch, h, w, 3]
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", [input_name], ["mean"], axes=axes, keepdims=0),
            helper.make_node("MatMul", ["mean", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2])],
        initializer=[numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "B")],
    )
    # Opset 17 keeps ReduceMean's axes an attribute; IR 8 loads in any recent runtime.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_sidecar(path: Path, **overrides: Any) -> Path:
    sidecar = {
        "input": "pixel_values",
        "size": [8, 12],
        "layout": "NCHW",
        "mean": [0.5, 0.4, 0.3],
        "std": [0.25, 0.2, 0.5],
        "ai_index": 1,
        "softmax": True,
        "hold_threshold": 0.9,
    }
    sidecar.update(overrides)
    path.write_text(json.dumps({k: v for k, v in sidecar.items() if v is not None}))
    return path


def _gradient(size: tuple[int, int] = (40, 30), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    arr[..., 2] = rng.integers(0, 256, (h, w))
    return Image.fromarray(arr, "RGB")


def _expected_input(img: Image.Image, mean: list[float], std: list[float], size=(8, 12)):
    h, w = size
    x = np.asarray(img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), np.float32)
    return (x / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)  # (H, W, 3)


def _expected_score(x_hwc: np.ndarray) -> float:
    logits = x_hwc.mean(axis=(0, 1)) @ WEIGHTS + BIAS
    z = np.exp(logits - logits.max())
    return float(z[1] / z.sum())


@pytest.fixture
def tiny(tmp_path: Path) -> Classifier:
    model = build_tiny_model(tmp_path / "tiny.onnx")
    return Classifier.from_files(model, write_sidecar(tmp_path / "tiny.json"))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_preprocess_layout_and_normalisation(tmp_path: Path, layout: str) -> None:
    model = build_tiny_model(tmp_path / "m.onnx", layout=layout)
    clf = Classifier.from_files(model, write_sidecar(tmp_path / "m.json", layout=layout))
    img = _gradient()
    x = clf.preprocess(img)
    expected = _expected_input(img, [0.5, 0.4, 0.3], [0.25, 0.2, 0.5])
    if layout == "NCHW":
        expected = expected.transpose(2, 0, 1)
    assert x.dtype == np.float32
    assert x.shape == ((3, 8, 12) if layout == "NCHW" else (8, 12, 3))
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)


def test_preprocess_handles_other_modes(tiny: Classifier) -> None:
    for mode in ("L", "RGBA", "P", "CMYK"):
        assert tiny.preprocess(_gradient().convert(mode)).shape == (3, 8, 12)
    # Transparent pixels are shown on white, so the classifier sees white.
    clear = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    white = (1 - np.array([0.5, 0.4, 0.3])) / np.array([0.25, 0.2, 0.5])
    np.testing.assert_allclose(tiny.preprocess(clear)[:, 0, 0], white, rtol=1e-6)


def test_transparency_is_composited_on_white_before_the_model(tiny: Classifier) -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, img).convert("RGB")
    expected = _expected_input(flat, [0.5, 0.4, 0.3], [0.25, 0.2, 0.5]).transpose(2, 0, 1)
    # Within two 8-bit steps of compositing at full size (we composite after resizing).
    np.testing.assert_allclose(tiny.preprocess(img), expected, atol=2.01 / 255 / 0.2)


class _CountingSession:
    def __init__(self, session: Any) -> None:
        self.session, self.runs = session, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_batch_predict_one_score_per_image_in_one_run(tiny: Classifier) -> None:
    images = [_gradient(seed=1), Image.new("RGB", (9, 9), "red"), Image.new("RGB", (5, 7), "blue")]
    tiny.session = counting = _CountingSession(tiny.session)
    scores = tiny.predict(images)
    assert counting.runs == 1 and tiny.dynamic_batch
    mean, std = [0.5, 0.4, 0.3], [0.25, 0.2, 0.5]
    expected = [_expected_score(_expected_input(im, mean, std)) for im in images]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert scores[1] > 0.9 > scores[2]  # red reads as "ai" for this toy model
    assert tiny.predict([]) == []


def test_static_batch_model_runs_one_by_one(tmp_path: Path, tiny: Classifier) -> None:
    model = build_tiny_model(tmp_path / "static.onnx", dynamic_batch=False)
    clf = Classifier.from_files(model, write_sidecar(tmp_path / "s.json"))
    assert not clf.dynamic_batch
    clf.session = counting = _CountingSession(clf.session)
    images = [_gradient(seed=s) for s in range(3)]
    assert clf.predict(images) == pytest.approx(tiny.predict(images), rel=1e-6)
    assert counting.runs == 3


def test_session_is_single_threaded_by_default(tiny: Classifier, tmp_path: Path) -> None:
    assert tiny.session.get_session_options().intra_op_num_threads == 1
    assert tiny.session.get_session_options().inter_op_num_threads == 1
    two = Classifier.from_files(
        tmp_path / "tiny.onnx", tmp_path / "tiny.json", intra_op_num_threads=2
    )
    assert two.session.get_session_options().intra_op_num_threads == 2


def test_sidecar_hold_threshold_and_name(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m.onnx")
    clf = Classifier.from_files(model, write_sidecar(tmp_path / "m.json", hold_threshold=0.75))
    assert clf.hold_threshold == 0.75 and clf.thresholds() == Thresholds(0.75)
    assert clf.name == "m"
    bare = Classifier.from_files(model, write_sidecar(tmp_path / "b.json", hold_threshold=None))
    assert bare.thresholds() == Thresholds()


def test_input_name_may_be_omitted_for_single_input_models(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m.onnx", input_name="image")
    clf = Classifier.from_files(model, write_sidecar(tmp_path / "m.json", input=None))
    assert clf.config.input == "image"


def test_probabilities_out_of_range_are_an_error(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m.onnx")
    clf = Classifier.from_files(model, write_sidecar(tmp_path / "m.json", softmax=False))
    with pytest.raises(ClassifierError, match="softmax"):
        clf.predict([Image.new("RGB", (8, 8), "red")])  # raw logit 2.0+ is not a probability


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"size": [8]}, "size"),
        ({"size": [8, 0]}, "size"),
        ({"layout": "CHW"}, "layout"),
        ({"mean": [0.5, 0.5]}, "mean"),
        ({"std": [1, 0, 1]}, "std"),
        ({"ai_index": -1}, "ai_index"),
        ({"ai_index": 2}, "ai_index"),
        ({"ai_index": None}, "ai_index"),
        ({"softmax": "yes"}, "softmax"),
        ({"hold_threshold": 1.5}, "hold_threshold"),
        ({"input": "images"}, "input"),
        ({"size": [16, 16]}, "size"),  # the model's fixed 8x12 disagrees
        ({"layout": "NHWC"}, "layout"),
        ({"resample": "magic"}, "resample"),
        ({"colour": "rgb"}, "unknown keys"),
    ],
)
def test_bad_sidecar_raises_classifier_error(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    model = build_tiny_model(tmp_path / "m.onnx")
    with pytest.raises(ClassifierError, match=message):
        Classifier.from_files(model, write_sidecar(tmp_path / "m.json", **overrides))


def test_unreadable_sidecar_raises_classifier_error(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m.onnx")
    with pytest.raises(ClassifierError, match="not found"):
        Classifier.from_files(model, tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ClassifierError, match="unreadable"):
        Classifier.from_files(model, tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ClassifierError, match="JSON object"):
        Classifier.from_files(model, tmp_path / "list.json")


def test_missing_or_bad_model_raises_classifier_error(tmp_path: Path) -> None:
    sidecar = write_sidecar(tmp_path / "m.json")
    with pytest.raises(ClassifierError, match="not found"):
        Classifier.from_files(tmp_path / "missing.onnx", sidecar)
    (tmp_path / "junk.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(ClassifierError, match="cannot be loaded"):
        Classifier.from_files(tmp_path / "junk.onnx", sidecar)


# --------------------------------------------------------------------------- analyze()


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, "PNG")
    return buf.getvalue()


def test_analyze_human_fixture_with_extra_hash_rejects() -> None:
    data = (AI_FILTER_FIXTURES / "human" / "pillow_hopper.jpg").read_bytes()
    signals, verdict = analyze(data, extra=[HASH])
    assert signals == [HASH]
    assert verdict == Decision("reject", (HASH,))


def test_analyze_runs_the_classifier(tiny: Classifier) -> None:
    signals, verdict = analyze(_png("red"), classifier=tiny)
    (signal,) = signals
    assert signal.name == "classifier" and signal.score > 0.9
    assert verdict == Decision("hold", (signal,))
    signals, verdict = analyze(_png("blue"), classifier=tiny)
    assert signals[0].score < 0.5 and verdict.decision == "publish"


def test_analyze_thresholds_default_to_the_sidecar(tmp_path: Path, tiny: Classifier) -> None:
    with Image.open(io.BytesIO(_png("green"))) as img:
        (score,) = tiny.predict([img])
    assert 0.0 < score < 0.9
    model = tmp_path / "tiny.onnx"
    lenient = Classifier.from_files(model, write_sidecar(tmp_path / "l.json", hold_threshold=1.0))
    strict = Classifier.from_files(
        model, write_sidecar(tmp_path / "s.json", hold_threshold=score * 0.999)
    )
    assert analyze(_png("green"), classifier=lenient)[1].decision == "publish"
    assert analyze(_png("green"), classifier=strict)[1].decision == "hold"
    explicit = Thresholds(classifier_hold=1.0)
    assert analyze(_png("green"), classifier=strict, thresholds=explicit)[1].decision == "publish"


def test_analyze_classifier_plus_hash_rejects_because_of_hash(tiny: Classifier) -> None:
    signals, verdict = analyze(_png("red"), classifier=tiny, extra=[HASH])
    assert verdict == Decision("reject", (HASH,))
    assert [s.name for s in signals] == ["classifier", "known-hash"]


def test_analyze_ai_fixture_with_classifier_keeps_provenance(tiny: Classifier) -> None:
    data = (AI_FILTER_FIXTURES / "ai" / "sdparsers_a1111_cropped.png").read_bytes()
    signals, verdict = analyze(data, classifier=tiny)
    assert verdict.decision == "hold"
    assert "png-text" in {s.name for s in verdict.reasons}
    assert "classifier" in {s.name for s in signals}


@pytest.mark.parametrize("data", [b"", b"garbage", _png("red")[:60]])
def test_analyze_undecodable_bytes_do_not_raise(tiny: Classifier, data: bytes) -> None:
    signals, verdict = analyze(data, classifier=tiny)
    assert verdict.decision == "publish"
    assert not any(s.verdict == "ai" for s in signals)
