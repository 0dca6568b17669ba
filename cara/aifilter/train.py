"""An instance-trained classifier: a logistic-regression head on an image encoder's embeddings.

The admin exports an image encoder (e.g. a CLIP image tower) to ONNX; `embed` runs it on
labelled images, `fit` learns a linear probe on the L2-normalised embeddings (balanced class
weights, L2 penalty, Newton's method), `cross_validate` measures precision and recall at the
hold threshold on held-out folds, and `merge` writes one ONNX model (encoder, then the head)
whose two-logit output the classifier slot (`classifier.py`) reads with `ai_index` 1 and
softmax. Pure library: numpy, onnx, onnxruntime; no Flask, no database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cara.aifilter.classifier import Classifier, ClassifierConfig, ClassifierError

# CLIP's preprocessing (open_clip / OpenAI): the default for an encoder without a sidecar.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
L2_PENALTY = 1.0  # on the weights (not the bias), in units of the mean sample loss x n
FOLDS = 5
MIN_PER_CLASS = 5  # fewer labelled images of a class than this: refuse to train


@dataclass(frozen=True)
class Head:
    """w . (x / |x|) + b is the AI logit of an embedding x."""

    weights: np.ndarray  # (d,) float64
    bias: float

    def logits(self, emb: np.ndarray) -> np.ndarray:
        return _normalised(emb) @ self.weights + self.bias

    def probabilities(self, emb: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(emb)))


@dataclass(frozen=True)
class Report:
    """Cross-validated figures at `threshold` (an AI probability at or above it holds)."""

    n_ai: int
    n_human: int
    folds: int
    threshold: float
    precision: float  # of the images held, the share that are AI
    recall: float  # of the AI images, the share held
    human_held: float  # of the human images, the share held (false positives)


def load_encoder(path: Path, sidecar: Path | None = None) -> Classifier:
    """The encoder as a `Classifier` (for its input checks and preprocessing). Its sidecar uses
    the classifier keys (`ai_index`/`softmax` are ignored); without one, a 224 px NCHW input
    with CLIP's mean and std is assumed."""
    sidecar = sidecar if sidecar is not None else path.with_suffix(".json")
    if sidecar.is_file():
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
        raw = {**raw, "ai_index": 0, "softmax": False}
        raw.pop("hold_threshold", None)
        config = ClassifierConfig.from_dict(raw)
    else:
        config = ClassifierConfig(
            input="", height=224, width=224, mean=CLIP_MEAN, std=CLIP_STD, ai_index=0
        )
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ClassifierError(f"encoder {path} cannot be loaded: {exc}") from exc
    return Classifier(session, config, name=path.stem)


def embed(encoder: Classifier, images: Sequence[Image.Image]) -> np.ndarray:
    """(n, d) float64 embeddings: the encoder's first output, flattened per image."""
    out = []
    name = encoder.session.get_outputs()[0].name
    for img in images:
        x = encoder.preprocess(img)[None].astype(encoder._dtype, copy=False)
        (y,) = encoder.session.run([name], {encoder.config.input: x})
        out.append(np.asarray(y, np.float64).reshape(-1))
    if len({len(v) for v in out}) > 1:
        raise ClassifierError("encoder gives embeddings of different sizes")
    return np.stack(out) if out else np.empty((0, 0))


def _normalised(emb: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norm, 1e-12)


def fit(emb: np.ndarray, labels: np.ndarray, l2: float = L2_PENALTY) -> Head:
    """Logistic regression on normalised embeddings; labels 1 = AI. Classes are weighted so
    each counts as much as the other (a site has far more human than confirmed AI images)."""
    x = _normalised(np.asarray(emb, np.float64))
    y = np.asarray(labels, np.float64)
    n, d = x.shape
    pos = max(y.sum(), 1.0)
    sample_w = np.where(y == 1, n / (2 * pos), n / (2 * max(n - pos, 1.0)))
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0  # the bias is not penalised
    for _ in range(50):  # Newton's method: the loss is convex, ~10 steps reach machine precision
        p = 1.0 / (1.0 + np.exp(-(xb @ theta)))
        grad = xb.T @ (sample_w * (p - y)) + penalty * theta
        hess = (xb * (sample_w * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Head(theta[:-1].copy(), float(theta[-1]))


def cross_validate(
    emb: np.ndarray, labels: np.ndarray, threshold: float, folds: int = FOLDS
) -> Report:
    """Stratified k-fold (deterministic): every image is scored by a head that never saw it."""
    y = np.asarray(labels, int)
    n_ai, n_human = int(y.sum()), int(len(y) - y.sum())
    if min(n_ai, n_human) < MIN_PER_CLASS:
        raise ClassifierError(
            f"need at least {MIN_PER_CLASS} AI and {MIN_PER_CLASS} human images "
            f"(have {n_ai} and {n_human})"
        )
    k = min(folds, n_ai, n_human)
    rng = np.random.default_rng(0)
    fold = np.empty(len(y), int)
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = np.arange(len(idx)) % k
    scores = np.empty(len(y))
    for f in range(k):
        test = fold == f
        scores[test] = fit(emb[~test], y[~test]).probabilities(emb[test])
    held = scores >= threshold
    tp = int((held & (y == 1)).sum())
    return Report(
        n_ai=n_ai,
        n_human=n_human,
        folds=k,
        threshold=threshold,
        precision=tp / held.sum() if held.any() else float("nan"),
        recall=tp / n_ai,
        human_held=int((held & (y == 0)).sum()) / n_human,
    )


def merge(encoder_path: Path, encoder: Classifier, head: Head, out_path: Path) -> None:
    """Write encoder + head as one ONNX model: Flatten, L2 normalisation, then a MatMul/Add
    giving two logits (-z/2, z/2), so softmax's second value is sigmoid(z)."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    model = onnx.load(str(encoder_path))
    enc_out = model.graph.output[0].name
    w = np.stack([-head.weights / 2, head.weights / 2], axis=1).astype(np.float32)
    b = np.array([-head.bias / 2, head.bias / 2], np.float32)
    nodes = [
        helper.make_node("Flatten", ["embedding"], ["flat"], axis=1),
        helper.make_node("LpNormalization", ["flat"], ["unit"], axis=1, p=2),
        helper.make_node("MatMul", ["unit", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logits"]),
    ]
    elem = model.graph.output[0].type.tensor_type.elem_type or TensorProto.FLOAT
    if elem != TensorProto.FLOAT:
        nodes.insert(0, helper.make_node("Cast", ["embedding_in"], ["embedding"], to=1))
    graph = helper.make_graph(
        nodes,
        "cara_head",
        [helper.make_tensor_value_info(nodes[0].input[0], elem, None)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    # The head uses the encoder's opset (merge_models needs them equal); its four operators
    # exist since opset 1.
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
    head_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=model.ir_version
    )
    merged = compose.merge_models(
        model, head_model, io_map=[(enc_out, nodes[0].input[0])], prefix2="head_"
    )
    onnx.checker.check_model(merged)
    onnx.save(merged, str(out_path))


def sidecar(encoder: Classifier, report: Report, name: str) -> dict:
    """The merged model's sidecar: the encoder's preprocessing, two logits, the hold
    threshold it was measured at, and the cross-validated figures as a comment."""
    cfg = encoder.config
    figures = asdict(report)
    return {
        "name": name,
        "input": cfg.input,
        "size": [cfg.height, cfg.width],
        "layout": cfg.layout,
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "resample": cfg.resample,
        "ai_index": 1,
        "softmax": True,
        "hold_threshold": report.threshold,
        "labels": ["human", "ai"],
        "comment": "cara filter train, cross-validated: "
        + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        ),
    }
