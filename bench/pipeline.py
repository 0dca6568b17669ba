"""Derivative pipeline benchmark: cara.media vs a naive Pillow path, one core, 12 MP JPEG.

Run by hand:  .venv/bin/python bench/pipeline.py [--runs 7] [--cpu 0] [--size 4000x3000]

Builds a realistic 12 MP photo (4000x3000, a real photo upscaled with sensor-like noise, JPEG
quality 90, camera EXIF), then runs each path in its own fresh subprocess (so peak RSS is per
path), pinned to one CPU:

  ours      make_derivatives (WebP 320/640/1280/2048 + JPEG 640/1280, rights XMP)
            + imagehash.phash and pdqhash (if importable) on the returned work image
  ours-webp the same with the JPEG fallbacks turned off (jpeg_widths=())
  naive     Image.open + full load + exif_transpose, then for each width: LANCZOS resize from
            the full image + save WebP with Pillow's defaults (quality 80, method 4)

Prints, per image, the median wall time and the median CPU time of the process (CPU time is
what to read on a shared, busy machine: wall time then includes waiting for the core), peak RSS
and its growth over the idle interpreter, and the speedups. Targets: ours <= 500 ms per 12 MP
image on one core, and >= 2x faster than naive.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WIDTHS = (320, 640, 1280, 2048)
TARGET_MS = 500.0
TARGET_RATIO = 2.0


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a
    worker would report its parent's peak (the 12 MP numpy arrays built below)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0) so the peak excludes import spikes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def build_photo(path: Path, size: tuple[int, int] = (4000, 3000)) -> None:
    import numpy as np
    from PIL import Image

    from tests.support import AI_FILTER_FIXTURES

    with Image.open(AI_FILTER_FIXTURES / "human" / "pillow_xmp_test.jpg") as src:
        src = src.convert("RGB")
        w, h = src.size
        crop_w = h * 4 // 3  # 4:3 like a camera, then upscale to 12 MP
        src = src.crop(((w - crop_w) // 2, 0, (w + crop_w) // 2, h))
        big = src.resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(12)
    arr = np.asarray(big, dtype=np.int16)
    arr = arr + rng.normal(0, 5, arr.shape).astype(np.int16)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "BenchCam", "Model 12"
    exif.get_ifd(0x8769)[0xA431] = "SN0123456789"
    img.save(path, "JPEG", quality=90, exif=exif)


def run_ours(src: Path, out: Path, i: int, jpeg: bool) -> None:
    import imagehash
    import numpy as np

    from cara import imaging as media

    rights = media.Rights(
        "Bench Artist", "© 2025 Bench Artist", f"https://cara.example/posts/{i}", None
    )
    kw = {} if jpeg else {"jpeg_widths": ()}
    r = media.make_derivatives(src, out, f"b{i}-v1", widths=WIDTHS, rights=rights, **kw)
    imagehash.phash(r.work_image)
    try:
        import pdqhash
    except ImportError:
        return
    pdqhash.compute(np.asarray(r.work_image))


def run_naive(src: Path, out: Path, i: int) -> None:
    from PIL import Image, ImageOps

    im = Image.open(src)
    im.load()
    im = ImageOps.exif_transpose(im)
    for w in WIDTHS:
        if w > im.width:
            continue
        h = round(im.height * w / im.width)
        small = im.resize((w, h), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        small.save(buf, "WEBP", quality=80)
        (out / f"n{i}-{w}.webp").write_bytes(buf.getvalue())


def worker(path_name: str, src: Path, runs: int, cpu: int | None) -> dict:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    # Import everything first so the idle baseline and the timings exclude import cost.
    import imagehash
    import numpy  # noqa: F401
    from PIL import Image, ImageOps  # noqa: F401

    from cara import imaging as media  # noqa: F401

    # phash imports scipy lazily: do it now, so the RSS growth compares pixel work only.
    imagehash.phash(Image.new("RGB", (64, 64)))
    reset_peak_rss()
    idle = peak_rss_mb()
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i in range(runs + 1):  # the first run warms caches (scipy DCT, ICC) and is dropped
            t0, c0 = time.perf_counter(), time.process_time()
            if path_name == "naive":
                run_naive(src, out, i)
            else:
                run_ours(src, out, i, jpeg=(path_name == "ours"))
            if i:
                walls.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
        written = sum(p.stat().st_size for p in out.iterdir() if p.name.startswith(("b1-", "n1-")))
    return {
        "path": path_name,
        "wall_ms": statistics.median(walls),
        "wall_min_ms": min(walls),
        "cpu_ms": statistics.median(cpus),
        "peak_rss_mb": peak_rss_mb(),
        "idle_rss_mb": idle,
        "bytes_written": written,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cpu", type=int, default=0, help="pin each worker to this CPU (-1: no)")
    ap.add_argument("--size", default="4000x3000", help="source WxH (6000x4000: draft 1/2)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cpu = None if args.cpu < 0 else args.cpu
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.src), args.runs, cpu)))
        return

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.jpg"
        w, h = (int(v) for v in args.size.lower().split("x"))
        build_photo(src, (w, h))
        mb = src.stat().st_size / 1e6
        print(f"source: {w}x{h} JPEG q90 ({w * h / 1e6:.0f} MP), {mb:.1f} MB; runs={args.runs}")
        print(f"pinned to CPU {cpu}" if cpu is not None else "not pinned")
        results = {}
        for name in ("ours", "ours-webp", "naive"):
            cmd = [sys.executable, __file__, "--worker", name, "--src", str(src)]
            cmd += ["--runs", str(args.runs), "--cpu", str(args.cpu)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    print()
    print(
        f"{'path':<10} {'wall ms':>8} {'min':>6} {'cpu ms':>7} {'peak RSS':>9} {'growth':>7}"
        f" {'bytes out':>10}"
    )
    for r in results.values():
        print(
            f"{r['path']:<10} {r['wall_ms']:>8.0f} {r['wall_min_ms']:>6.0f} {r['cpu_ms']:>7.0f}"
            f" {r['peak_rss_mb']:>7.0f}MB {r['peak_rss_mb'] - r['idle_rss_mb']:>5.0f}MB"
            f" {r['bytes_written']:>10,}"
        )
    print("(medians per image; growth = peak RSS minus the idle interpreter after imports)")
    ours, webp, naive = results["ours"], results["ours-webp"], results["naive"]
    print()
    print("ours = WebP 320/640/1280/2048 + JPEG 640/1280 + XMP + pHash + PDQ; naive = WebP only")
    print(
        f"speedup vs naive: wall {naive['wall_ms'] / ours['wall_ms']:.2f}x (ours), "
        f"{naive['wall_ms'] / webp['wall_ms']:.2f}x (ours-webp); "
        f"cpu {naive['cpu_ms'] / ours['cpu_ms']:.2f}x (ours), "
        f"{naive['cpu_ms'] / webp['cpu_ms']:.2f}x (ours-webp)"
    )
    print(f"load average at the end: {load:.2f} on {os.cpu_count()} CPUs (wall > cpu: contention)")
    ok_ms = ours["cpu_ms"] <= TARGET_MS
    ok_ratio = naive["cpu_ms"] / ours["cpu_ms"] >= TARGET_RATIO
    print(
        f"target <= {TARGET_MS:.0f} ms (cpu, ours): {'met' if ok_ms else 'NOT met'}; "
        f"target >= {TARGET_RATIO:.0f}x: {'met' if ok_ratio else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
