"""The worker: AVIF encoder speed vs quality, and a burst of uploads through a real RQ worker.

    .venv/bin/python bench/worker.py --avif [--speeds 6,8,9,10]      # about 2 minutes
    CARA_BENCH_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/worker.py [--uploads 30]

`--avif` encodes the AVIF rungs (320/640/1280/2048) of a 12 MP photo (bench/pipeline.py's) and
of a demo painting at each encoder speed, with cara's qualities, on one thread, and prints per
speed the CPU time, the bytes and the SSIM (luma, Gaussian 11x11, sigma 1.5, against the resized
image that was encoded) with its change from speed 6 (the old setting). cara.imaging.render's
AVIF_SPEED is picked from it (docs/performance.md).

The burst (default) starts `flask worker` (the real command: RQ over Redis, with its scheduler)
on a fresh SQLite database, publishes `--uploads` posts of a 12 MP photo each through the
domain's upload path (drafts.add_images + publish: what the upload form does), and waits for
the queue to drain. It prints: publish throughput (images whose post went live per second),
all-formats throughput (images with their AVIF done per second, i.e. the whole burst), drain
time, and the RSS of the worker, of the work-horse it forks per job (peak) and of the scheduler
(if RQ runs it as a process). Per core: the worker runs one job at a time.
Target (issue 16): all formats >= 1.5 images/s per core.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


# --- AVIF speed vs SSIM ----------------------------------------------------------------------


def ssim(a, b) -> float:
    """Mean SSIM of two same-size RGB images on luma (Wang et al. 2004)."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    def luma(im):
        return np.asarray(im.convert("L"), dtype=np.float64)

    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v):
        return gaussian_filter(v, 1.5, truncate=3.5)  # an 11x11 window

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def sources(workdir: Path) -> dict[str, Path]:
    from pipeline import build_photo

    from cara import demo

    photo = workdir / "photo.jpg"
    build_photo(photo)
    painting = workdir / "painting.png"
    demo._waves(3).save(painting)
    return {"photo 12 MP": photo, "painting": painting}


def avif_speeds(speeds: list[int]) -> None:
    from PIL import Image

    from cara.imaging import render

    workdir = Path(tempfile.mkdtemp(prefix="cara-bench-avif-"))
    print(f"{'image':<12} {'speed':>5} {'cpu s':>6} {'KB':>7} {'SSIM':>7} {'dSSIM':>8}  per rung")
    for name, path in sources(workdir).items():
        prep = render._prepare_or_raise(path, render.DEFAULT_WIDTHS, None)
        base = None
        for speed in speeds:
            render.AVIF_SPEED = speed
            cpu, size, scores, rungs = 0.0, 0, [], []
            for w, _h in prep.sizes:
                im = prep.images[w]
                began = time.process_time()
                data = render._encode(im, "avif", protected=False, rights=None, xmp=None)
                took = time.process_time() - began
                with Image.open(io.BytesIO(data)) as decoded:
                    score = ssim(im.convert("RGB"), decoded.convert("RGB"))
                cpu, size = cpu + took, size + len(data)
                scores.append(score)
                rungs.append(f"{w}:{took:.2f}s/{score:.4f}")
            mean = statistics.mean(scores)
            base = mean if base is None else base
            print(
                f"{name:<12} {speed:>5} {cpu:6.2f} {size / 1024:7.0f} {mean:7.4f} "
                f"{mean - base:+8.4f}  {' '.join(rungs)}",
                flush=True,
            )


# --- a burst through a real worker -----------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--avif", action="store_true", help="AVIF speed vs SSIM only")
    parser.add_argument("--speeds", default="6,7,8,9,10")
    parser.add_argument("--uploads", type=int, default=30)
    args = parser.parse_args()
    if args.avif:
        avif_speeds([int(s) for s in args.speeds.split(",")])
        return 0
    return burst(args.uploads)


if __name__ == "__main__":
    sys.exit(main())
