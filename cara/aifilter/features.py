"""Robust near-duplicate matching: the second stage after pHash + PDQ (`hashindex`).

pHash and PDQ are global hashes: they survive resizing, recompression and colour changes but
not a centred crop, a rotation, a frame, a caption bar, a screenshot or a collage. This module
recognises a *known* image inside such a derivative with local features:

1. `extract(img)` finds ORB keypoints (OpenCV, BSD/Apache licensed) on a normalised luma image
   (area scaled to about `KNOWN_SIDE`² or `QUERY_SIDE`² px, CLAHE contrast equalisation), spread
   over the picture by a grid, and keeps at most `KNOWN_FEATURES` (stored) or `QUERY_FEATURES`
   (an upload) of them: 256-bit binary descriptors plus their positions.
2. `FeatureIndex` holds the descriptors of every known image in one faiss binary index (exact
   `IndexBinaryFlat` while small, `IndexBinaryIVF` once it holds `IVF_MIN` descriptors). A
   query's descriptors look up their `KNN` nearest known descriptors; known images collect
   votes; the best `CANDIDATES` are verified geometrically: RANSAC fits a similarity transform
   (rotation, uniform scale, translation: `cv2.estimateAffinePartial2D`) from the known image to
   the query and needs `MIN_INLIERS` inliers.
3. A verified match must be large in the query: the known image's outline, projected into the
   query and clipped to it, must cover `MIN_COVERAGE` of the query's area, and the inliers must
   spread over `MIN_SPREAD` of that covered area. A collage tile or an image in a screenshot
   passes; a logo or a thumbnail-sized coincidence does not.

Pure library: standard library, numpy, Pillow, OpenCV and faiss only; no Flask, no database.

Storage and memory (with the defaults): a stored `Features` serialises to
`12 + 36 * n` bytes, n <= `KNOWN_FEATURES` = 400, so at most 14,412 bytes per known image
(`serialize`). In a `FeatureIndex`, each descriptor costs 32 (own copy) + 4 (position) + 4
(owner) bytes in numpy plus 32 + 8 in faiss: 80 bytes, ~32 KB per known image at 400
descriptors, ~3.2 GB at 100,000 known images (`FeatureIndex.nbytes` reports the numpy part
plus the faiss codes and ids).

Threads: `extract` is pure and thread-safe (OpenCV may use its own threads; call
`cv2.setNumThreads(1)` in a worker that must stay on one core). `FeatureIndex.search` may run
concurrently with other searches; `add`/`remove`/`build` need external locking, or build a new
index and swap it in. faiss uses OpenMP: set `OMP_NUM_THREADS=1` (or
`faiss.omp_set_num_threads(1)`) in a single-core worker.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import faiss
import numpy as np
from PIL import Image

FEATURE_VERSION = 1

# Normalisation: images are scaled so their area is about SIDE² px (a 6:1 panorama keeps a
# usable height, unlike a longest-side rule), never more than MAX_UPSCALE times enlarged and
# never longer than MAX_SIDE. Queries get a larger area than stored images: a collage tile or a
# screenshot shows the known image at a fraction of the query's size.
KNOWN_SIDE = 512
QUERY_SIDE = 768
MAX_UPSCALE = 4.0
MAX_SIDE = 2048
# Keypoints kept: stored images are capped harder (memory); an upload is not stored.
KNOWN_FEATURES = 400
QUERY_FEATURES = 1500
# Keypoints are picked round-robin over a GRID x GRID grid (strongest first in each cell), so a
# crop or a caption bar cannot remove most of an image's keypoints at once.
GRID = 8
ORB_FAST_THRESHOLD = 10
ORB_SCALE_FACTOR = 1.2
ORB_LEVELS = 8
MIN_SIDE = 32

# Search.
KNN = 4  # known descriptors looked up per query descriptor
MAX_HAMMING = 64  # of 256 bits: a correspondence further apart is ignored
CANDIDATES = 8  # known images verified per query (the most voted ones)
MIN_VOTES = 10  # a candidate needs this many query keypoints voting for it
MIN_INLIERS = 15
RANSAC_THRESHOLD = 0.012  # reprojection error, as a fraction of the query's diagonal
MIN_COVERAGE = 0.20  # fraction of the query's area the known image must cover
MIN_SPREAD = 0.04  # inliers' convex hull / covered area
MAX_SCALE = 8.0  # known->query scale outside [1/8, 8] is refused
IVF_MIN = 500_000  # descriptors: below this an exact flat scan is fast enough
IVF_NPROBE = 4  # lists probed per query descriptor: 1 or 2 lose crops and collages (docs)
IVF_LIST_SIZE = 1000  # descriptors per inverted list (mean): nlist = n / this, a power of 2
# Codes scanned per query descriptor: the probed lists are taken nearest first while they hold
# at most this many codes together; the nearest is always scanned whole. Lists are uneven (the
# long ones hold common, non-discriminative descriptors) and would otherwise set the p95.
# Whole lists, not faiss's `max_codes`, which cuts a list short and so hides the descriptors
# added last (the newest known images) at the end of long lists.
IVF_MAX_CODES = 8 * IVF_LIST_SIZE
# Codes scanned per search in all. The scan is memory-bound, so a search's cost follows its
# codes: a full upload (~1,500 descriptors) scans ~8.6 M within IVF_MAX_CODES at 100,000 known
# images. Over this budget, the probed lists whose centroid is furthest beyond the descriptor's
# nearest are dropped first, never a nearest list. 7 M cuts the p95 there by ~14 % and keeps
# the recall; 6 M loses collages (docs/robust-matching.md, session 10).
IVF_SEARCH_CODES = 7_000_000
IVF_MAX_NLIST = 65536

_MAGIC = b"CRF"
_HEADER = struct.Struct("<3sBHHHH")  # magic, version, width, height, count, reserved
_XY_SCALE = 16  # positions stored as uint16 in 1/16 px (up to 4095 px)


@dataclass(frozen=True, slots=True, eq=False)
class Features:
    """Local features of one image, in the coordinates of its normalised copy.

    `xy`: (n, 2) float32 positions; `descriptors`: (n, 32) uint8 ORB descriptors; `size`:
    (width, height) of the normalised image the positions refer to."""

    xy: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.descriptors)

    def serialize(self) -> bytes:
        return serialize(self)


@dataclass(frozen=True, slots=True)
class FeatureMatch:
    """A known image found in a query: RANSAC inliers, and the fraction of the query's area
    the known image covers (1.0 when the query is a crop of it)."""

    id: int
    inliers: int
    coverage: float
    votes: int = 0
    scale: float = 1.0  # known -> query (normalised coordinates)
    rotation: float = 0.0  # degrees, counter-clockwise in image coordinates


# ---------------------------------------------------------------------------------------------
# Extraction


def _luma(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return img.convert("L") if img.mode != "L" else img


def normalise(img: Image.Image, side: int) -> np.ndarray:
    """Luma as a uint8 array scaled to an area of about side² px (see the constants)."""
    g = _luma(img)
    w, h = g.size
    s = min(side / (w * h) ** 0.5, MAX_UPSCALE, MAX_SIDE / max(w, h))
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    if (nw, nh) != (w, h):
        g = g.resize((nw, nh), Image.Resampling.LANCZOS if s < 1 else Image.Resampling.BICUBIC)
    a = np.asarray(g, dtype=np.uint8)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(a)


def _spread(kps: Sequence[cv2.KeyPoint], w: int, h: int, n: int) -> list[cv2.KeyPoint]:
    """At most n keypoints, round-robin over a GRID x GRID grid, strongest first per cell."""
    if len(kps) <= n:
        return list(kps)
    pts = np.array([k.pt for k in kps], dtype=np.float32)
    resp = np.array([k.response for k in kps], dtype=np.float32)
    cx = np.minimum((pts[:, 0] * GRID / w).astype(np.int32), GRID - 1)
    cy = np.minimum((pts[:, 1] * GRID / h).astype(np.int32), GRID - 1)
    cell = cy * GRID + cx
    order = np.lexsort((-resp, cell))
    sorted_cell = cell[order]
    first = np.searchsorted(sorted_cell, sorted_cell, side="left")
    rank = np.empty(len(kps), dtype=np.int64)
    rank[order] = np.arange(len(kps)) - first
    pick = np.lexsort((-resp, rank))[:n]
    return [kps[i] for i in pick]


def extract(img: Image.Image, max_features: int | None = None, *, query: bool = False) -> Features:
    """Features of a decoded, EXIF-transposed image. `query=True` for an upload being looked
    up (larger normalisation, more keypoints); the default is what is stored for a known image.
    Raises ValueError for an image under `MIN_SIDE` px on a side."""
    if min(img.size) < MIN_SIDE:
        raise ValueError(f"image too small for features: {img.size[0]}x{img.size[1]}")
    side = QUERY_SIDE if query else KNOWN_SIDE
    n = max_features or (QUERY_FEATURES if query else KNOWN_FEATURES)
    a = normalise(img, side)
    h, w = a.shape
    orb = cv2.ORB_create(
        nfeatures=n * 3,
        scaleFactor=ORB_SCALE_FACTOR,
        nlevels=ORB_LEVELS,
        edgeThreshold=15,
        patchSize=31,
        fastThreshold=ORB_FAST_THRESHOLD,
    )
    kps = orb.detect(a, None)
    kps = _spread(kps, w, h, n)
    kps, desc = orb.compute(a, kps)
    if desc is None or not kps:
        return Features(np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8), (w, h))
    xy = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return Features(xy, np.ascontiguousarray(desc, dtype=np.uint8), (w, h))


def extract_pil_or_none(img: Image.Image, **kw) -> Features | None:
    try:
        return extract(img, **kw)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Serialisation: b"CRF" version width height count 0, then count x (x, y) uint16 (1/16 px),
# then count x 32 descriptor bytes. Little-endian. 12 + 36 * count bytes.


def serialize(f: Features) -> bytes:
    n = len(f)
    w, h = f.size
    if n > 0xFFFF or max(w, h) * _XY_SCALE > 0xFFFF:
        raise ValueError("features too large to serialise")
    xy = np.clip(np.rint(f.xy * _XY_SCALE), 0, 0xFFFF).astype("<u2")
    return (
        _HEADER.pack(_MAGIC, FEATURE_VERSION, w, h, n, 0)
        + xy.tobytes()
        + np.ascontiguousarray(f.descriptors, dtype=np.uint8).tobytes()
    )


def deserialize(data: bytes) -> Features:
    """Inverse of `serialize`; raises ValueError on anything malformed."""
    if len(data) < _HEADER.size:
        raise ValueError("feature blob too short")
    magic, version, w, h, n, _ = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a feature blob")
    if version != FEATURE_VERSION:
        raise ValueError(f"unsupported feature blob version {version}")
    if len(data) != _HEADER.size + 36 * n:
        raise ValueError("feature blob has the wrong length")
    off = _HEADER.size
    xy = np.frombuffer(data, dtype="<u2", count=2 * n, offset=off).reshape(n, 2)
    desc = np.frombuffer(data, dtype=np.uint8, count=32 * n, offset=off + 4 * n).reshape(n, 32)
    return Features(xy.astype(np.float32) / _XY_SCALE, desc.copy(), (w, h))


# ---------------------------------------------------------------------------------------------
# The index


class FeatureIndex:
    """Descriptors of known images, searchable by a query's features.

    Ids are the caller's (e.g. a KnownImage / KnownHash group id); adding an id twice adds a
    second copy of its features. `remove` is O(descriptors) and rebuilds the faiss index.
    Searches may run concurrently; `add`, `remove` and `build` must not run during a search
    (lock, or build a new index and swap it in). The faiss index is (re)built lazily by the
    first search after changes, or explicitly with `build()`.
    """

    def __init__(
        self, ivf_min: int = IVF_MIN, nprobe: int = IVF_NPROBE, nlist: int | None = None
    ) -> None:
        self.ivf_min = ivf_min
        self.nprobe = nprobe
        self.nlist = nlist
        self._ids: list[int] = []  # per image slot
        self._sizes: list[tuple[int, int]] = []
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []  # pending (xy, desc)
        self._desc = np.empty((0, 32), np.uint8)
        self._xy = np.empty((0, 2), np.float32)
        self._owner = np.empty(0, np.int32)
        self._pending_owner: list[np.ndarray] = []
        self._faiss: faiss.IndexBinary | None = None
        self._in_faiss = 0  # descriptors already added to self._faiss
        self._ivf = False
        self._list_sizes = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def n_descriptors(self) -> int:
        return len(self._desc) + sum(len(d) for _, d in self._chunks)

    @property
    def nbytes(self) -> int:
        """Bytes held: numpy arrays plus faiss codes and ids (8 bytes each in an IVF)."""
        self._consolidate()
        own = self._desc.nbytes + self._xy.nbytes + self._owner.nbytes
        fa = self._in_faiss * (32 + (8 if self._ivf else 0))
        return own + fa

    def add(self, id: int, features: Features) -> None:
        slot = len(self._ids)
        self._ids.append(int(id))
        self._sizes.append(tuple(features.size))
        if len(features):
            self._chunks.append((features.xy.astype(np.float32), features.descriptors))
            self._pending_owner.append(np.full(len(features), slot, np.int32))

    def add_many(self, items: Iterable[tuple[int, Features]]) -> None:
        for i, f in items:
            self.add(i, f)

    def remove(self, ids: Iterable[int]) -> int:
        """Drop every image with one of these ids; returns how many images went."""
        drop = set(int(i) for i in ids)
        self._consolidate()
        keep_slots = [s for s, i in enumerate(self._ids) if i not in drop]
        removed = len(self._ids) - len(keep_slots)
        if not removed:
            return 0
        remap = np.full(len(self._ids), -1, np.int64)
        remap[keep_slots] = np.arange(len(keep_slots))
        keep = remap[self._owner] >= 0
        self._desc, self._xy = self._desc[keep], self._xy[keep]
        self._owner = remap[self._owner[keep]].astype(np.int32)
        self._ids = [self._ids[s] for s in keep_slots]
        self._sizes = [self._sizes[s] for s in keep_slots]
        self._faiss, self._in_faiss = None, 0
        return removed

    def _consolidate(self) -> None:
        if self._chunks:
            self._xy = np.concatenate([self._xy] + [c[0] for c in self._chunks])
            self._desc = np.concatenate([self._desc] + [c[1] for c in self._chunks])
            self._owner = np.concatenate([self._owner] + self._pending_owner)
            self._chunks, self._pending_owner = [], []

    def build(self, train: np.ndarray | None = None) -> None:
        """Bring the faiss index up to date: new descriptors are appended; the IVF's coarse
        centroids are chosen when the index first reaches `ivf_min` descriptors, as a
        deterministic sample of `train` (default: the index's own descriptors)."""
        self._consolidate()
        n = len(self._desc)
        if self._faiss is not None and self._ivf == (n >= self.ivf_min or self._ivf):
            if n > self._in_faiss:
                self._faiss.add(self._desc[self._in_faiss :])
                self._in_faiss = n
                self._count_lists()
            return
        if n >= self.ivf_min:
            src = self._desc if train is None else train
            nlist = min(self.nlist or ivf_nlist(n), len(src))
            # Centroids are sampled descriptors, not k-means (a two-level k-means evened the
            # lists only a little and did not help recall: docs), found through a second, small
            # IVF over them (`coarse` lists, one probed): ~2 * sqrt(nlist) comparisons per
            # descriptor instead of nlist. Known and query descriptors go through the same
            # assignment, so an approximate one only redraws the cells (bench/robustmatch.py
            # measures recall).
            rng = np.random.default_rng(0)
            centroids = np.ascontiguousarray(src[rng.choice(len(src), nlist, replace=False)])
            coarse = int(2 ** round(np.log2(nlist**0.5)))
            quantizer = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, coarse)
            quantizer.cp.niter = 5
            quantizer.train(centroids)
            quantizer.add(centroids)
            quantizer.nprobe = 1
            index = faiss.IndexBinaryIVF(quantizer, 256, nlist)
            index.is_trained = True
            index.nprobe = self.nprobe
            self._quantizer = quantizer  # keep the Python object alive
            self._ivf = True
        else:
            index = faiss.IndexBinaryFlat(256)
            self._ivf = False
        index.add(self._desc)
        self._faiss, self._in_faiss = index, n
        self._count_lists()

    def _count_lists(self) -> None:
        if self._ivf:
            lists = self._faiss.invlists
            self._list_sizes = np.array([lists.list_size(i) for i in range(self._faiss.nlist)])

    def _neighbours(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, positions) of the k nearest known descriptors of each row of x; in an
        IVF, among the probed lists that `IVF_MAX_CODES` and `IVF_SEARCH_CODES` allow."""
        if not self._ivf:
            return self._faiss.search(x, k)
        cdist, lists = self._quantizer.search(x, self.nprobe)
        sizes = np.where(lists >= 0, self._list_sizes[lists], 0)
        skip = np.cumsum(sizes, axis=1) > IVF_MAX_CODES
        skip[:, 0] = False
        over = int(sizes[~skip].sum()) - IVF_SEARCH_CODES
        if over > 0:
            skip |= _over_budget(cdist, sizes, skip, over)
        return self._faiss.search_preassigned(x, k, np.where(skip, -1, lists), cdist)

    def search(self, q: Features, limit: int | None = None) -> list[FeatureMatch]:
        """Known images verified in the query, most inliers first."""
        if self._chunks or self._faiss is None or self._in_faiss < len(self._desc):
            self.build()
        if len(q) < MIN_INLIERS or self._in_faiss == 0:
            return []
        k = min(KNN, self._in_faiss)
        dist, pos = self._neighbours(np.ascontiguousarray(q.descriptors), k)
        ok = (pos >= 0) & (dist <= MAX_HAMMING)
        qi = np.broadcast_to(np.arange(len(q))[:, None], pos.shape)[ok]
        kp, dd = pos[ok], dist[ok]
        if kp.size == 0:
            return []
        owner = self._owner[kp].astype(np.int64)
        # Votes: distinct query keypoints per known image.
        key = np.unique(owner * len(q) + qi)
        slots, votes = np.unique(key // len(q), return_counts=True)
        good = votes >= MIN_VOTES
        slots, votes = slots[good], votes[good]
        if slots.size == 0:
            return []
        top = np.argsort(-votes, kind="stable")[:CANDIDATES]
        qw, qh = q.size
        out = []
        for slot, v in zip(slots[top].tolist(), votes[top].tolist(), strict=True):
            sel = owner == slot
            m = self._verify(q, qi[sel], kp[sel], dd[sel], slot, qw, qh)
            if m is not None:
                inl, cov, scale, rot = m
                out.append(FeatureMatch(self._ids[slot], inl, cov, v, scale, rot))
        out.sort(key=lambda m: (-m.inliers, -m.coverage, m.id))
        return out[:limit]

    def _verify(self, q, qi, kp, dd, slot, qw, qh):
        # One correspondence per query keypoint (its closest known descriptor of this image)
        # and per known keypoint.
        order = np.lexsort((dd, qi))
        qi, kp, dd = qi[order], kp[order], dd[order]
        first = np.r_[True, qi[1:] != qi[:-1]]
        qi, kp, dd = qi[first], kp[first], dd[first]
        order = np.lexsort((dd, kp))
        qi, kp = qi[order], kp[order]
        first = np.r_[True, kp[1:] != kp[:-1]]
        qi, kp = qi[first], kp[first]
        if len(qi) < MIN_INLIERS:
            return None
        src = self._xy[kp].reshape(-1, 1, 2)
        dst = q.xy[qi].reshape(-1, 1, 2)
        thr = RANSAC_THRESHOLD * float(np.hypot(qw, qh))
        cv2.setRNGSeed(len(qi))  # RANSAC's sampling: same query, same answer
        M, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=thr,
            maxIters=2000,
            confidence=0.995,
            refineIters=10,
        )
        if M is None or mask is None:
            return None
        inl = int(mask.sum())
        if inl < MIN_INLIERS:
            return None
        scale = float(np.hypot(M[0, 0], M[1, 0]))
        if not (1 / MAX_SCALE <= scale <= MAX_SCALE):
            return None
        rot = float(np.degrees(np.arctan2(M[1, 0], M[0, 0])))
        kw, kh = self._sizes[slot]
        corners = np.array([[0, 0], [kw, 0], [kw, kh], [0, kh]], np.float32)
        proj = corners @ M[:, :2].T.astype(np.float32) + M[:, 2].astype(np.float32)
        frame = np.array([[0, 0], [qw, 0], [qw, qh], [0, qh]], np.float32)
        area, poly = cv2.intersectConvexConvex(proj, frame)
        coverage = float(area) / (qw * qh)
        if coverage < MIN_COVERAGE:
            return None
        pts = dst[mask.ravel().astype(bool)].reshape(-1, 2)
        hull = cv2.contourArea(cv2.convexHull(pts)) if len(pts) >= 3 else 0.0
        if area <= 0 or hull / area < MIN_SPREAD:
            return None
        return inl, coverage, scale, rot


def _over_budget(cdist: np.ndarray, sizes: np.ndarray, skip: np.ndarray, over: int) -> np.ndarray:
    """Probes to drop so that at least `over` fewer codes are scanned: those whose centroid is
    furthest beyond the descriptor's nearest one first (then later probes, then later, i.e.
    weaker, keypoints); never a descriptor's nearest list."""
    droppable = ~skip
    droppable[:, 0] = False
    r, c = np.nonzero(droppable)
    gap = cdist[r, c].astype(np.int64) - cdist[r, 0]
    order = np.lexsort((-r, -c, -gap))
    r, c = r[order], c[order]
    n = int(np.searchsorted(np.cumsum(sizes[r, c]), over)) + 1
    drop = np.zeros_like(skip)
    drop[r[:n], c[:n]] = True
    return drop


def ivf_nlist(n: int) -> int:
    """Inverted lists for n descriptors: a power of 2 near n / IVF_LIST_SIZE."""
    return int(min(IVF_MAX_NLIST, max(256, 2 ** round(np.log2(max(n, 1) / IVF_LIST_SIZE)))))


def query(index: FeatureIndex, img: Image.Image, limit: int | None = None) -> list[FeatureMatch]:
    """Convenience: extract an upload's features and search; [] for a too-small image."""
    f = extract_pil_or_none(img, query=True)
    return [] if f is None else index.search(f, limit)


__all__ = [
    "FEATURE_VERSION",
    "Features",
    "FeatureIndex",
    "FeatureMatch",
    "deserialize",
    "extract",
    "query",
    "serialize",
]
