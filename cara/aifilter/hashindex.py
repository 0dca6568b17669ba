"""Known-image hashes: perceptual hashing, an in-memory near-duplicate index, hash-list files.

Framework-free (no Flask, no database): the app loads KnownHash rows into a `HashIndex` and
keeps the database as the truth.

Matching, in short (docs/hash-lists.md has the long version and the measurements):

- Every image is hashed twice, with a 64-bit DCT pHash (imagehash) and the 256-bit PDQ hash
  (Meta's PDQ), both on luma, after scaling so the longer side is at most `HASH_SIDE` px.
- For a *known* image we store several rows (`variant_hashes`): the image, its mirror, crops of
  2.5..15% from each side (and their mirrors), and the image with a uniform frame trimmed off.
  Crops are the transformation both hashes handle worst, so we enumerate them at store time.
- For an *upload* we compute one or two hashes (`query_hashes`): the image, plus the image with
  a uniform border trimmed off when it has one (a border added by a re-poster).
- `HashIndex.search` finds rows whose pHash is within `PHASH_RADIUS` (exhaustive faiss scan),
  then keeps those whose PDQ hash is within `PDQ_RADIUS`. Both radii were chosen from
  bench/hashmatch.py over the fixture set (see the constants below).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

from cara.aifilter import features

# Images are scaled down so the longer side is at most this before hashing: hashes of a 1024 px
# and a 2048 px derivative of the same picture then agree, and PDQ costs ~4 ms instead of ~1 s.
HASH_SIDE = 512
# Images smaller than this are not hashed (too little detail; uploads refuse them anyway).
MIN_SIDE = 32

# Crop variants stored for a known image: fraction removed from one side. The step is small
# because PDQ is crop-sensitive (fixtures: median 28 bits apart after a 2% crop, 64 after 5%);
# a 2% grid (66 rows per image instead of 52) measured no better overall (0.954 both).
CROP_STEPS: tuple[float, ...] = (0.025, 0.05, 0.075, 0.10, 0.125, 0.15)
SIDES = ("left", "right", "top", "bottom")  # variant names use the initial: "crop-l-10"

# Radii (inclusive Hamming distances), from bench/hashmatch.py over the 55 fixture images >= 32 px
# (41 transformations, 2253 queries against 2764 stored rows; docs/hash-lists.md has the table):
# - distinct images never came closer than PDQ 68 bits; among rows within pHash 16 likewise 68,
#   within pHash 14 it is 92. PDQ <= 32 stays under half of that smallest distinct distance and
#   is PDQ's customary match threshold (31-32).
# - at (16, 32): recall 0.954 with 0 false matches; PDQ 40 would give 0.958, 48 0.964 - not
#   worth the smaller margin. A pHash radius beyond 16 adds < 0.2% recall (PDQ decides).
PHASH_RADIUS = 16
PDQ_RADIUS = 32
# PDQ's own quality score (0..100) is low for flat or nearly uniform images, whose hashes are
# mostly noise; such uploads are not matched at all rather than risking a false flag (PDQ's
# authors suggest ignoring hashes below 50).
MIN_PDQ_QUALITY = 50

# Uniform-border detection for `trim_border`: luma difference still counted as the frame colour.
TRIM_TOLERANCE = 24

PHASH_HEX_LEN = 16
PDQ_HEX_LEN = 64
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """The two perceptual hashes of one image (or of one stored variant of it)."""

    phash: int  # 64-bit unsigned; bit 63 is imagehash's first (top-left) DCT bit
    pdq: bytes  # 32 bytes, big-endian: hex() gives PDQ's canonical 64-digit string
    pdq_quality: int = 100

    @property
    def phash_hex(self) -> str:
        return f"{self.phash:016x}"

    @property
    def pdq_hex(self) -> str:
        return self.pdq.hex()

    @classmethod
    def from_hex(cls, phash_hex: str, pdq_hex: str, pdq_quality: int = 100) -> ImageHashes:
        """Parse the hex forms stored in the database and in hash-list files."""
        return cls(phash_from_hex(phash_hex), pdq_from_hex(pdq_hex), pdq_quality)


@dataclass(frozen=True, slots=True)
class Match:
    """One index row near a query; distances are Hamming bit counts."""

    id: int
    phash_distance: int
    pdq_distance: int


def phash_from_hex(value: str) -> int:
    value = value.strip().lower()
    if len(value) != PHASH_HEX_LEN or not _HEX.fullmatch(value):
        raise ValueError(f"pHash must be {PHASH_HEX_LEN} hex digits, got {value[:40]!r}")
    return int(value, 16)


def pdq_from_hex(value: str) -> bytes:
    value = value.strip().lower()
    if len(value) != PDQ_HEX_LEN or not _HEX.fullmatch(value):
        raise ValueError(f"PDQ hash must be {PDQ_HEX_LEN} hex digits, got {value[:40]!r}")
    return bytes.fromhex(value)


def to_int64(phash: int) -> int:
    """The unsigned 64-bit pHash as a signed int64 (for a BIGINT column), and back via
    `from_int64`."""
    return phash - (1 << 64) if phash >= 1 << 63 else phash


def from_int64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# ---------------------------------------------------------------------------------------------
# Hashing


def _normalise(img: Image.Image, side: int | None = None) -> Image.Image:
    """Luma ("L"), longer side at most `side` px (never enlarged). Both hashes only look at
    luma, and resampling one channel instead of three makes variant hashing ~3x faster."""
    side = side or HASH_SIDE
    if img.mode != "L":
        img = img.convert("RGB").convert("L")
    if max(img.size) > side:
        img = img.copy()
        img.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def _hash_normalised(img: Image.Image) -> ImageHashes:
    bits = imagehash.phash(img).hash.reshape(-1)
    phash = int.from_bytes(np.packbits(bits).tobytes(), "big")
    # pdqhash wants an HxWx3 uint8 array and takes its luma (0.299/0.587/0.114, the weights
    # Pillow's "L" uses), so three equal channels reproduce it. It returns bit 255 first, so
    # packbits gives the canonical big-endian PDQ byte order.
    luma = np.asarray(img, dtype=np.uint8)
    vector, quality = pdqhash.compute(np.repeat(luma[:, :, None], 3, axis=2))
    pdq = np.packbits(vector.astype(np.uint8)).tobytes()
    return ImageHashes(phash, pdq, int(quality))


def hash_image(img: Image.Image) -> ImageHashes:
    """Hashes of a decoded, EXIF-transposed image (flatten transparency beforehand).

    Large images are scaled in two steps (to 2x `HASH_SIDE`, then `HASH_SIDE`), the same path
    `variant_hashes` and `query_hashes` take, so all three agree to the bit. Raises ValueError
    when a side is under `MIN_SIDE` px, before or after scaling (a strip thinner than 1:16)."""
    norm = _normalise(_normalise(img, 2 * HASH_SIDE))
    if min(img.size) < MIN_SIDE or min(norm.size) < MIN_SIDE:
        raise ValueError(f"image too small or too thin to hash: {img.size[0]}x{img.size[1]}")
    return _hash_normalised(norm)


def trim_border(img: Image.Image, tolerance: int = TRIM_TOLERANCE) -> Image.Image | None:
    """The image without a uniform frame (all four corners the same colour), or None if it has
    no such frame or trimming would leave too little."""
    a = np.asarray(img if img.mode == "L" else img.convert("L"), dtype=np.int16)
    h, w = a.shape
    corners = np.array([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]])
    bg = np.median(corners)
    if np.abs(corners - bg).max() > tolerance:
        return None
    content = np.abs(a - bg) > tolerance
    # A row/column counts as content when more than a sliver of it differs from the frame
    # colour, so stray JPEG noise in the border does not stop the trim.
    rows = np.flatnonzero(content.sum(axis=1) > max(1, w // 200))
    cols = np.flatnonzero(content.sum(axis=0) > max(1, h // 200))
    if rows.size == 0 or cols.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    tw, th = right - left, bottom - top
    if tw < MIN_SIDE or th < MIN_SIDE or tw < w * 0.2 or th < h * 0.2:
        return None
    if max(left, w - right) < w * 0.01 and max(top, h - bottom) < h * 0.01:
        return None  # nothing worth trimming
    return img.crop((int(left), int(top), int(right), int(bottom)))


def _crop(img: Image.Image, side: str, fraction: float) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * fraction), round(h * fraction)
    box = {
        "left": (dx, 0, w, h),
        "right": (0, 0, w - dx, h),
        "top": (0, dy, w, h),
        "bottom": (0, 0, w, h - dy),
    }[side]
    return img.crop(box)


ROTATIONS = (
    ("rot90", Image.Transpose.ROTATE_90),
    ("rot180", Image.Transpose.ROTATE_180),
    ("rot270", Image.Transpose.ROTATE_270),
)


def variant_hashes(
    img: Image.Image, crop_steps: Sequence[float] | None = None
) -> list[tuple[str, ImageHashes]]:
    """What we store for a known image: (variant name, hashes) for the image, its mirror,
    one-side crops and the border-trimmed image, each also mirrored, and the image turned by
    90, 180 and 270° ("rot90", "rot180", "rot270"). Names fit in 20 chars:
    "orig", "mirror", "crop-l-10" (10% cut from the left), "mirror-crop-t-2.5", "trim",
    "mirror-trim". Raises ValueError if the image itself is too small to hash."""
    # Crop from a 2x working copy, then normalise each crop like an upload would be.
    work = _normalise(img, 2 * HASH_SIDE)
    images: list[tuple[str, Image.Image]] = [("orig", work)]
    for side in SIDES:
        for step in CROP_STEPS if crop_steps is None else crop_steps:
            images.append((f"crop-{side[0]}-{step * 100:g}", _crop(work, side, step)))
    trimmed = trim_border(work)
    if trimmed is not None:
        images.append(("trim", trimmed))
    out = []
    for name, variant in images:
        try:
            hashes = hash_image(variant)
        except ValueError:
            if name == "orig":
                raise
            continue  # a crop of an image barely MIN_SIDE wide
        out.append((name, hashes))
        mirrored = "mirror" if name == "orig" else f"mirror-{name}"
        out.append((mirrored, hash_image(ImageOps.mirror(variant))))
    # The dihedral rotations of the whole image (the mirror is above): a repost turned by a
    # quarter or half turn is then a first-stage match, before the slower second stage.
    for name, turn in ROTATIONS:
        out.append((name, hash_image(work.transpose(turn))))
    return out


def query_hashes(img: Image.Image) -> list[ImageHashes]:
    """What we compute for an upload: its hashes, plus those of its trimmed version when it has
    a uniform frame (a border added around a known image). Raises ValueError if too small."""
    work = _normalise(img, 2 * HASH_SIDE)
    out = [hash_image(work)]
    trimmed = trim_border(work)
    if trimmed is not None:
        try:
            out.append(hash_image(trimmed))
        except ValueError:
            pass  # what is left inside the frame is a thin strip: the image alone will do
    return out


# ---------------------------------------------------------------------------------------------
# The index


class HashIndex:
    """In-memory near-duplicate index over (id, pHash, PDQ) rows, rebuilt from the database.

    The pHash stage is an exhaustive, exact Hamming scan: faiss's vectorised `hammings` kernel
    over the 8-byte codes in blocks of `SCAN_BLOCK` rows, then a numpy threshold. At 10M rows
    on one core it beat IndexBinaryFlat.range_search, a plain numpy scan and faiss's
    multi-table hash index (bench/hashindex.py; docs/hash-lists.md has the figures). Row ids,
    codes and PDQ hashes sit in three aligned numpy arrays: 48 bytes per row, ~460 MB at 10M.
    No OpenMP is involved, so thread settings and forking do not matter.

    Reads (`search`) may run concurrently; writes (`add`, `add_hex`, `remove`) need external
    locking or a freshly built index swapped in.
    """

    # Rows scanned per kernel call: the int32 distances of a block (256 KiB) stay in L2 cache.
    SCAN_BLOCK = 1 << 16

    def __init__(
        self,
        phash_radius: int = PHASH_RADIUS,
        pdq_radius: int = PDQ_RADIUS,
        min_quality: int = MIN_PDQ_QUALITY,
    ) -> None:
        self.phash_radius = phash_radius
        self.pdq_radius = pdq_radius
        self.min_quality = min_quality
        self._n = 0
        # Capacity grows geometrically so loading in batches stays linear.
        self._ids = np.empty(0, dtype=np.int64)
        self._codes = np.empty((0, 8), dtype=np.uint8)  # pHash, big-endian bytes
        self._pdq = np.empty((0, 32), dtype=np.uint8)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the rows (ids + pHash + PDQ), spare capacity included."""
        return self._ids.nbytes + self._codes.nbytes + self._pdq.nbytes

    def _append(self, ids: np.ndarray, phash: np.ndarray, pdq: np.ndarray) -> None:
        k = len(ids)
        if not (phash.shape == (k, 8) and pdq.shape == (k, 32)):
            raise ValueError("ids, pHash and PDQ rows must have the same length")
        if k == 0:
            return
        n, need = self._n, self._n + k
        if need > len(self._ids):
            cap = max(need, len(self._ids) * 3 // 2, 1024)
            arrays = []
            for old, shape in (
                (self._ids, (cap,)),
                (self._codes, (cap, 8)),
                (self._pdq, (cap, 32)),
            ):
                new = np.empty(shape, dtype=old.dtype)
                new[:n] = old[:n]
                arrays.append(new)
            self._ids, self._codes, self._pdq = arrays
        self._ids[n:need] = ids
        self._codes[n:need] = phash
        self._pdq[n:need] = pdq
        self._n = need

    def add(self, ids: Sequence[int], hashes: Sequence[ImageHashes]) -> None:
        """Add rows; `ids` are KnownHash row ids (not checked for duplicates)."""
        if len(ids) != len(hashes):
            raise ValueError("ids and hashes must have the same length")
        phash = np.frombuffer(
            b"".join(h.phash.to_bytes(8, "big") for h in hashes), dtype=np.uint8
        ).reshape(-1, 8)
        pdq = np.frombuffer(b"".join(h.pdq for h in hashes), dtype=np.uint8).reshape(-1, 32)
        self._append(np.asarray(ids, dtype=np.int64), phash, pdq)

    def add_hex(self, ids: Sequence[int], phash_hex: Sequence[str], pdq_hex: Sequence[str]) -> None:
        """Bulk-load rows straight from the database's hex columns (no per-row objects).

        Raises ValueError on a malformed value."""
        if not len(ids) == len(phash_hex) == len(pdq_hex):
            raise ValueError("ids, pHash and PDQ columns must have the same length")
        if any(len(v) != PHASH_HEX_LEN for v in phash_hex) or any(
            len(v) != PDQ_HEX_LEN for v in pdq_hex
        ):
            raise ValueError("malformed hash in bulk load")
        phash = np.frombuffer(bytes.fromhex("".join(phash_hex)), dtype=np.uint8).reshape(-1, 8)
        pdq = np.frombuffer(bytes.fromhex("".join(pdq_hex)), dtype=np.uint8).reshape(-1, 32)
        self._append(np.asarray(ids, dtype=np.int64), phash, pdq)

    def remove(self, ids: Iterable[int]) -> int:
        """Drop every row with one of these ids; returns how many rows went. O(rows)."""
        ids = np.fromiter(ids, dtype=np.int64)
        if ids.size == 0 or self._n == 0:
            return 0
        keep = ~np.isin(self._ids[: self._n], ids)
        m = int(keep.sum())
        if m == self._n:
            return 0
        for arr in (self._ids, self._codes, self._pdq):
            arr[:m] = arr[: self._n][keep]
        removed, self._n = self._n - m, m
        return removed

    def _phash_candidates(self, phash: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions and distances of rows within `phash_radius` (exhaustive scan)."""
        q = np.frombuffer(phash.to_bytes(8, "big"), dtype=np.uint8)
        qp = faiss.swig_ptr(q)
        dist = np.empty(self.SCAN_BLOCK, dtype=np.int32)
        dp = faiss.swig_ptr(dist)
        positions, distances = [], []
        for start in range(0, self._n, self.SCAN_BLOCK):
            k = min(self.SCAN_BLOCK, self._n - start)
            faiss.hammings(qp, faiss.swig_ptr(self._codes[start : start + k]), 1, k, 8, dp)
            hit = np.flatnonzero(dist[:k] <= self.phash_radius)
            if hit.size:
                positions.append(hit + start)
                distances.append(dist[hit])
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        return np.concatenate(positions), np.concatenate(distances)

    def search(self, q: ImageHashes, limit: int | None = None) -> list[Match]:
        """Rows within `phash_radius` (pHash) and `pdq_radius` (PDQ) of `q`, best (smallest PDQ,
        then pHash distance, then id) first; at most `limit` of them if given. Returns [] for a
        featureless query (PDQ quality below `min_quality`)."""
        if q.pdq_quality < self.min_quality or self._n == 0:
            return []
        pos, dist = self._phash_candidates(q.phash)
        if pos.size == 0:
            return []
        qpdq = np.frombuffer(q.pdq, dtype=np.uint8)
        pdq_dist = np.bitwise_count(self._pdq[pos] ^ qpdq).sum(axis=1, dtype=np.int32)
        ok = np.flatnonzero(pdq_dist <= self.pdq_radius)
        if ok.size == 0:
            return []
        ids = self._ids[pos[ok]]
        pdq_dist, dist = pdq_dist[ok], dist[ok]
        # Sort in numpy and build objects only for the rows returned: a popular image may have
        # thousands of rows in range.
        order = np.lexsort((ids, dist, pdq_dist))[:limit]
        return [
            Match(i, p, d)
            for i, p, d in zip(
                ids[order].tolist(), dist[order].tolist(), pdq_dist[order].tolist(), strict=True
            )
        ]

    def search_many(self, queries: Iterable[ImageHashes], limit: int | None = None) -> list[Match]:
        """Union of `search` over several hashes of one upload: best match per id."""
        best: dict[int, Match] = {}
        for q in queries:
            for m in self.search(q, limit):
                old = best.get(m.id)
                if old is None or (m.pdq_distance, m.phash_distance) < (
                    old.pdq_distance,
                    old.phash_distance,
                ):
                    best[m.id] = m
        ranked = sorted(best.values(), key=lambda m: (m.pdq_distance, m.phash_distance, m.id))
        return ranked[:limit]


# ---------------------------------------------------------------------------------------------
# Hash-list files (docs/hash-lists.md)

FORMAT_NAME = "cara-hash-list"
FORMAT_VERSION = 2  # 2 adds the optional "features" array; version 1 files stay readable
FORMAT_VERSIONS = (1, 2)
CSV_COLUMNS = ("phash", "pdq", "variant", "note", "source")
MAX_VARIANT = 20  # KnownHash.variant is String(20)
MAX_SOURCE = 20  # KnownHash.source is String(20)
MAX_NOTE = 1000
_VARIANT = re.compile(r"[a-z0-9][a-z0-9.-]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class HashListError(ValueError):
    """A hash-list file that cannot be imported; `line` is 1-based (None: whole file)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True, slots=True)
class HashRecord:
    """One row of a hash list: the two hashes of one stored variant of an image."""

    phash: str  # 16 lowercase hex digits
    pdq: str  # 64 lowercase hex digits
    variant: str = "orig"
    note: str = ""
    source: str = ""

    @classmethod
    def from_hashes(
        cls, hashes: ImageHashes, variant: str = "orig", note: str = "", source: str = ""
    ) -> HashRecord:
        return cls(hashes.phash_hex, hashes.pdq_hex, variant, note, source)

    def hashes(self) -> ImageHashes:
        return ImageHashes.from_hex(self.phash, self.pdq)


@dataclass(frozen=True, slots=True)
class FeatureRecord:
    """Version 2: the local features of one known image (`features.serialize`), so the
    second matching stage knows it too."""

    data: bytes
    note: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class HashList:
    """A parsed hash-list file: hash rows, and (JSON version 2) feature records."""

    hashes: list[HashRecord]
    features: list[FeatureRecord]


def _text(fields: dict, name: str, default: str, limit: int, line: int) -> str:
    value = fields.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise HashListError(f"{name} must be a string", line)
    if len(value) > limit:
        raise HashListError(f"{name} is longer than {limit} characters", line)
    if _CONTROL.search(value):
        raise HashListError(f"{name} contains control characters", line)
    return value


def _feature_record(fields: dict, line: int) -> FeatureRecord:
    value = fields.get("data")
    if not isinstance(value, str) or not value:
        raise HashListError('features entry needs "data": base64 text', line)
    try:
        data = base64.b64decode(value, validate=True)
        found = features.deserialize(data)
    except (binascii.Error, ValueError) as exc:
        raise HashListError(f"features data is not valid: {exc}", line) from None
    if len(found) > features.KNOWN_FEATURES:
        raise HashListError(
            f"features entry has {len(found)} keypoints (at most {features.KNOWN_FEATURES})", line
        )
    return FeatureRecord(
        data,
        _text(fields, "note", "", MAX_NOTE, line),
        _text(fields, "source", "", MAX_SOURCE, line),
    )


def _record(fields: dict, line: int) -> HashRecord:
    """Validate one record's fields (strings from CSV or values from JSON)."""

    def text(name: str, default: str, limit: int) -> str:
        return _text(fields, name, default, limit, line)

    phash = fields.get("phash")
    pdq = fields.get("pdq")
    for name, value, size in (("phash", phash, PHASH_HEX_LEN), ("pdq", pdq, PDQ_HEX_LEN)):
        if value is None or value == "":
            raise HashListError(f"missing {name}", line)
        if not isinstance(value, str):
            raise HashListError(f"{name} must be a string of {size} hex digits", line)
    phash, pdq = phash.strip().lower(), pdq.strip().lower()
    if len(phash) != PHASH_HEX_LEN or not _HEX.fullmatch(phash):
        raise HashListError(f"phash must be {PHASH_HEX_LEN} hex digits, got {phash[:70]!r}", line)
    if len(pdq) != PDQ_HEX_LEN or not _HEX.fullmatch(pdq):
        raise HashListError(f"pdq must be {PDQ_HEX_LEN} hex digits, got {pdq[:70]!r}", line)
    variant = text("variant", "orig", MAX_VARIANT)
    if not _VARIANT.fullmatch(variant):
        raise HashListError(f"variant may hold only a-z, 0-9, '.' and '-': {variant!r}", line)
    return HashRecord(
        phash, pdq, variant, text("note", "", MAX_NOTE), text("source", "", MAX_SOURCE)
    )


def dump_hash_list(
    records: Iterable[HashRecord], fmt: str, feature_records: Sequence[FeatureRecord] = ()
) -> str:
    """Serialise records as "csv" or "json" (one record per line either way). Feature records
    need JSON, which is then written as version 2; without them it stays version 1, so older
    readers can import it."""
    if fmt == "csv":
        if feature_records:
            raise ValueError("features can only be written to a JSON hash list")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow((r.phash, r.pdq, r.variant, r.note, r.source))
        return out.getvalue()
    if fmt == "json":
        rows = [
            json.dumps(
                {
                    "phash": r.phash,
                    "pdq": r.pdq,
                    "variant": r.variant,
                    "note": r.note,
                    "source": r.source,
                },
                ensure_ascii=False,
            )
            for r in records
        ]
        version = 2 if feature_records else 1
        out = f'{{\n  "format": "{FORMAT_NAME}",\n  "version": {version},\n'
        out += _json_array("hashes", rows) + ("," if feature_records else "") + "\n"
        if feature_records:
            frows = [
                json.dumps(
                    {
                        "data": base64.b64encode(f.data).decode("ascii"),
                        "note": f.note,
                        "source": f.source,
                    },
                    ensure_ascii=False,
                )
                for f in feature_records
            ]
            out += _json_array("features", frows) + "\n"
        return out + "}\n"
    raise ValueError(f"unknown hash-list format {fmt!r} (csv or json)")


def _json_array(key: str, rows: list[str]) -> str:
    body = ",\n".join(f"    {row}" for row in rows)
    return f'  "{key}": [\n{body}\n  ]' if rows else f'  "{key}": []'


def parse_hash_list(text: str, fmt: str) -> HashList:
    """Parse a "csv" or "json" hash list; raises HashListError naming the line at fault."""
    if fmt == "csv":
        return HashList(_parse_csv(text), [])
    if fmt == "json":
        return _parse_json(text)
    raise ValueError(f"unknown hash-list format {fmt!r} (csv or json)")


def _parse_csv(text: str) -> list[HashRecord]:
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="")
    reader = csv.reader(lines, strict=True)
    records: list[HashRecord] = []
    header: list[str] | None = None
    line = 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1  # a quoted field may span lines
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                missing = [c for c in ("phash", "pdq") if c not in header]
                if missing:
                    raise HashListError(
                        f"header must name the columns {', '.join(CSV_COLUMNS)}; "
                        f"missing {', '.join(missing)}",
                        start,
                    )
                continue
            if len(row) != len(header):
                raise HashListError(f"expected {len(header)} fields, got {len(row)}", start)
            records.append(_record(dict(zip(header, row, strict=True)), start))
    except csv.Error as exc:
        raise HashListError(f"malformed CSV: {exc}", reader.line_num) from None
    if header is None:
        raise HashListError("empty file: expected a header line", 1)
    return records


_WS = re.compile(r"[ \t\n\r]*")


class _JsonScanner:
    """Walks the top-level object by hand (json.raw_decode for each value) so that every record
    keeps its line number for error messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Objects come back as lists of (key, value) pairs so duplicate keys can be refused.
        self.decoder = json.JSONDecoder(object_pairs_hook=list)
        self.pos = 0
        self._line_pos = 0
        self._line = 1

    def line(self) -> int:
        """1-based line of the current position (counted incrementally: positions only grow)."""
        self._line += self.text.count("\n", self._line_pos, self.pos)
        self._line_pos = self.pos
        return self._line

    def peek(self) -> str:
        self.pos = _WS.match(self.text, self.pos).end()
        return self.text[self.pos : self.pos + 1]

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "end of file"
            raise HashListError(f"expected {what}, found {found}", self.line())
        self.pos += 1
        return c

    def value(self) -> object:
        self.peek()
        try:
            value, self.pos = self.decoder.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise HashListError(f"invalid JSON: {exc.msg}", exc.lineno) from None
        return value

    def keys(self) -> Iterable[tuple[str, int]]:
        """(key, line) for each member of the object starting here; the caller consumes each
        value before asking for the next key."""
        self.expect("{", "'{'")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise HashListError("expected a quoted key", self.line())
            line = self.line()
            key = self.value()
            self.expect(":", "':'")
            yield str(key), line
            if self.expect(",}", "',' or '}'") == "}":
                return


def _object(pairs: object, line: int, key: str = "hashes") -> dict:
    if not isinstance(pairs, list) or not all(isinstance(p, tuple) for p in pairs):
        raise HashListError(f"each entry of {key} must be an object", line)
    fields: dict = {}
    for key, value in pairs:
        if key in fields:
            raise HashListError(f"duplicate key {key!r}", line)
        fields[key] = value
    return fields


def _parse_json(text: str) -> HashList:
    s = _JsonScanner(text.removeprefix("\ufeff"))
    header: dict[str, tuple[object, int]] = {}  # key -> (value, line)
    arrays: dict[str, tuple[list, int]] = {}  # "hashes" / "features" -> (records, line)
    readers = {"hashes": _record, "features": _feature_record}
    for key, line in s.keys():
        if key in header or key in arrays:
            raise HashListError(f"duplicate key {key!r}", line)
        if key not in readers:
            header[key] = (s.value(), line)
            continue
        records: list = []
        arrays[key] = (records, line)
        s.expect("[", f"'[' starting the {key} array")
        if s.peek() == "]":
            s.pos += 1
            continue
        while True:
            s.peek()
            start = s.line()
            records.append(readers[key](_object(s.value(), start, key), start))
            if s.expect(",]", "',' or ']'") == "]":
                break
    if s.peek():
        raise HashListError("unexpected text after the top-level object", s.line())
    fmt, line = header.get("format", (None, 1))
    if fmt != FORMAT_NAME:
        raise HashListError(f'"format" must be "{FORMAT_NAME}"', line)
    version, line = header.get("version", (None, 1))
    if type(version) is not int or version not in FORMAT_VERSIONS:
        raise HashListError(
            f'unsupported "version" {version!r} (expected one of '
            f"{', '.join(map(str, FORMAT_VERSIONS))})",
            line,
        )
    if "hashes" not in arrays:
        raise HashListError('missing "hashes" array', 1)
    if version == 1 and "features" in arrays:
        raise HashListError('"features" needs "version": 2', arrays["features"][1])
    return HashList(arrays["hashes"][0], arrays.get("features", ([], 0))[0])
