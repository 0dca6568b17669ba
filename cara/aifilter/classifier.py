"""An optional ONNX image classifier configured by the admin (model file + sidecar JSON)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cara.aifilter.signals import Thresholds

logger = logging.getLogger(__name__)


class ClassifierError(Exception):
    """The configured classifier (model file or sidecar JSON) cannot be used."""


_LAYOUTS = ("NCHW", "NHWC")
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
_INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
# Unknown keys are an error, so a typo ("hold_treshold") cannot silently use a default.
_SIDECAR_KEYS = frozenset(
    ("input", "size", "layout", "mean", "std", "ai_index", "softmax", "hold_threshold")
    + ("resample", "name", "labels", "comment")
)


@dataclass(frozen=True)
class ClassifierConfig:
    """The sidecar JSON next to the model (see docs/filter.md)."""

    input: str
    height: int
    width: int
    layout: str = "NCHW"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ai_index: int = 1
    softmax: bool = True
    hold_threshold: float | None = None
    resample: str = "bilinear"

    @classmethod
    def from_dict(cls, raw: Any) -> ClassifierConfig:
        """Validate a parsed sidecar; raises ClassifierError naming the bad key."""
        if not isinstance(raw, dict):
            raise ClassifierError("sidecar must be a JSON object")
        unknown = set(raw) - _SIDECAR_KEYS
        if unknown:
            raise ClassifierError(f"sidecar has unknown keys: {', '.join(sorted(unknown))}")
        size = raw.get("size")
        if (
            not isinstance(size, list)
            or len(size) != 2
            or not all(_is_int(v) and v > 0 for v in size)
        ):
            raise ClassifierError('sidecar "size" must be [height, width], positive integers')
        name = raw.get("input", "")
        if not isinstance(name, str):
            raise ClassifierError('sidecar "input" must be a string (the model input name)')
        layout = raw.get("layout", "NCHW")
        if layout not in _LAYOUTS:
            raise ClassifierError(f'sidecar "layout" must be one of {_LAYOUTS}')
        mean = _triple(raw, "mean", 0.0)
        std = _triple(raw, "std", 1.0)
        if any(v <= 0 for v in std):
            raise ClassifierError('sidecar "std" values must be > 0')
        ai_index = raw.get("ai_index")
        if not _is_int(ai_index) or ai_index < 0:
            raise ClassifierError('sidecar "ai_index" must be a non-negative integer')
        softmax = raw.get("softmax", True)
        if not isinstance(softmax, bool):
            raise ClassifierError('sidecar "softmax" must be true or false')
        hold = raw.get("hold_threshold")
        if hold is not None and not (_is_number(hold) and 0.0 < hold <= 1.0):
            raise ClassifierError('sidecar "hold_threshold" must be a number in (0, 1]')
        resample = raw.get("resample", "bilinear")
        if resample not in _RESAMPLE:
            raise ClassifierError(f'sidecar "resample" must be one of {tuple(_RESAMPLE)}')
        return cls(
            input=name,
            height=int(size[0]),
            width=int(size[1]),
            layout=layout,
            mean=mean,
            std=std,
            ai_index=int(ai_index),
            softmax=softmax,
            hold_threshold=None if hold is None else float(hold),
            resample=resample,
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _triple(raw: dict, key: str, default: float) -> tuple[float, float, float]:
    value = raw.get(key, [default] * 3)
    if not isinstance(value, list) or len(value) != 3 or not all(_is_number(v) for v in value):
        raise ClassifierError(f'sidecar "{key}" must be a list of 3 numbers (R, G, B)')
    return (float(value[0]), float(value[1]), float(value[2]))


class Classifier:
    """An ONNX image classifier, loaded once and reused; thread-safe for predict()."""

    def __init__(self, session: Any, config: ClassifierConfig, name: str = "") -> None:
        self.session = session
        self.config = config
        self.name = name
        inputs = {i.name: i for i in session.get_inputs()}
        if not config.input:
            if len(inputs) != 1:
                raise ClassifierError(
                    f'model has inputs {sorted(inputs)}: name one in the sidecar "input"'
                )
            config = self.config = replace(config, input=next(iter(inputs)))
        if config.input not in inputs:
            raise ClassifierError(
                f'sidecar "input" {config.input!r} is not a model input {sorted(inputs)}'
            )
        spec = inputs[config.input]
        dtype = _INPUT_DTYPES.get(spec.type)
        if dtype is None:
            raise ClassifierError(f"model input {config.input!r} has unsupported type {spec.type}")
        self._dtype = dtype
        shape = list(spec.shape)
        if len(shape) != 4:
            raise ClassifierError(f"model input {config.input!r} must be 4-D, has shape {shape}")
        h, w = config.height, config.width
        expected = [h, w, 3] if config.layout == "NHWC" else [3, h, w]
        for got, want in zip(shape[1:], expected, strict=True):
            if isinstance(got, int) and got != want:
                raise ClassifierError(
                    f"model input shape {shape} does not match sidecar size/layout "
                    f"({config.layout} {config.height}x{config.width})"
                )
        # A symbolic or missing batch dimension means we may batch several images per run.
        self.dynamic_batch = not isinstance(shape[0], int)
        outputs = session.get_outputs()
        if not outputs:
            raise ClassifierError("model has no outputs")
        out_shape = list(outputs[0].shape)
        classes = out_shape[-1] if out_shape else None
        if isinstance(classes, int) and config.ai_index >= classes:
            raise ClassifierError(
                f'sidecar "ai_index" {config.ai_index} is out of range for {classes} outputs'
            )

    @classmethod
    def from_files(
        cls,
        model_path: str | Path,
        sidecar_json_path: str | Path,
        *,
        intra_op_num_threads: int = 1,
    ) -> Classifier:
        """Load the model and its sidecar; raises ClassifierError with a clear message."""
        model_path, sidecar_json_path = Path(model_path), Path(sidecar_json_path)
        try:
            raw = json.loads(sidecar_json_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClassifierError(f"classifier sidecar not found: {sidecar_json_path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ClassifierError(
                f"classifier sidecar {sidecar_json_path} is unreadable: {exc}"
            ) from exc
        config = ClassifierConfig.from_dict(raw)
        if not model_path.is_file():
            raise ClassifierError(f"classifier model not found: {model_path}")

        import onnxruntime as ort  # heavy import, only when a classifier is configured

        options = ort.SessionOptions()
        # One thread each by default: the worker runs jobs in parallel processes instead.
        options.intra_op_num_threads = intra_op_num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only; ONNX Runtime warnings are noise here
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ClassifierError(f"classifier model {model_path} cannot be loaded: {exc}") from exc
        name = raw.get("name") if isinstance(raw.get("name"), str) else model_path.stem
        return cls(session, config, name=name)

    @property
    def hold_threshold(self) -> float | None:
        return self.config.hold_threshold

    def thresholds(self, base: Thresholds = Thresholds()) -> Thresholds:
        """``base`` with the sidecar's hold threshold, when the sidecar sets one."""
        if self.config.hold_threshold is None:
            return base
        return Thresholds(classifier_hold=self.config.hold_threshold)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """One image -> model input without the batch axis: (3,H,W) or (H,W,3), float32.

        RGB (transparency composited on white, as the image is shown), resized to the sidecar
        size, scaled to 0..1, then (x - mean) / std per channel.
        """
        cfg = self.config
        rgb = _resized_rgb(img, (cfg.width, cfg.height), _RESAMPLE[cfg.resample])
        x = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
        x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
        if cfg.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, images: Sequence[Image.Image], max_batch: int = 16) -> list[float]:
        """The AI probability (0..1) of each image, batched when the model allows it."""
        if not images:
            return []
        batch = max_batch if self.dynamic_batch else 1
        scores: list[float] = []
        for start in range(0, len(images), batch):
            x = np.stack([self.preprocess(im) for im in images[start : start + batch]])
            scores.extend(self._run(x.astype(self._dtype, copy=False)))
        return scores

    def _run(self, x: np.ndarray) -> list[float]:
        (out,) = self.session.run([self.session.get_outputs()[0].name], {self.config.input: x})
        out = np.asarray(out, dtype=np.float64).reshape(len(x), -1)
        if self.config.ai_index >= out.shape[1]:
            raise ClassifierError(f"model gave {out.shape[1]} outputs, ai_index is too large")
        if self.config.softmax and out.shape[1] == 1:
            probs = 1.0 / (1.0 + np.exp(-out))  # softmax of one logit is meaningless: sigmoid
        elif self.config.softmax:
            z = np.exp(out - out.max(axis=1, keepdims=True))
            probs = z / z.sum(axis=1, keepdims=True)
        else:
            probs = out
        scores = probs[:, self.config.ai_index]
        if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
            raise ClassifierError(
                'model output is not a probability in 0..1; set "softmax": true in the sidecar'
            )
        return [float(s) for s in scores]


def _resized_rgb(img: Image.Image, size: tuple[int, int], resample: int) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        # Resize first (Pillow resamples RGBA premultiplied, so the order does not change the
        # result) and composite the small image: far cheaper for large uploads.
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        small = rgba.resize(size, resample)
        background = Image.new("RGBA", size, (255, 255, 255, 255))
        return Image.alpha_composite(background, small).convert("RGB")
    return img.convert("RGB").resize(size, resample)
