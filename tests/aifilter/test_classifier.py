"""The ONNX classifier (a tiny model built here), and analyze() running it with the signals."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cara.aifilter.analyze import analyze
from cara.aifilter.classifier import Classifier, ClassifierError
from cara.aifilter.signals import Decision, Thresholds, known_hash_signal
from tests.support import AI_FILTER_FIXTURES, BIAS, WEIGHTS, build_tiny_model, write_sidecar

HASH = known_hash_signal("phash", 4, "moderator", "confirmed AI", allow_listed=False)

# --------------------------------------------------------------------------- tiny ONNX model


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
