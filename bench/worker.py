"""The worker: AVIF encoder speed vs quality, and a burst of uploads through a real RQ worker.

    .venv/bin/python bench/worker.py --avif [--speeds 8:50,9:58]     # speed[:quality], ~2 minutes
    .venv/bin/python bench/worker.py --webp [--methods 1,0]          # WebP at >= 1280 px
    CARA_BENCH_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/worker.py [--uploads 30]

`--avif` encodes the AVIF rungs (those up to AVIF_MAX_WIDTH: 320/640/960) of a 12 MP photo
(bench/pipeline.py's) and of a demo painting at each speed[:quality], on one thread, and prints
per setting the CPU time, the bytes and the SSIM (luma, Gaussian 11x11, sigma 1.5, against the
resized image that was encoded) with its change from the first setting (8:50, the previous
one). cara.imaging.render's AVIF_SPEED and AVIF_QUALITY are picked from it
(docs/performance.md). `--webp` does the same for the WebP method of the rungs from
WEBP_FAST_WIDTH up.

The burst (default) starts `flask worker` (the real command: RQ over Redis, with its scheduler)
on a fresh SQLite database, publishes `--uploads` posts of a 12 MP photo each through the
domain's upload path (drafts.add_images + publish: what the upload form does), and waits for
the queue to drain. It prints: publish throughput (images whose post went live per second),
all-formats throughput (images with their AVIF done per second, i.e. the whole burst), drain
time, the worker's CPU time for the burst (one job at a time: images per CPU-second is the
throughput of one core, and stays meaningful on a busy shared machine, where wall times are
mostly waiting), and the RSS of the worker and of any scheduler child.
Target (issue 16): all formats >= 1.5 images/s per core (judged on the CPU time).
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


def avif_speeds(speeds: list[str]) -> None:
    from PIL import Image

    from cara.imaging import render

    workdir = Path(tempfile.mkdtemp(prefix="cara-bench-avif-"))
    print(f"{'image':<12} {'speed':>5} {'cpu s':>6} {'KB':>7} {'SSIM':>7} {'dSSIM':>8}  per rung")
    for name, path in sources(workdir).items():
        widths = [w for w in render.DEFAULT_WIDTHS if w <= render.AVIF_MAX_WIDTH]
        prep = render._prepare_or_raise(path, widths, None)
        base = None
        for setting in speeds:
            speed, _, quality = str(setting).partition(":")  # "9:58": speed 9, quality 58
            render.AVIF_SPEED, render.AVIF_QUALITY = int(speed), int(quality or 50)
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
            base = _row(name, setting, cpu, size, scores, base, rungs)


def _row(name, setting, cpu, size, scores, base, rungs) -> float:
    """Print one setting's line; return the SSIM later lines are compared with."""
    mean = statistics.mean(scores)
    base = mean if base is None else base
    print(
        f"{name:<12} {setting!s:>6} {cpu:6.3f} {size / 1024:7.0f} {mean:7.4f} "
        f"{mean - base:+8.4f}  {' '.join(rungs)}",
        flush=True,
    )
    return base


def webp_methods(methods: list[int]) -> None:
    """WebP method per rung >= render.WEBP_FAST_WIDTH: CPU, bytes, SSIM (the same columns)."""
    from PIL import Image

    from cara.imaging import render

    workdir = Path(tempfile.mkdtemp(prefix="cara-bench-webp-"))
    print(f"{'image':<12} {'method':>6} {'cpu s':>6} {'KB':>7} {'SSIM':>7} {'dSSIM':>8}  per rung")
    for name, path in sources(workdir).items():
        prep = render._prepare_or_raise(path, render.DEFAULT_WIDTHS, None)
        if prep.sizes[-1][0] < render.WEBP_FAST_WIDTH:
            print(f"{name:<12} no rung of {render.WEBP_FAST_WIDTH} px or more")
            continue
        base = None
        for method in methods:
            cpu, size, scores, rungs = 0.0, 0, [], []
            for w, _h in prep.sizes:
                if w < render.WEBP_FAST_WIDTH:
                    continue
                im = prep.images[w]
                best = None
                for _ in range(3):  # the least CPU of three: the machine is shared
                    began = time.process_time()
                    buf = io.BytesIO()
                    im.save(buf, "WEBP", quality=render.WEBP_QUALITY, method=method)
                    took = time.process_time() - began
                    best = took if best is None else min(best, took)
                with Image.open(io.BytesIO(buf.getvalue())) as decoded:
                    score = ssim(im.convert("RGB"), decoded.convert("RGB"))
                cpu, size = cpu + best, size + buf.tell()
                scores.append(score)
                rungs.append(f"{w}:{best:.3f}s/{buf.tell() // 1024}KB/{score:.4f}")
            base = _row(name, method, cpu, size, scores, base, rungs)


# --- a burst through a real worker -----------------------------------------------------------


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, USS) of a process in MB: USS counts only its private pages, what it adds to the
    machine beyond the pages a forked child still shares with its parent."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields["Rss"] / 1024, private / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def photos(workdir: Path, n: int) -> list[bytes]:
    """n distinct 12 MP JPEGs (one photo with a different mark on each: no two hashes match)."""
    from PIL import Image, ImageDraw
    from pipeline import build_photo

    base = workdir / "photo.jpg"
    build_photo(base)
    out = []
    with Image.open(base) as photo:
        photo.load()
        for i in range(n):
            im = photo.copy()
            ImageDraw.Draw(im).rectangle((i * 100, i * 60, i * 100 + 400, i * 60 + 300), fill=i * 8)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            out.append(buf.getvalue())
    return out


def burst(n: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="cara-bench-worker-"))
    redis_url = os.environ.get("CARA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite'}",
        "CARA_MEDIA_DIR": str(workdir / "media"),
        "CARA_SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "REDIS_URL": redis_url,
        "CARA_RATELIMIT_ENABLED": "false",
        "CARA_RATELIMIT_STORAGE_URI": "memory://",
    }
    os.environ.update(env)
    from flask_migrate import upgrade
    from redis import Redis
    from sqlalchemy import func, select

    from cara import create_app, imaging
    from cara.accounts import auth
    from cara.core.extensions import db
    from cara.core.models import Media, Post, PostState
    from cara.posting import drafts

    Redis.from_url(redis_url).flushdb()  # this bench's own database number
    app = create_app()
    images = photos(workdir, n)
    print(f"{n} uploads of a 12 MP JPEG ({len(images[0]) / 1e6:.1f} MB each)", flush=True)
    with app.app_context():
        upgrade()
        user, errors = auth.register("bench", "bench@example.com", "bench-password-not-common")
        assert not errors, errors
        db.session.commit()
        flask = str(Path(sys.executable).with_name("flask"))
        began = time.perf_counter()
        log = workdir / "worker.log"
        with log.open("w") as out:
            worker = subprocess.Popen(
                [flask, "--app", "app", "worker"], cwd=REPO, env=env, stdout=out, stderr=out
            )
        try:
            while "Listening on" not in log.read_text():  # RQ logs its queues once it loops
                if worker.poll() is not None:
                    raise SystemExit("the worker stopped:\n" + log.read_text())
                time.sleep(0.1)
            ready = time.perf_counter() - began
            time.sleep(1)
            idle = memory_mb(worker.pid)
            scheduler = [memory_mb(pid) for pid in children(worker.pid)]
            print(f"worker ready (warmed up) in {ready:.1f} s", flush=True)
            began, cpu_began = time.perf_counter(), cpu_seconds(worker.pid)
            for i, data in enumerate(images):
                post, errors = drafts.add_images(
                    user, None, [drafts.Upload(f"photo-{i}.jpg", data)], imaging.Limits(), 10
                )
                assert not errors, errors
                form = {"caption": f"burst {i}", "alt": {post.media[0].id: f"Photo {i}"}}
                assert not drafts.publish(post, form)
            uploaded = time.perf_counter() - began
            published_at = all_at = None
            peak = idle[0]
            while all_at is None:
                time.sleep(0.2)
                peak = max(peak, memory_mb(worker.pid)[0])
                db.session.remove()
                live = db.session.scalar(
                    select(func.count()).where(Post.state == PostState.PUBLISHED)
                )
                if published_at is None and live == n:
                    published_at = time.perf_counter() - began
                rows = db.session.scalars(select(Media.renditions)).all()
                done = sum(any(r["fmt"] == "avif" for r in renditions) for renditions in rows)
                if done == n:
                    all_at = time.perf_counter() - began
                    cpu = cpu_seconds(worker.pid) - cpu_began
                if time.perf_counter() - began > 900:
                    raise SystemExit(f"not drained after 900 s: {live} live, {done} with AVIF")
            busy = memory_mb(worker.pid)
            report(n, uploaded, published_at, all_at, cpu, idle, peak, busy, scheduler)
        finally:
            worker.terminate()
            worker.wait(30)
            db.session.remove()
            db.engine.dispose()
    return 0 if n / cpu >= 1.5 else 1


def report(n, uploaded, published_at, all_at, cpu, idle, peak, busy, scheduler) -> None:
    print(f"uploads handed over in {uploaded:.1f} s (web side: validation, storage, enqueue)")
    live = f"all {n} posts live after {published_at:.1f} s"
    print(f"publish:     {n / published_at:.2f} images/s ({live})")
    print(f"all formats: {n / all_at:.2f} images/s (AVIF done, queue drained after {all_at:.1f} s)")
    print(
        f"per core:    {n / cpu:.2f} images/s all formats ({cpu:.1f} s of the worker's CPU for"
        f" {n} images, {cpu / n:.2f} s each: what one core does, however busy the machine)"
    )
    rss = f"{idle[0]:.0f} MB idle after warm-up, {peak:.0f} MB peak, {busy[0]:.0f} MB after"
    print(f"worker RSS: {rss}")
    for rss, uss in scheduler:
        print(f"scheduler child: RSS {rss:.0f} MB, of which private (USS) {uss:.0f} MB")
    if not scheduler:
        print("scheduler child: none (the scheduler runs inside the worker)")
    verdict = "PASS" if n / cpu >= 1.5 else "FAIL"
    print(f"all formats >= 1.5 images/s per core: {verdict}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--avif", action="store_true", help="AVIF speed vs SSIM only")
    parser.add_argument("--speeds", default="8:50,9:50,9:58", help="speed[:quality],...")
    parser.add_argument("--webp", action="store_true", help="WebP method at the large rungs only")
    parser.add_argument("--methods", default="1,0")
    parser.add_argument("--uploads", type=int, default=30)
    args = parser.parse_args()
    if args.webp:
        webp_methods([int(m) for m in args.methods.split(",")])
        return 0
    if args.avif:
        avif_speeds(args.speeds.split(","))
        return 0
    return burst(args.uploads)


if __name__ == "__main__":
    sys.exit(main())
