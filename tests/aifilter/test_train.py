"""`flask filter train`: a logistic-regression head on an admin's ONNX encoder, trained on the
site's moderation decisions and labelled folders, merged into one model for the classifier
slot (issue 14). The encoder is built here: mean colour per channel, a 3-d embedding."""

import io
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from cara.aifilter import train
from cara.aifilter.classifier import Classifier, ClassifierError
from cara.core.extensions import db
from cara.posting import known

SIZE = 32


def _encoder(path):
    node = helper.make_node("ReduceMean", ["pixels"], ["embedding"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [node],
        "mean_colour",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps({"size": [SIZE, SIZE], "std": [1, 1, 1]}))
    return path


def _picture(seed: int, ai: bool) -> Image.Image:
    """Noise tinted red (the "AI" class here) or blue (human), the tint varying with the seed."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 120, (96, 128, 3)).astype(np.int32)
    a[..., 0 if ai else 2] += int(rng.integers(60, 130))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_fit_separates_and_cross_validation_reports():
    rng = np.random.default_rng(0)
    emb = np.vstack([rng.normal(1, 0.3, (20, 4)), rng.normal(-1, 0.3, (30, 4))])
    y = np.r_[np.ones(20, int), np.zeros(30, int)]
    head = train.fit(emb, y)
    assert (head.probabilities(emb[:20]) > 0.5).all() and (head.probabilities(emb[20:]) < 0.5).all()
    report = train.cross_validate(emb, y, threshold=0.5)
    assert (report.n_ai, report.n_human, report.folds) == (20, 30, 5)
    assert report.precision == 1.0 and report.recall == 1.0 and report.human_held == 0.0
    with pytest.raises(ClassifierError, match="at least 5"):
        train.cross_validate(emb[16:], y[16:], threshold=0.5)


def test_train_end_to_end(app, make_post, make_user, tmp_path):
    encoder = _encoder(tmp_path / "encoder.onnx")
    moderator = make_user(role="moderator")
    # The site's own decisions: two images confirmed as AI, two published human ones.
    for seed in (1, 2):
        post = make_post(images=[_png(_picture(seed, ai=True))])
        known.list_image(post.media[0], source="moderator", who=moderator)
    for seed in (3, 4):
        make_post(images=[_png(_picture(seed, ai=False))])
    db.session.commit()
    folders = {"ai": tmp_path / "ai", "human": tmp_path / "human"}
    for label, folder in folders.items():
        folder.mkdir()
        for seed in range(10, 16):
            _picture(seed, ai=label == "ai").save(folder / f"{seed}.png")
    (folders["human"] / "notes.txt").write_text("not an image")
    out = tmp_path / "trained.onnx"
    result = app.test_cli_runner().invoke(
        args=["filter", "train", "--encoder", str(encoder), "--out", str(out)]
        + ["--ai", str(folders["ai"]), "--human", str(folders["human"]), "--threshold", "0.6"],
    )
    assert result.exit_code == 0, result.output
    assert "8 AI and 8 human images, 5-fold cross-validation at hold threshold 0.60" in (
        result.output
    )
    assert "precision 1.000  recall 1.000  human images held 0.000" in result.output
    assert "notes.txt" in result.output  # skipped, and said so
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["ai_index"] == 1 and side["softmax"] and side["hold_threshold"] == 0.6
    clf = Classifier.from_files(out, out.with_suffix(".json"))  # one merged model, the slot's
    ai_scores = clf.predict([_picture(s, ai=True) for s in range(30, 35)])
    human_scores = clf.predict([_picture(s, ai=False) for s in range(30, 35)])
    assert min(ai_scores) >= 0.6 > max(human_scores)


def test_train_refuses_too_few_labels(app, tmp_path):
    encoder = _encoder(tmp_path / "encoder.onnx")
    (tmp_path / "ai").mkdir()
    _picture(1, ai=True).save(tmp_path / "ai" / "one.png")
    result = app.test_cli_runner().invoke(
        args=["filter", "train", "--encoder", str(encoder), "--ai", str(tmp_path / "ai")]
    )
    assert result.exit_code != 0 and "need at least 5 AI and 5 human images" in result.output
