"""Time each AI-filter signal over the fixture images.

    .venv/bin/python bench/filter.py [--repeat N] [--per-file]

Prints milliseconds per image for each step (container parse, C2PA, XMP, PNG/EXIF text,
stealth pnginfo, classifier with the tiny test model) and the whole analyze(), then the
ratio of the provenance cost to a baseline: one full Pillow decode of the same image, which
the upload pipeline pays anyway for its derivatives. No Flask app is created.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cara.aifilter import provenance  # noqa: E402
from cara.aifilter.analyze import analyze  # noqa: E402
from cara.aifilter.classifier import Classifier  # noqa: E402
from tests.support import (  # noqa: E402
    AI_FILTER_FIXTURES,
    build_tiny_model,
    fixture_manifest,
    write_sidecar,
)

STEPS = ("parse", "c2pa", "xmp", "text", "stealth", "classifier")


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs: the least noisy estimate of the cost itself."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img


def classify(data: bytes, clf: Classifier) -> float:
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (clf.config.width, clf.config.height))
        img = ImageOps.exif_transpose(img)
        return clf.predict([img])[0]


def measure(name: str, data: bytes, clf: Classifier, repeat: int) -> dict[str, float]:
    meta = provenance.read_metadata(data)
    row = {
        "parse": best_ms(lambda: provenance.read_metadata(data), repeat),
        "c2pa": best_ms(lambda: provenance.c2pa_signal(data, meta.format), repeat),
        "xmp": best_ms(lambda: provenance.xmp_signal(meta), repeat),
        "text": best_ms(
            lambda: (provenance.generator_text_signal(meta), provenance.exif_signal(meta)), repeat
        ),
        "stealth": best_ms(lambda: provenance.stealth_signal(data, meta), repeat),
        "classifier": best_ms(lambda: classify(data, clf), repeat),
        "analyze": best_ms(lambda: analyze(data, classifier=clf), repeat),
        "decode": best_ms(lambda: decode(data), repeat),
    }
    row["provenance"] = sum(row[s] for s in STEPS if s != "classifier")
    return row


def synthetic_upload() -> bytes:
    """A large human-looking RGBA PNG (4000x3000): where the stealth shortcut matters."""
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w]
    arr = np.zeros((h, w, 4), np.uint8)
    arr[..., 0] = (x * 255 // w).astype(np.uint8)
    arr[..., 1] = (y * 255 // h).astype(np.uint8)
    arr[..., 2] = ((x + y) % 256).astype(np.uint8)
    arr[..., 3] = 255
    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--per-file", action="store_true", help="print one line per image")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny.onnx", size=(224, 224))
        clf = Classifier.from_files(model, write_sidecar(Path(tmp) / "tiny.json", size=[224, 224]))

    files = [(r["file"], (AI_FILTER_FIXTURES / r["file"]).read_bytes()) for r in fixture_manifest()]
    provenance.provenance_signals(files[0][1])  # warm up: native C2PA context, imports
    rows = {name: measure(name, data, clf, args.repeat) for name, data in files}

    cols = (*STEPS, "provenance", "analyze", "decode")
    header = f"{'file':<48}" + "".join(f"{c:>11}" for c in cols)
    if args.per_file:
        print(header)
        for name, row in rows.items():
            print(f"{name:<48}" + "".join(f"{row[c]:>11.2f}" for c in cols))
        print()

    print(f"ms per image over {len(rows)} fixture files (best of {args.repeat} runs each)")
    print(f"{'':<12}" + "".join(f"{c:>11}" for c in cols))
    for label, agg in (("mean", statistics.fmean), ("median", statistics.median), ("max", max)):
        print(
            f"{label:<12}" + "".join(f"{agg([r[c] for r in rows.values()]):>11.2f}" for c in cols)
        )
    total = {c: sum(r[c] for r in rows.values()) for c in cols}
    print(f"{'total':<12}" + "".join(f"{total[c]:>11.2f}" for c in cols))
    print(
        f"\nprovenance / full decode (baseline): {total['provenance'] / total['decode']:.2f}x"
        f"   analyze with classifier / full decode: {total['analyze'] / total['decode']:.2f}x"
    )

    big = synthetic_upload()
    row = measure("synthetic", big, clf, max(1, args.repeat // 2))
    print(f"\nsynthetic 4000x3000 RGBA PNG ({len(big) / 1e6:.1f} MB):")
    print("  " + "  ".join(f"{c} {row[c]:.2f}" for c in cols))
    print(f"  stealth check / full decode: {row['stealth'] / row['decode']:.3f}x")


if __name__ == "__main__":
    main()
