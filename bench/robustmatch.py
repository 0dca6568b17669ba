"""Robust known-image matching: first stage (pHash + PDQ) vs second stage (ORB + RANSAC).

    OMP_NUM_THREADS=1 .venv/bin/python bench/robustmatch.py [--quick] [--scale N]

Known set: every AI fixture image of at least 32 px (MANIFEST.csv label "ai"). First stage:
`hashindex.variant_hashes` rows (as today) plus three rows per image for the 90/180/270°
rotations; second stage: `features.extract` into a `FeatureIndex`. Each known image is
transformed in every way listed in issue 14 (and the ways the first stage already handles) and
looked up like an upload. Printed per transformation: recall of the first stage as it is, with
the rotation rows, of the second stage, and combined (either stage).

False matches: distinct images that are *not* known (every human fixture image; non-overlapping
tiles of the larger human photos; procedurally drawn scenes, text pages and app screenshots;
collages and screenshots built from human images only) looked up the same way: any match is
a false match. Matches of a transformed known image to a *different* known image count too.

Timing (`--scale N`, default 100,000; 20,000 with --quick): a FeatureIndex of N synthetic known
images plus the real ones. Synthetic images are derived, not real: each takes 400 descriptors
sampled from the descriptors of the human (non-known) images' transformations, with 8 random
bits flipped, at random positions. The IVF lists are filled from each parent descriptor's list
(assignment of tens of millions of descriptors would take most of the run). Lookup time is
`FeatureIndex.search` per query on one core, and the recall of the real known images among the
distractors is printed as well.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import faiss  # noqa: E402

try:
    from cara.aifilter import hashindex as hx  # noqa: E402
except ImportError:
    from cara import hashindex as hx  # noqa: E402
from cara.aifilter import features as fx  # noqa: E402

cv2.setNumThreads(1)
faiss.omp_set_num_threads(1)

Transform = Callable[[Image.Image, int], Image.Image]


def fixtures_dir() -> Path:
    for p in (
        os.environ.get("CARA_AI_FIXTURES"),
        ROOT / "tests" / "fixtures" / "ai-filter",
        Path("/work/shared/fixtures/ai-filter"),
    ):
        if p and (Path(p) / "MANIFEST.csv").exists():
            return Path(p)
    raise SystemExit("fixture images not found: set CARA_AI_FIXTURES")


def load(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, "white")
            im = Image.alpha_composite(bg, im)
        return im.convert("RGB")


# ---------------------------------------------------------------------------------------------
# Transformations


def _jpeg(img, q):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _scale(img, f):
    return img.resize(
        (max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.LANCZOS
    )


def _centre_crop(img, f):
    """Remove f of the width and of the height, half on each side."""
    w, h = img.size
    dx, dy = round(w * f / 2), round(h * f / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def _side_crop(img, side, f):
    w, h = img.size
    dx, dy = round(w * f), round(h * f)
    return img.crop(
        {
            "left": (dx, 0, w, h),
            "right": (0, 0, w - dx, h),
            "top": (0, dy, w, h),
            "bottom": (0, 0, w, h - dy),
        }[side]
    )


def _font(size):
    return ImageFont.load_default(size=size)


def _frame(img, seed):
    """A decorative frame: 9% wide, striped/gradient wood-like pattern with a bevel."""
    w, h = img.size
    b = max(8, round(max(w, h) * 0.09))
    out = Image.new("RGB", (w + 2 * b, h + 2 * b))
    a = np.zeros((h + 2 * b, w + 2 * b, 3), np.float32)
    yy, xx = np.mgrid[0 : h + 2 * b, 0 : w + 2 * b]
    rng = np.random.default_rng(seed)
    base = np.array([120, 80, 40]) + rng.integers(-30, 30, 3)
    stripes = 0.5 + 0.5 * np.sin((xx + yy) / 7.0 + np.sin(yy / 23.0) * 2)
    a[:] = base * (0.7 + 0.3 * stripes[..., None])
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(out)
    d.rectangle(
        (b // 3, b // 3, w + 2 * b - b // 3, h + 2 * b - b // 3),
        outline=(220, 190, 90),
        width=max(2, b // 8),
    )
    d.rectangle((b - 4, b - 4, w + b + 3, h + b + 3), outline=(30, 20, 10), width=4)
    out.paste(img, (b, b))
    return out


def _caption(img, seed):
    """A meme caption bar: white bar on top (22% of the height) with black text."""
    w, h = img.size
    bar = round(h * 0.22)
    out = Image.new("RGB", (w, h + bar), "white")
    out.paste(img, (0, bar))
    d = ImageDraw.Draw(out)
    size = max(10, bar // 3)
    words = ["when the", "render finally", "finishes", "me at 3am", "nobody:", "absolutely"]
    d.text(
        (w // 20, bar // 4),
        f"{words[seed % 6]} {words[(seed + 2) % 6]}",
        fill="black",
        font=_font(size),
    )
    return out


def _screenshot(img, seed, dark=None):
    """The image at 60% of the screenshot's width and height inside a social-app UI."""
    w, h = img.size
    W, H = round(w / 0.6), round(h / 0.6)
    dark = seed % 2 == 1 if dark is None else dark
    bg, fg, sub = (
        ((21, 32, 43), (230, 236, 240), (130, 140, 150))
        if dark
        else ((255, 255, 255), (15, 20, 25), (100, 110, 120))
    )
    out = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(out)
    u = max(6, H // 40)
    d.rectangle((0, 0, W, 2 * u), fill=(29, 155, 240) if seed % 3 else (60, 60, 60))
    d.text((u, u // 2), "cara.social", fill="white", font=_font(u))
    x0, y0 = round(W * 0.2), round(H * 0.2)
    d.ellipse((x0 - 3 * u, y0 - 4 * u, x0 - u, y0 - 2 * u), fill=(200, 120, 90))
    d.text((x0, y0 - 4 * u), "@someone_posts · 3h", fill=fg, font=_font(u))
    d.text((x0, y0 - 2.5 * u), "look what I made today!!", fill=fg, font=_font(u))
    out.paste(img, (x0, y0))
    yb = y0 + h + u // 2
    for i, label in enumerate(("♡ 1.2k", "↻ 340", "💬 88", "share")):
        d.text((x0 + i * W // 7, yb), label, fill=sub, font=_font(u))
    d.text((x0, yb + 2 * u), "more posts from people you follow", fill=sub, font=_font(u))
    return _png(out.resize((1080, round(H * 1080 / W)), Image.Resampling.BILINEAR))


def _png(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


_FILLERS: list[Image.Image] = []  # human images used as the other collage tiles


def _collage(img, seed, fillers=None):
    """2x2 collage, 8 px gutters; cells have the known image's aspect ratio (others are
    cover-cropped into them); the known image sits in cell seed % 4."""
    fillers = fillers or _FILLERS
    w, h = img.size
    cw, ch = (512, round(512 * h / w)) if w >= h else (round(512 * w / h), 512)
    g = 8
    out = Image.new("RGB", (2 * cw + 3 * g, 2 * ch + 3 * g), "white")
    pos = seed % 4
    k = 0
    for cell in range(4):
        if cell == pos:
            tile = img.resize((cw, ch), Image.Resampling.LANCZOS)
        else:
            tile = ImageOps.fit(fillers[(seed * 3 + k) % len(fillers)], (cw, ch))
            k += 1
        out.paste(tile, (g + (cell % 2) * (cw + g), g + (cell // 2) * (ch + g)))
    return _jpeg(out, 85)


def _hue(img, deg):
    hsv = np.array(img.convert("HSV"), dtype=np.int32)
    hsv[..., 0] = (hsv[..., 0] + round(deg * 256 / 360)) % 256
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def _noise(img, seed, sigma=10):
    a = np.asarray(img, np.float32)
    a = a + np.random.default_rng(seed).normal(0, sigma, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _watermark(img, seed):
    out = img.copy()
    d = ImageDraw.Draw(out)
    s = max(10, img.height // 12)
    d.text(
        (img.width // 10, img.height * 0.8),
        "© reposted by @someone",
        fill=(255, 255, 255),
        font=_font(s),
        stroke_width=1,
        stroke_fill=(0, 0, 0),
    )
    return out


def _rotate(img, deg):
    return img.rotate(deg, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))


def transformations() -> dict[str, tuple[str, Transform]]:
    """name -> (group, fn(img, seed)). Group "new": listed as missed in issue 14."""
    t: dict[str, tuple[str, Transform]] = {}
    for pct in (10, 20, 30):
        t[f"centre crop {pct}%"] = ("new", lambda im, s, p=pct: _centre_crop(im, p / 100))
    for pct in (20, 25, 30):
        for side in ("left", "right", "top", "bottom"):
            t[f"crop {side} {pct}%"] = (
                "new",
                lambda im, s, p=pct, sd=side: _side_crop(im, sd, p / 100),
            )
    t["rotate 90"] = ("new", lambda im, s: im.transpose(Image.Transpose.ROTATE_90))
    t["rotate 180"] = ("new", lambda im, s: im.transpose(Image.Transpose.ROTATE_180))
    for deg in (3, 5, 10):
        t[f"rotate {deg}"] = ("new", lambda im, s, d=deg: _rotate(im, d if s % 2 else -d))
    t["decorative frame"] = ("new", _frame)
    t["meme caption"] = ("new", _caption)
    t["social screenshot 60%"] = ("new", _screenshot)
    t["collage 2x2"] = ("new", _collage)
    t["crop10+jpeg50+resize50"] = (
        "new",
        lambda im, s: _scale(_jpeg(_centre_crop(im, 0.1), 50), 0.5),
    )
    t["centre crop 5%"] = ("new", lambda im, s: _centre_crop(im, 0.05))
    t["hue +90"] = ("new", lambda im, s: _hue(im, 90))
    # Already handled by the first stage (issue 14: 1.00); kept to show nothing regressed.
    t["resize 50%"] = ("old", lambda im, s: _scale(im, 0.5))
    t["jpeg q50"] = ("old", lambda im, s: _jpeg(im, 50))
    t["mirror"] = ("old", lambda im, s: ImageOps.mirror(im))
    t["border 5% white"] = (
        "old",
        lambda im, s: ImageOps.expand(im, round(max(im.size) * 0.05), "white"),
    )
    t["brightness +25%"] = ("old", lambda im, s: ImageEnhance.Brightness(im).enhance(1.25))
    t["contrast -30%"] = ("old", lambda im, s: ImageEnhance.Contrast(im).enhance(0.7))
    t["saturation +50%"] = ("old", lambda im, s: ImageEnhance.Color(im).enhance(1.5))
    t["grayscale"] = ("old", lambda im, s: ImageOps.grayscale(im).convert("RGB"))
    t["blur 1.5"] = ("old", lambda im, s: im.filter(ImageFilter.GaussianBlur(1.5)))
    t["noise 10"] = ("old", _noise)
    t["text watermark"] = ("old", _watermark)
    t["crop left 10%"] = ("old", lambda im, s: _side_crop(im, "left", 0.10))
    # Combinations neither stage handles alone without the mirrored query.
    t["mirror+centre crop 20%"] = ("extra", lambda im, s: ImageOps.mirror(_centre_crop(im, 0.2)))
    return t


# ---------------------------------------------------------------------------------------------
# Distinct non-known images


def _scene(rng, size=(640, 480)):
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(8, 40))):
        x0, y0 = rng.integers(0, size[0]), rng.integers(0, size[1])
        x1, y1 = x0 + rng.integers(10, 300), y0 + rng.integers(10, 300)
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 4)
        if kind == 0:
            d.rectangle((x0, y0, x1, y1), fill=col)
        elif kind == 1:
            d.ellipse((x0, y0, x1, y1), fill=col)
        elif kind == 2:
            d.line((x0, y0, x1, y1), fill=col, width=int(rng.integers(1, 12)))
        else:
            d.polygon([tuple(int(v) for v in rng.integers(0, 640, 2)) for _ in range(5)], fill=col)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.5))))


_WORDS = (
    "the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet art human made "
    "painting sketch canvas colour light shadow line form studio gallery"
).split()


def _text_page(rng, size=(800, 600)):
    img = Image.new("RGB", size, "white" if rng.random() < 0.7 else (30, 30, 30))
    fg = "black" if img.getpixel((0, 0)) == (255, 255, 255) else (230, 230, 230)
    d = ImageDraw.Draw(img)
    fs = int(rng.integers(12, 40))
    y = 10
    while y < size[1] - fs:
        d.text((10, y), " ".join(rng.choice(_WORDS, 8)), fill=fg, font=_font(fs))
        y += int(fs * 1.4)
    return img


def _texture(rng, size=(640, 480)):
    """A procedural texture: value noise over 3-6 octaves through a random colour ramp, with
    random gratings, cells or stripes on top; every seed gives a different picture."""
    w, h = size
    a = np.zeros((h, w), np.float32)
    for octave in range(int(rng.integers(3, 7))):
        cells = 2 ** (octave + int(rng.integers(1, 3)))
        g = rng.random((cells + 1, cells + 1)).astype(np.float32)
        layer = np.asarray(
            Image.fromarray(g, "F").resize((w, h), Image.Resampling.BICUBIC), np.float32
        )
        a += layer / 2**octave
    kind = rng.integers(0, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # a grating at a random angle and period
        t = rng.uniform(0, np.pi)
        a += 0.5 * np.sin((xx * np.cos(t) + yy * np.sin(t)) / rng.uniform(3, 40))
    elif kind == 1:  # Voronoi-like cells
        pts = rng.uniform(0, 1, (int(rng.integers(8, 60)), 2)) * (w, h)
        d = np.min(np.hypot(xx[..., None] - pts[:, 0], yy[..., None] - pts[:, 1]), axis=2)
        a += (d / d.max()) * rng.uniform(0.5, 2)
    a = (a - a.min()) / max(float(a.max() - a.min()), 1e-6)
    ramp = rng.integers(0, 256, (int(rng.integers(2, 6)), 3)).astype(np.float32)
    pos = np.linspace(0, 1, len(ramp))
    rgb = np.stack([np.interp(a, pos, ramp[:, c]) for c in range(3)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


def negatives(humans: list[Image.Image], quick: bool) -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(7)
    out: list[tuple[str, Image.Image]] = []
    tile = 256
    for i, im in enumerate(humans):
        out.append((f"human{i}", im))
        if min(im.size) >= 2 * tile:
            # Non-overlapping tiles at two sizes (a 2x tile and its four 1x tiles overlap by
            # construction, so only the 1x grid is taken on images with more than 4 tiles).
            w, h = im.size
            for y in range(0, h - tile + 1, tile):
                for x in range(0, w - tile + 1, tile):
                    out.append((f"human{i}-tile{x},{y}", im.crop((x, y, x + tile, y + tile))))
    n_synth = 100 if quick else 300
    for k in range(n_synth):
        out.append((f"scene{k}", _scene(rng)))
    for k in range(n_synth // 2):
        out.append((f"text{k}", _text_page(rng)))
    for k in range(n_synth * 2):
        out.append((f"texture{k}", _texture(rng)))
    for k in range(40 if quick else 150):
        src = humans[k % len(humans)]
        out.append((f"human-screenshot{k}", _screenshot(src, k)))
        out.append((f"human-collage{k}", _collage(src, k, fillers=humans)))
    if quick:
        rng2 = np.random.default_rng(1)
        keep = sorted(rng2.choice(len(out), size=min(len(out), 500), replace=False))
        out = [out[i] for i in keep]
    return out


# ---------------------------------------------------------------------------------------------


def first_stage_rows(img):
    """`variant_hashes` split into the rows without and with the dihedral rotations."""
    turned = {name for name, _ in hx.ROTATIONS}
    rows = hx.variant_hashes(img)
    return [r for r in rows if r[0] not in turned], [r for r in rows if r[0] in turned]


def second_stage(index: fx.FeatureIndex, img, mirror: bool):
    """Matches of an upload (and of its mirror image), and the features searched."""
    fs = [fx.extract(img, query=True)]
    if mirror:
        fs.append(fx.extract(ImageOps.mirror(img), query=True))
    return search_all(index, fs), fs


def search_all(index: fx.FeatureIndex, fs) -> dict:
    found = {}
    for f in fs:
        for m in index.search(f):
            found.setdefault(m.id, m)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer negatives, 20k timing index")
    ap.add_argument("--scale", type=int, default=None, help="synthetic known images for timing")
    ap.add_argument("--no-mirror", action="store_true", help="second stage without mirrored query")
    ap.add_argument(
        "--scan-only",
        action="store_true",
        help="only the search's CPU cost over lists as long as at --scale (random codes, ~1 min)",
    )
    ap.add_argument("--knn", type=int, default=fx.KNN)
    ap.add_argument("--nprobe", type=int, default=fx.IVF_NPROBE)
    ap.add_argument("--query-features", type=int, default=fx.QUERY_FEATURES)
    ap.add_argument(
        "--max-codes", type=int, default=fx.IVF_MAX_CODES, help="per query descriptor (whole lists)"
    )
    ap.add_argument("--search-codes", type=int, default=fx.IVF_SEARCH_CODES, help="per search")
    args = ap.parse_args()
    # For experiments only: the library constants these override.
    fx.KNN, fx.IVF_NPROBE, fx.QUERY_FEATURES = args.knn, args.nprobe, args.query_features
    fx.IVF_MAX_CODES, fx.IVF_SEARCH_CODES = args.max_codes, args.search_codes
    scale = args.scale if args.scale is not None else (20_000 if args.quick else 100_000)
    mirror = not args.no_mirror
    t0 = time.perf_counter()
    fdir = fixtures_dir()
    if args.scan_only:
        scan_cost(scale, fdir)
        return
    rows = list(csv.DictReader(open(fdir / "MANIFEST.csv", newline="")))
    known, humans = [], []
    for r in rows:
        im = load(fdir / r["file"])
        if min(im.size) < hx.MIN_SIDE:
            continue
        (known if r["label"] == "ai" else humans).append((r["file"], im))
    _FILLERS[:] = [im for _, im in humans if min(im.size) >= 128]
    print(f"fixtures: {fdir}")
    print(
        f"known: {len(known)} AI images >= {hx.MIN_SIDE} px; second stage mirrored query: {mirror}"
    )

    # The second stage's index is configured as it would be at `scale` known images (an IVF
    # with that many lists, centroids sampled from descriptors of non-known images), so the
    # recall below is the recall at that scale, not of an exact search.
    negs = negatives([im for _, im in humans], args.quick)
    t = time.perf_counter()
    pool = descriptor_pool(negs)
    n_at_scale = (scale + len(known)) * fx.KNOWN_FEATURES
    nlist = fx.ivf_nlist(n_at_scale)
    print(
        f"descriptor pool: {len(pool):,} descriptors of {len(negs)} non-known images "
        f"({time.perf_counter() - t:.0f} s); index as at {scale:,} known images: IVF "
        f"{nlist} lists, nprobe {fx.IVF_NPROBE} (max codes {fx.IVF_MAX_CODES:,}, per search "
        f"{fx.IVF_SEARCH_CODES:,}), KNN "
        f"{fx.KNN}, query keypoints {fx.QUERY_FEATURES}"
    )

    # ---- build both stages
    h1, h1rot, owner1, owner1rot = [], [], [], []
    findex = fx.FeatureIndex(ivf_min=0 if scale else fx.IVF_MIN, nprobe=fx.IVF_NPROBE, nlist=nlist)
    blob_bytes = []
    t_extract = []
    for i, (_, im) in enumerate(known):
        rws, rot = first_stage_rows(im)
        h1 += [h for _, h in rws]
        owner1 += [i] * len(rws)
        h1rot += [h for _, h in rot]
        owner1rot += [i] * len(rot)
        t = time.perf_counter()
        f = fx.extract(im)
        t_extract.append(time.perf_counter() - t)
        blob = fx.serialize(f)
        assert fx.serialize(fx.deserialize(blob)) == blob
        blob_bytes.append(len(blob))
        findex.add(i, fx.deserialize(blob))
    idx1 = hx.HashIndex()
    idx1.add(list(range(len(h1))), h1)
    idx1r = hx.HashIndex()
    idx1r.add(list(range(len(h1) + len(h1rot))), h1 + h1rot)
    own1 = np.array(owner1 + owner1rot)
    findex.build(train=pool)
    print(
        f"first stage rows: {len(h1)} (+{len(h1rot)} rotation rows); second stage: "
        f"{findex.n_descriptors} descriptors, blob {np.mean(blob_bytes):.0f} B/image mean "
        f"(max {max(blob_bytes)}), extract {1000 * np.median(t_extract):.0f} ms median\n"
    )

    def stage1(img, index):
        try:
            qs = hx.query_hashes(img)
        except ValueError:
            return set()
        return {int(own1[m.id]) for m in index.search_many(qs)}

    trans = transformations()
    table = []
    false_known = []
    tq = []
    inl_true, cov_true = [], []
    misses = defaultdict(list)
    query_imgs = []  # for the timing run
    looked_up = []  # (transformation, known image, features): searched again at scale
    for tname, (grp, fn) in trans.items():
        c = np.zeros(4, int)
        n = 0
        for i, (name, im) in enumerate(known):
            q = fn(im, i)
            if min(q.size) < hx.MIN_SIDE:
                continue
            n += 1
            s1 = stage1(q, idx1)
            s1r = stage1(q, idx1r)
            t = time.perf_counter()
            s2, fs = second_stage(findex, q, mirror)
            tq.append(time.perf_counter() - t)
            looked_up.append((tname, i, fs))
            if i % 3 == 0:
                query_imgs.append((i, q))
            hit = [i in s1, i in s1r, i in s2, (i in s1r) or (i in s2)]
            c += hit
            if i in s2:
                inl_true.append(s2[i].inliers)
                cov_true.append(s2[i].coverage)
            if not hit[3]:
                misses[tname].append(name)
            for j in (s1r | set(s2)) - {i}:
                false_known.append((tname, name, known[j][0]))
        table.append((tname, grp, n, c))
    print(
        f"{'transformation':26s} {'grp':5s} {'n':>3s} {'stage1':>7s} {'+rot':>6s} "
        f"{'stage2':>7s} {'combined':>8s}"
    )
    for tname, grp, n, c in table:
        r = c / max(n, 1)
        flag = "" if r[3] >= 0.95 else "  <-- below 0.95"
        print(f"{tname:26s} {grp:5s} {n:3d} {r[0]:7.3f} {r[1]:6.3f} {r[2]:7.3f} {r[3]:8.3f}{flag}")
    tot = sum(c for *_, c in table)
    ntot = sum(n for _, _, n, _ in table)
    print(
        f"{'ALL':26s} {'':5s} {ntot:3d} {tot[0] / ntot:7.3f} {tot[1] / ntot:6.3f} "
        f"{tot[2] / ntot:7.3f} {tot[3] / ntot:8.3f}"
    )
    worst = min(c[3] / n for _, _, n, c in table)
    print(f"worst combined recall over transformations: {worst:.3f}")
    print(
        f"second stage true matches: inliers min {min(inl_true)} p5 "
        f"{np.percentile(inl_true, 5):.0f}; coverage min {min(cov_true):.2f}"
    )
    print(
        f"second-stage lookup (extract + search{' x2 mirrored' if mirror else ''}, "
        f"{len(known)} known): p50 {1000 * np.median(tq):.0f} ms, p95 "
        f"{1000 * np.percentile(tq, 95):.0f} ms"
    )
    for tname, names in misses.items():
        print(f"  missed {tname}: {', '.join(n.split('/')[-1] for n in names)}")
    print(f"false matches between known images: {len(false_known)}")
    for fk in false_known:
        print("  FALSE", fk)

    # ---- distinct non-known images
    fm1, fm2 = [], []
    neg_looked_up = []
    for name, im in negs:
        if min(im.size) < hx.MIN_SIDE:
            continue
        s1 = stage1(im, idx1r)
        s2, fs = second_stage(findex, im, mirror)
        neg_looked_up.append((name, fs))
        if s1:
            fm1.append((name, [known[j][0] for j in s1]))
        if s2:
            fm2.append(
                (name, [(known[j][0], m.inliers, round(m.coverage, 2)) for j, m in s2.items()])
            )
    kinds = defaultdict(int)
    for name, _ in negs:
        kinds[re.sub(r"[0-9,]+", "", name)] += 1
    print(f"\ndistinct non-known images: {len(negs)} ({dict(kinds)})")
    print(f"false matches: first stage (with rotation rows) {len(fm1)}, second stage {len(fm2)}")
    for x in fm1 + fm2:
        print("  FALSE", x)
    print(f"\n[{time.perf_counter() - t0:.0f} s so far]")

    if scale:
        timing(scale, findex, known, query_imgs, pool, mirror)
        at_scale(scale, findex, looked_up, neg_looked_up)
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s")


def scan_cost(scale: int, fdir: Path) -> None:
    """CPU time of `FeatureIndex.search` over inverted lists as long as at `scale` known
    images (IVF_LIST_SIZE descriptors each on average), with 4,096 lists of random codes instead
    of all of them: the scan per query descriptor is the same, the quantizer slightly cheaper
    (2 x 64 instead of 2 x 181 comparisons at 32,768 lists). Random codes rarely fall within
    MAX_HAMMING of a query, so voting and RANSAC cost next to nothing here; the full run
    measures those."""
    rng = np.random.default_rng(0)
    nlist = 4096
    per_list = (scale * fx.KNOWN_FEATURES) // fx.ivf_nlist(scale * fx.KNOWN_FEATURES)
    n = nlist * per_list
    idx = fx.FeatureIndex(ivf_min=0, nprobe=fx.IVF_NPROBE, nlist=nlist)
    desc = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    xy = rng.uniform(0, 512, (fx.KNOWN_FEATURES, 2)).astype(np.float32)
    per = fx.KNOWN_FEATURES
    for i in range(n // per):
        idx.add(i, fx.Features(xy, desc[i * per : (i + 1) * per], (512, 512)))
    idx.build()
    rows = list(csv.DictReader(open(fdir / "MANIFEST.csv", newline="")))
    ts = []
    for r in rows[:20]:
        im = load(fdir / r["file"])
        if min(im.size) < 64:
            continue
        q = fx.extract(_rotate(im, 10), query=True)
        t = time.thread_time()
        idx.search(q)
        ts.append(time.thread_time() - t)
    print(
        f"scan cost: {nlist} lists of {per_list} random codes (as at {scale:,} known images), "
        f"{len(ts)} queries of <= {fx.QUERY_FEATURES} keypoints: search CPU p50 "
        f"{1000 * np.median(ts):.1f} ms, p95 {1000 * np.percentile(ts, 95):.1f} ms"
    )


def descriptor_pool(negs) -> np.ndarray:
    """Stored-image descriptors of the non-known images: IVF centroids and the parents of the
    synthetic known images."""
    pool = []
    for _, im in negs:
        if min(im.size) >= fx.MIN_SIDE:
            f = fx.extract(im)
            if len(f):
                pool.append(f.descriptors)
    return np.concatenate(pool)


def timing(scale, real_index, known, query_imgs, pool, mirror):
    """Lookup time at `scale` synthetic known images plus the real ones (see the docstring):
    the real index (already an IVF with the lists of that scale) gets the synthetic images'
    descriptors appended straight into their parents' lists."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(3)
    per = fx.KNOWN_FEATURES
    n_syn = scale * per
    idx = real_index
    ivf = idx._faiss
    parent_list = idx._quantizer.search(pool, 1)[1].ravel()
    idx._ids = idx._ids + list(range(10**6, 10**6 + scale))
    idx._sizes = idx._sizes + [(512, 512)] * scale
    chunk = 2_000_000
    descs, owners, xys = [idx._desc], [idx._owner], [idx._xy]
    base = len(idx._desc)
    for start in range(0, n_syn, chunk):
        k = min(chunk, n_syn - start)
        par = rng.integers(0, len(pool), k)
        d = pool[par].copy()
        for _ in range(8):  # flip 8 random bits per descriptor
            bit = rng.integers(0, 256, k)
            d[np.arange(k), bit // 8] ^= (1 << (bit % 8)).astype(np.uint8)
        ids = np.arange(base + start, base + start + k, dtype=np.int64)
        lst = parent_list[par].astype(np.int64)
        ivf.add_core(k, faiss.swig_ptr(d), faiss.swig_ptr(ids), faiss.swig_ptr(lst))
        descs.append(d)
        owners.append((len(known) + (start + np.arange(k)) // per).astype(np.int32))
        xys.append(rng.uniform(0, 512, (k, 2)).astype(np.float32))
    idx._desc = np.concatenate(descs)
    del descs
    idx._owner = np.concatenate(owners)
    idx._xy = np.concatenate(xys)
    idx._in_faiss = len(idx._desc)
    idx._count_lists()
    sizes = idx._list_sizes
    print(
        f"\ntiming index: {len(idx)} known images, {idx.n_descriptors:,} descriptors in "
        f"{ivf.nlist} lists (size p50 {np.median(sizes):.0f}, p99 {np.percentile(sizes, 99):.0f},"
        f" max {sizes.max()}), {idx.nbytes / 1e6:.0f} MB ({idx.nbytes / len(idx):.0f} B per "
        f"known image), built in {time.perf_counter() - t0:.0f} s"
    )
    # CPU time of this thread (one core, OMP_NUM_THREADS=1) as well as wall time: on a shared
    # machine wall time also counts waiting for a core.
    clocks = {"wall": time.perf_counter, "cpu": time.thread_time}
    t = {c: defaultdict(list) for c in clocks}
    hits = 0
    for i, q in query_imgs:
        marks = [{c: f() for c, f in clocks.items()}]
        fq = fx.extract(q, query=True)
        fqm = fx.extract(ImageOps.mirror(q), query=True) if mirror else None
        marks.append({c: f() for c, f in clocks.items()})
        found = {m.id for m in idx.search(fq)}
        marks.append({c: f() for c, f in clocks.items()})
        if fqm is not None:
            found |= {m.id for m in idx.search(fqm)}
        marks.append({c: f() for c, f in clocks.items()})
        for c in clocks:
            t[c]["extract"].append(marks[1][c] - marks[0][c])
            t[c]["one search"].append(marks[2][c] - marks[1][c])
            t[c]["searches"].append(marks[3][c] - marks[1][c])
            t[c]["total"].append(marks[3][c] - marks[0][c])
        hits += i in found
    searches = "search x2 (query + mirrored)" if mirror else "search"
    for c in clocks:
        parts = [
            f"{label} p50 {1000 * np.median(t[c][k]):.1f} "
            f"p95 {1000 * np.percentile(t[c][k], 95):.1f}"
            for k, label in (
                ("one search", "one search"),
                ("searches", searches),
                ("extract", "extract"),
                ("total", "total"),
            )
        ]
        print(f"lookups ({c} ms, {len(query_imgs)} queries): " + "; ".join(parts))
    print(
        f"second-stage recall of those queries inside the {scale:,}-image index: "
        f"{hits / len(query_imgs):.3f}"
    )


def at_scale(scale, idx, looked_up, neg_looked_up):
    """Every lookup above searched again in the index of `scale` known images: the bound on
    codes scanned per query descriptor only bites on lists as long as at that scale."""
    t0 = time.perf_counter()
    rec = defaultdict(lambda: [0, 0])
    wrong = 0
    for tname, i, fs in looked_up:
        found = search_all(idx, fs)
        rec[tname][0] += i in found
        rec[tname][1] += 1
        wrong += len(set(found) - {i})
    low = sorted((hit / n, tname) for tname, (hit, n) in rec.items() if hit < n)
    total = sum(h for h, _ in rec.values()) / sum(n for _, n in rec.values())
    print(
        f"\nat {scale:,} known images, all {len(looked_up)} lookups again (mirrored too): "
        f"recall ALL {total:.3f}, worst {min(r for r, _ in low) if low else 1.0:.3f}; below 1: "
        + (", ".join(f"{t} {r:.3f}" for r, t in low) or "none")
    )
    print(f"  matches to a different known image: {wrong}")
    false = [name for name, fs in neg_looked_up if search_all(idx, fs)]
    print(
        f"  false matches over the {len(neg_looked_up)} distinct non-known images: {len(false)}"
        + (f" ({', '.join(false[:10])})" if false else "")
        + f" [{time.perf_counter() - t0:.0f} s]"
    )


if __name__ == "__main__":
    main()
