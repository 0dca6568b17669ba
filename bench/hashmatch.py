"""Known-hash matching quality over the fixture images (run by hand, 5-10 minutes).

    .venv/bin/python bench/hashmatch.py [--phash-radius N] [--pdq-radius N]

Every fixture image of at least 32 px is a *known* image: its `variant_hashes` go into one
`HashIndex`. Each image is then transformed (resize, recompression, brightness, borders,
screenshot, grayscale, mirror, crops, combinations, and every transformation issue 14 lists,
from bench/robustmatch.py) and looked up with `query_hashes` + `HashIndex.search_many`, like
an upload; so are robustmatch's ~1,700 distinct non-known images. Printed:

- recall per transformation at the chosen radii (a hit = the lookup returns a row of the
  transformed image itself), overall recall, and the false-match count: (query, other image)
  pairs where a transformed image matched a row of a *different* image;
- the same for a plain 64-bit pHash with no variants (the baseline), at the largest radius that
  gives it zero false matches;
- the distance distributions behind the radii: closest own row vs closest other-image row, and
  a recall / false-match grid over (pHash radius, PDQ radius).

Crops at 5/10/15% coincide with stored crop steps, so the run also crops at the midpoints
between steps (3.75/8.75/13.75%), the worst case for the stored grid.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cara.aifilter import hashindex as hx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustmatch  # noqa: E402  (the issue-14 transformations and the distinct negatives)

from tests.support import AI_FILTER_FIXTURES, fixture_manifest  # noqa: E402

# Fixture files that show the same picture, so a match between them is not a false match:
# c2pars_CA.jpg is c2pars_IMG_0003.jpg re-encoded with a C2PA manifest (pHash distance 0).
SAME_PICTURE = [{"human/c2pars_CA.jpg", "human/c2pars_IMG_0003.jpg"}]

Transform = Callable[[Image.Image], Image.Image]


def load_fixtures() -> list[tuple[str, Image.Image]]:
    out = []
    for row in fixture_manifest():
        with Image.open(AI_FILTER_FIXTURES / row["file"]) as im:
            img = ImageOps.exif_transpose(im).convert("RGB")
        if min(img.size) >= hx.MIN_SIDE:
            out.append((row["file"], img))
    return out


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _png(img: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _scale(img: Image.Image, f: float) -> Image.Image:
    size = (max(1, round(img.width * f)), max(1, round(img.height * f)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _border(img: Image.Image, f: float, colour) -> Image.Image:
    dx, dy = round(img.width * f), round(img.height * f)
    out = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), colour)
    out.paste(img, (dx, dy))
    return out


def _screenshot(img: Image.Image) -> Image.Image:
    """A screen capture: rescaled to 1080 px wide (bilinear), slightly soft, saved as PNG."""
    h = round(img.height * 1080 / img.width)
    shot = img.resize((1080, h), Image.Resampling.BILINEAR)
    return _png(shot.filter(ImageFilter.GaussianBlur(0.6)))


def _crop(side: str, f: float) -> Transform:
    return lambda img: hx._crop(img, side, f)


def _gray(img: Image.Image) -> Image.Image:
    return ImageOps.grayscale(img).convert("RGB")


def transformations() -> dict[str, tuple[str, Transform]]:
    """name -> (group, function)."""
    t: dict[str, tuple[str, Transform]] = {
        "resize 50%": ("basic", lambda im: _scale(im, 0.5)),
        "resize 25%": ("basic", lambda im: _scale(im, 0.25)),
        "jpeg q50": ("basic", lambda im: _jpeg(im, 50)),
        "jpeg q30": ("basic", lambda im: _jpeg(im, 30)),
        "brightness +25%": ("basic", lambda im: ImageEnhance.Brightness(im).enhance(1.25)),
        "brightness -25%": ("basic", lambda im: ImageEnhance.Brightness(im).enhance(0.75)),
        "contrast +30%": ("basic", lambda im: ImageEnhance.Contrast(im).enhance(1.3)),
        "contrast -30%": ("basic", lambda im: ImageEnhance.Contrast(im).enhance(0.7)),
        "border 5% white": ("basic", lambda im: _border(im, 0.05, "white")),
        "border 10% black": ("basic", lambda im: _border(im, 0.10, "black")),
        "screenshot": ("basic", _screenshot),
        "grayscale": ("basic", _gray),
        "mirror": ("basic", ImageOps.mirror),
    }
    for pct in (5, 10, 15):
        for side in hx.SIDES:
            t[f"crop {side} {pct}%"] = ("crop on step", _crop(side, pct / 100))
    for pct in (3.75, 8.75, 13.75):
        for side in hx.SIDES:
            t[f"crop {side} {pct}%"] = ("crop between steps", _crop(side, pct / 100))
    t["mirror+crop L10+jpeg60+50%"] = (
        "combined",
        lambda im: _scale(_jpeg(hx._crop(ImageOps.mirror(im), "left", 0.10), 60), 0.5),
    )
    t["crop T15+bright+20+border5"] = (
        "combined",
        lambda im: _border(
            ImageEnhance.Brightness(hx._crop(im, "top", 0.15)).enhance(1.2), 0.05, (40, 40, 40)
        ),
    )
    t["gray+crop R8+jpeg40"] = (
        "combined",
        lambda im: _jpeg(_gray(hx._crop(im, "right", 0.08)), 40),
    )
    t["screenshot+crop B12+mirror"] = (
        "combined",
        lambda im: ImageOps.mirror(hx._crop(_screenshot(im), "bottom", 0.12)),
    )
    # Every transformation issue 14 lists (bench/robustmatch.py draws them; its seed, which
    # picks e.g. the rotation's sign and the collage cell, is taken from the image size here).
    # Most are for the second stage: this shows what the first stage alone catches.
    for name, (grp, fn) in robustmatch.transformations().items():
        if grp in ("new", "extra"):
            t[f"[14] {name}"] = ("issue 14", lambda im, fn=fn: fn(im, im.width + im.height))
    return t


def _phash64(img: Image.Image) -> int:
    return int(str(imagehash.phash(img)), 16)


def _popcount(a: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a).astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phash-radius", type=int, default=hx.PHASH_RADIUS)
    ap.add_argument("--pdq-radius", type=int, default=hx.PDQ_RADIUS)
    # For experiments only: the library constants these override.
    ap.add_argument("--hash-side", type=int, default=hx.HASH_SIDE)
    ap.add_argument("--crop-steps", default=",".join(f"{s:g}" for s in hx.CROP_STEPS))
    args = ap.parse_args()
    hx.HASH_SIDE = args.hash_side
    hx.CROP_STEPS = tuple(float(s) for s in args.crop_steps.split(","))
    rp, rq = args.phash_radius, args.pdq_radius
    t0 = time.perf_counter()

    fixtures = load_fixtures()
    humans = [img for name, img in fixtures if name.startswith("human/")]
    robustmatch._FILLERS[:] = [img for img in humans if min(img.size) >= 128]  # collage tiles
    names = [name for name, _ in fixtures]
    group = {name: i for i, name in enumerate(names)}
    for same in SAME_PICTURE:
        first = min(group[n] for n in same if n in group)
        for n in same:
            group[n] = first
    gid = np.array([group[n] for n in names])

    # Known set: every stored variant of every image.
    index = hx.HashIndex(phash_radius=rp, pdq_radius=rq)
    owner: list[int] = []
    rows: list[hx.ImageHashes] = []
    base_phash = []  # baseline: plain pHash of the image, nothing else
    for i, (_, img) in enumerate(fixtures):
        for _, h in hx.variant_hashes(img):
            rows.append(h)
            owner.append(i)
        base_phash.append(_phash64(img))
    owner_arr = np.array(owner)
    index.add(list(range(len(rows))), rows)
    row_p = np.array([h.phash for h in rows], dtype=np.uint64)
    row_q = np.frombuffer(b"".join(h.pdq for h in rows), dtype=np.uint64).reshape(-1, 4)
    base_arr = np.array(base_phash, dtype=np.uint64)
    t_known = time.perf_counter() - t0
    print(
        f"known set: {len(fixtures)} images >= {hx.MIN_SIDE} px, {len(rows)} rows "
        f"({len(rows) / len(fixtures):.1f} per image), built in {t_known:.1f} s"
    )
    print(f"radii: pHash <= {rp}, PDQ <= {rq}; PDQ quality >= {hx.MIN_PDQ_QUALITY}\n")

    trans = transformations()
    rps = list(range(6, 27, 2))
    # Per query: own image, for each candidate pHash radius the smallest PDQ distance among own
    # rows / each other image's rows within that radius (for the threshold grid).
    grid_own: list[np.ndarray] = []
    grid_other: list[np.ndarray] = []
    own_best: list[tuple[int, int]] = []  # (pHash, PDQ) of the closest own row
    other_min_p: list[int] = []
    other_min_q: list[int] = []
    results: dict[str, list[bool]] = {}
    false_pairs: list[tuple[str, str, str]] = []
    refused = 0
    base_dist_own: dict[str, list[int]] = defaultdict(list)
    base_dist_other: list[int] = []
    misses: dict[str, list[str]] = defaultdict(list)
    n_groups = gid.max() + 1
    for tname, (_, fn) in trans.items():
        hits = []
        for i, (name, img) in enumerate(fixtures):
            timg = fn(img)
            if min(timg.size) < hx.MIN_SIDE:
                continue  # e.g. a 64 px image at 25%: uploads refuse it too
            queries = hx.query_hashes(timg)
            usable = [q for q in queries if q.pdq_quality >= hx.MIN_PDQ_QUALITY]
            refused += not usable
            matched = {int(gid[owner_arr[m.id]]) for m in index.search_many(queries)}
            hit = int(gid[i]) in matched
            hits.append(hit)
            if not hit:
                misses[name].append(tname)
            for g in sorted(matched - {int(gid[i])}):
                false_pairs.append((tname, name, names[g]))
            # Baseline: the transformed image's plain pHash against every image's plain pHash.
            bd = _popcount(base_arr ^ np.uint64(_phash64(timg)))
            same = gid == gid[i]
            base_dist_own[tname].append(int(bd[same].min()))
            base_dist_other.append(int(bd[~same].min()))
            # Distance distributions (numpy, all rows).
            own_g = np.full(len(rps), 999, dtype=np.int16)
            oth_g = np.full((len(rps), n_groups), 999, dtype=np.int16)
            mine = gid[owner_arr] == gid[i]
            best_own = (999, 999)
            for q in usable:  # the lookup rule applies per query hash: never mix two queries
                dp = _popcount(row_p ^ np.uint64(q.phash))
                qq = np.frombuffer(q.pdq, dtype=np.uint64)
                dq = _popcount(row_q ^ qq).sum(axis=1)
                j = np.argmin(dq[mine])
                best_own = min(best_own, (int(dq[mine][j]), int(dp[mine][j])))
                other_min_p.append(int(dp[~mine].min()))
                other_min_q.append(int(dq[~mine].min()))
                for k, r in enumerate(rps):
                    within = dp <= r
                    sel = within & mine
                    if sel.any():
                        own_g[k] = min(own_g[k], dq[sel].min())
                    sel = within & ~mine
                    if sel.any():
                        np.minimum.at(oth_g[k], gid[owner_arr[sel]], dq[sel])
            if usable:
                own_best.append((best_own[1], best_own[0]))
            grid_own.append(own_g)
            grid_other.append(oth_g)
        results[tname] = hits

    # ---- recall per transformation
    total_hits = sum(sum(v) for v in results.values())
    total = sum(len(v) for v in results.values())
    base_r = max((r for r in range(0, 33) if not any(d <= r for d in base_dist_other)), default=0)
    print(f"{'transformation':30s} {'n':>3s} {'recall':>7s} {'pHash-only':>10s}")
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for tname, hits in results.items():
        grp = trans[tname][0]
        base_hits = sum(d <= base_r for d in base_dist_own[tname])
        by_group[grp][0] += sum(hits)
        by_group[grp][1] += len(hits)
        by_group[grp][2] += base_hits
        print(
            f"{tname:30s} {len(hits):3d} {sum(hits) / len(hits):7.3f} {base_hits / len(hits):10.3f}"
        )
    print()
    for grp, (h, n, b) in by_group.items():
        print(f"{'group: ' + grp:30s} {n:3d} {h / n:7.3f} {b / n:10.3f}")
    base_total = sum(sum(d <= base_r for d in v) for v in base_dist_own.values())
    print(
        f"\nOVERALL recall {total_hits / total:.3f} ({total_hits}/{total} queries), "
        f"false matches {len(false_pairs)}"
    )
    print(
        f"pHash-only baseline (64-bit pHash, no variants, radius {base_r} = largest with zero "
        f"false matches): recall {base_total / total:.3f}"
    )
    print(f"queries refused for low PDQ quality (< {hx.MIN_PDQ_QUALITY}): {refused}")
    for fp in false_pairs:
        print("  FALSE MATCH", fp)

    # ---- distance distributions
    ob = np.array(own_best)
    print("\nDistance distributions (queries with PDQ quality >= the minimum):")
    print(
        f"  closest own row (by PDQ): pHash p50/p95/max {np.percentile(ob[:, 0], 50):.0f}/"
        f"{np.percentile(ob[:, 0], 95):.0f}/{ob[:, 0].max()}, PDQ p50/p90/p95/max "
        f"{np.percentile(ob[:, 1], 50):.0f}/{np.percentile(ob[:, 1], 90):.0f}/"
        f"{np.percentile(ob[:, 1], 95):.0f}/{ob[:, 1].max()}"
    )
    print(
        f"  closest other-image row: min pHash {min(other_min_p)}, min PDQ {min(other_min_q)} "
        f"(over {len(other_min_p)} query hashes x {len(rows)} rows)"
    )
    print(f"  plain pHash baseline: min distance between distinct images {min(base_dist_other)}")
    go = np.array(grid_own)
    gt = np.array(grid_other)
    print("\n  recall / false matches by (pHash radius, PDQ radius):")
    rqs = list(range(24, 69, 4))
    print("  pHash\\PDQ " + "".join(f"{q:>11d}" for q in rqs))
    for k, r in enumerate(rps):
        cells = []
        for q in rqs:
            rec = (go[:, k] <= q).sum() / total
            fm = int((gt[:, k, :] <= q).sum())
            cells.append(f"{rec:.3f}/{fm:<4d}")
        print(f"  {r:>9d} " + " ".join(f"{c:>10s}" for c in cells))
    if rp in rps:  # the numpy grid and the real index must agree at the chosen radii
        k = rps.index(rp)
        agree = (go[:, k] <= rq).sum() == total_hits and (gt[:, k, :] <= rq).sum() == len(
            false_pairs
        )
        print(f"  grid agrees with HashIndex at ({rp}, {rq}): {bool(agree)}")
    front = {r: int(gt[:, k, :].min()) for k, r in enumerate(rps)}
    print(f"  smallest other-image PDQ distance among rows within each pHash radius: {front}")

    # ---- distinct images that are not in the known set (bench/robustmatch.py's negatives)
    negs = robustmatch.negatives(humans, quick=False)
    neg_false = []
    for name, img in negs:
        if min(img.size) >= hx.MIN_SIDE:
            matched = {
                names[int(gid[owner_arr[m.id]])] for m in index.search_many(hx.query_hashes(img))
            }
            # A human fixture (or a tile, screenshot or collage of one) finds itself: not false.
            neg_false += [(name, k) for k in matched if not k.startswith("human/")]
    print(
        f"\ndistinct images not derived from any AI fixture: {len(negs)}; first-stage matches "
        f"to an AI fixture: {len(neg_false)}"
    )
    for fp in neg_false:
        print("  FALSE MATCH", fp)

    print("\nMisses by image:")
    for name, ts in sorted(misses.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ts):3d} {name}: {', '.join(ts[:8])}{' ...' if len(ts) > 8 else ''}")
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
