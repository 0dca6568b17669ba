"""Images: upload validation, private originals, derivatives and the rights we embed in them.

Framework-free: no Flask, no database, no config reads. Limits and rights are passed in.
See docs/media.md for the policy (formats, limits, animation, metadata, protected images).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import math
import os
import re
import secrets
import struct
import tempfile
import unicodedata
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ExifTags, Image, ImageCms, ImageOps, features

__all__ = [
    "ALLOWED_FORMATS",
    "DATA_MINING_VALUES",
    "DEFAULT_WIDTHS",
    "Derivative",
    "Limits",
    "MediaError",
    "PIPELINE_VERSION",
    "Rendition",
    "Rights",
    "UploadError",
    "UploadInfo",
    "MIME_TYPES",
    "PLUS_VOCAB",
    "avif_supported",
    "build_xmp",
    "data_mining_code",
    "derivative_name",
    "inspect_upload",
    "load_oriented",
    "make_avif",
    "make_derivatives",
    "random_name",
    "rung_sizes",
    "sniff_format",
    "square_crop_box",
    "usage_terms",
    "write_private",
]

# Bump whenever derivative bytes would change for the same input (encoder settings, XMP
# layout...): callers fold it into the stem so old and new files never share a name.
PIPELINE_VERSION = 1

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
DEFAULT_WIDTHS: tuple[int, ...] = (320, 640, 1280, 2048)
DEFAULT_JPEG_WIDTHS: tuple[int, ...] = (640, 1280)

# Trailing bytes tolerated after the end of the image (some encoders pad); anything more, or
# anything that is not padding, is refused as a possible polyglot (JPEG+HTML, JPEG+ZIP).
MAX_PADDING = 64
_PADDING_BYTES = frozenset(b"\x00\xff\r\n\t ")

# Encoder settings, tuned in bench/pipeline.py.
WEBP_QUALITY = 80
WEBP_METHOD = 1  # 0..6: 4 (Pillow's default) costs ~3x the time for ~10% smaller files
WEBP_LOSSLESS_METHOD = 0  # lossless effort: higher levels are 4x slower for ~6% smaller files
WEBP_LOSSLESS_QUALITY = 0
JPEG_QUALITY = 82
JPEG_QUALITY_PROTECTED = 95
AVIF_QUALITY = 60
# Rungs up to 640 px are what phones load in feeds: quality 50 keeps them within the 40 KB
# page-weight budget (measured: a detailed 640 px photo 52 KB at 60, 36 KB at 50).
AVIF_QUALITY_SMALL = 50
AVIF_SMALL_WIDTH = 640
AVIF_SPEED = 6
# The big first step (decoded image -> largest width) dominates the resize cost: HAMMING is
# 2.3x cheaper than LANCZOS there and within ~49 dB PSNR of it (bench/pipeline.py). Later
# steps start from the previous, already small, width, so LANCZOS costs little.
FIRST_RESAMPLE = Image.Resampling.HAMMING
CHAIN_RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 2.0
SQUARE_SIDE = 480  # portfolio grid cells are at most 240 CSS px: sharp at device pixel ratio 2
WORK_SIZE = 640  # longest side of the image handed back for hashing / the filter
# A width that is not in `widths` is added at the source's own width when the source lies
# at least this much above the largest fitting width (a 1000 px drawing gets 320, 640, 1000).
NATIVE_RUNG_RATIO = 1.2
MAX_DIMENSION = 16383  # WebP's hard limit on either side

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EXIF_ARTIST = 0x013B
_EXIF_COPYRIGHT = 0x8298

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
# PLUS LDF DataMining vocabulary (IPTC Photo Metadata 2023.1): the code -> its plain meaning.
DATA_MINING_VALUES: dict[str, str] = {
    "DMI-UNSPECIFIED": "",
    "DMI-ALLOWED": "",
    "DMI-PROHIBITED-AIMLTRAINING": "Use of this work to train AI or machine-learning models "
    "is prohibited.",
    "DMI-PROHIBITED-GENAIMLTRAINING": "Use of this work to train generative AI or "
    "machine-learning models is prohibited.",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": "Data mining of this work is prohibited, "
    "except for search engine indexing.",
    "DMI-PROHIBITED": "Data mining of this work is prohibited.",
    "DMI-PROHIBITED-SEECONSTRAINT": "Data mining of this work is prohibited; see the usage terms.",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": "Data mining of this work is prohibited.",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": "Data mining of this work is prohibited.",
}


class MediaError(ValueError):
    """An image could not be read or processed."""


class UploadError(MediaError):
    """An upload was refused. str(error) is a message for the person who uploaded it."""

    def __init__(self, message: str, *, filename: str = "", code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.code = code  # short machine-readable reason: "empty", "type", "truncated", ...


@dataclass(frozen=True)
class Limits:
    """Upload caps; the caller builds them from its config."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_frames: int = 1  # 1 = animated GIF/WebP/PNG refused (docs/media.md)
    min_side: int = 32
    max_side: int = 16_000


@dataclass(frozen=True)
class UploadInfo:
    format: str  # one of ALLOWED_FORMATS, sniffed from the bytes
    mime: str
    width: int
    height: int
    frames: int
    sha256: str  # hex digest of the uploaded bytes


@dataclass(frozen=True)
class Rights:
    """What we write into every derivative, from our database (never from the upload)."""

    creator: str
    copyright: str
    web_statement: str
    licence_url: str | None
    data_mining: str = "DMI-PROHIBITED-AIMLTRAINING"
    creator_url: str | None = None  # the artist's profile page (Iptc4xmpCore:CiUrlWork)


@dataclass(frozen=True)
class Derivative:
    width: int
    height: int
    format: str  # "webp" | "jpeg" | "avif"
    path: Path
    bytes: int  # file size

    @property
    def mime(self) -> str:
        return f"image/{self.format}"


@dataclass
class Rendition:
    width: int  # of the upright (EXIF-oriented) original
    height: int
    files: list[Derivative]
    placeholder_color: str  # "#rrggbb": average colour, on white
    placeholder: str | None = None  # tiny blurred data: URI (no XMP: it is not a served file)
    has_alpha: bool = False
    # Upright sRGB RGB image, longest side <= WORK_SIZE, alpha flattened on white: for hashes
    # and the filter, so the original is not decoded twice.
    work_image: Image.Image | None = field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------------------------
# Upload validation


class _Bad(Exception):
    """Internal: a structural problem, turned into an UploadError with the file's name."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Structure:
    width: int
    height: int
    frames: int
    end: int  # offset just past the image's last byte
    idat: list[tuple[int, int]] = field(default_factory=list)  # PNG: (offset, length)
    png_raw_size: int = 0  # PNG: expected size of the decompressed IDAT stream


def inspect_upload(data: bytes, filename: str, limits: Limits | None = None) -> UploadInfo:
    """Validate an upload without fully decoding it; raise UploadError naming the file.

    Order matters: cheap checks first, the pixel and frame caps from the header before any
    decoding, then a bounded decode that proves the file is complete.
    """
    limits = limits or Limits()
    name = _display_name(filename)

    def refuse(code: str, reason: str) -> UploadError:
        return UploadError(f'"{name}" {reason}', filename=name, code=code)

    if not data:
        raise refuse("empty", "is empty (0 bytes). Please choose the image again.")
    if len(data) > limits.max_bytes:
        raise refuse(
            "too_large",
            f"is {_mb(len(data))}; images can be at most {_mb(limits.max_bytes)}.",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise refuse(
            "type",
            f"is not a supported image: it looks like {_describe(data)}. "
            "Please upload a JPEG, PNG, WebP or GIF.",
        )
    try:
        st = _WALKERS[fmt](data)
        _check_trailer(data, st.end)
    except _Bad as bad:
        raise refuse(bad.code, bad.reason) from None
    except (IndexError, struct.error):
        raise refuse("truncated", "is incomplete or damaged (it ends too early).") from None
    _check_dimensions(st.width, st.height, limits, refuse)
    if st.frames > limits.max_frames:
        if limits.max_frames <= 1:
            raise refuse(
                "animated",
                f"is animated ({st.frames} frames). Animated images are not supported: "
                "please upload a still image (for example the frame you like best).",
            )
        raise refuse("frames", f"has {st.frames} frames; the limit is {limits.max_frames}.")
    try:
        with _pillow_guard():
            width, height = _decode_check(data, fmt, st)
    except _Bad as bad:
        raise refuse(bad.code, bad.reason) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise refuse("bomb", "has too many pixels to process safely.") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError):
        raise refuse("corrupt", "is damaged or incomplete and cannot be read.") from None
    # Pillow's own idea of the size (e.g. GIF logical screen) is the one we will decode.
    _check_dimensions(width, height, limits, refuse)
    return UploadInfo(
        format=fmt,
        mime=MIME_TYPES[fmt],
        width=width,
        height=height,
        frames=st.frames,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def sniff_format(data: bytes) -> str | None:
    """The allowed format these bytes start with, whatever the file is called."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _describe(data: bytes) -> str:
    """A human name for a refused file type, so the message can say what went wrong."""
    head = data[:512]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "a TIFF image"
    if head.startswith(b"8BPS"):
        return "a Photoshop (PSD) file"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "a PostScript/EPS file"
    if head.startswith(b"BM"):
        return "a BMP image"
    if head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")):
        return "an icon (ICO) file"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo (iPhone: export or share it as JPEG)"
        return "a video or ISO media file"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "a JPEG XL image"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"\x1f\x8b"):
        return "a compressed (gzip) file"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if text.startswith(b"<"):
        return "an XML/text document"
    return "a file type we do not recognise"


def _display_name(filename: str) -> str:
    """The file's base name, safe to show back: no path, no control characters, short."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(base) > 80:
        base = base[:77] + "..."
    return base or "The file"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _check_dimensions(width: int, height: int, limits: Limits, refuse) -> None:
    if width < limits.min_side or height < limits.min_side:
        raise refuse(
            "too_small",
            f"is only {width}×{height} pixels; images must be at least "
            f"{limits.min_side}×{limits.min_side}.",
        )
    if width > limits.max_side or height > limits.max_side:
        raise refuse(
            "dimensions",
            f"is {width}×{height} pixels; neither side may exceed {limits.max_side} pixels.",
        )
    if width * height > limits.max_pixels:
        raise refuse(
            "too_many_pixels",
            f"is {width}×{height} = {width * height / 1e6:.0f} megapixels; the limit is "
            f"{limits.max_pixels / 1e6:.0f} megapixels.",
        )


def _check_trailer(data: bytes, end: int) -> None:
    rest = data[end:]
    if len(rest) > MAX_PADDING or any(b not in _PADDING_BYTES for b in rest):
        if _has_zip_directory(data):
            what = "a ZIP archive"
        elif b"ftyp" in rest[:64] or rest.endswith(b"SEFT"):
            # Pixel/Samsung "motion photos" append a video clip after the picture.
            raise _Bad(
                "polyglot",
                "has a video clip attached after the picture (a phone 'motion photo'). "
                "Please share or export it as a still JPEG and upload that.",
            )
        else:
            what = f"{len(rest)} bytes of other data"
        raise _Bad(
            "polyglot",
            f"has {what} hidden after the end of the image. Please re-save or export it "
            "from your drawing or photo app and upload it again.",
        )
    if _has_zip_directory(data):
        # A ZIP directory whose comment runs to the end of the file can hide inside a
        # segment and still be opened by unzip: refuse it too.
        raise _Bad("polyglot", "contains a ZIP archive hidden inside the image.")


def _has_zip_directory(data: bytes) -> bool:
    """True when a ZIP end-of-central-directory record ends exactly at the end of the file."""
    start = max(0, len(data) - 65_557)
    pos = data.rfind(b"PK\x05\x06", start)
    while pos != -1:
        if pos + 22 <= len(data):
            comment_len = int.from_bytes(data[pos + 20 : pos + 22], "little")
            if pos + 22 + comment_len == len(data):
                return True
        pos = data.rfind(b"PK\x05\x06", start, pos)
    return False


# -- structure walkers: read headers and block lengths only, never pixels ----------------------

_SOF_MARKERS = frozenset(
    (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
)
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker; anything
# else is the next marker. The regex finds it at C speed.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _walk_jpeg(data: bytes, start: int = 0, nested: bool = False) -> _Structure:
    n = len(data)
    if data[start : start + 2] != b"\xff\xd8":
        raise _Bad("corrupt", "is not a valid JPEG.")
    pos = start + 2
    width = height = 0
    mpf: tuple[int, bytes] | None = None
    truncated = _Bad("truncated", "is incomplete: the JPEG ends before its last byte.")
    while True:
        if pos >= n:
            raise truncated
        if data[pos] != 0xFF:
            raise _Bad("corrupt", "is a damaged JPEG (unexpected bytes between segments).")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise truncated
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker in (0xD8, 0x00):
            raise _Bad("corrupt", "is a damaged JPEG.")
        if pos + 2 > n:
            raise truncated
        length = int.from_bytes(data[pos : pos + 2], "big")
        body, seg_end = pos + 2, pos + length
        if length < 2:
            raise _Bad("corrupt", "is a damaged JPEG (bad segment length).")
        if seg_end > n:
            raise truncated
        if marker in _SOF_MARKERS and length >= 8:
            height = int.from_bytes(data[body + 1 : body + 3], "big")
            width = int.from_bytes(data[body + 3 : body + 5], "big")
        elif marker == 0xE2 and data[body : body + 4] == b"MPF\x00" and mpf is None:
            mpf = (body + 4, data[body + 4 : seg_end])
        pos = seg_end
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            m = _JPEG_NEXT_MARKER.search(data, pos)
            if m is None:
                raise truncated
            pos = m.start()
    if not width or not height:
        raise _Bad("corrupt", "is a JPEG without image dimensions.")
    end = pos
    if mpf is not None and not nested:
        end = _walk_mpf_images(data, start, end, *mpf)
    return _Structure(width, height, 1, end)


def _walk_mpf_images(data: bytes, start: int, primary_end: int, base: int, mp: bytes) -> int:
    """Multi-Picture files (Ultra HDR gain maps, MPO stereo pairs) carry further JPEGs after
    the first EOI, declared in the MPF index: account for exactly those, each a full JPEG."""
    entries = _parse_mp_entries(mp)
    images = sorted((base + off, size) for off, size in entries[1:] if size > 0)
    if len(images) > 8:
        raise _Bad("corrupt", "declares too many embedded pictures.")
    cursor = primary_end
    for img_start, size in images:
        gap = data[cursor:img_start]
        if (
            img_start < cursor
            or len(gap) > MAX_PADDING
            or any(b not in _PADDING_BYTES for b in gap)
        ):
            raise _Bad("corrupt", "has a damaged multi-picture (MPF) index.")
        if img_start + size > len(data):
            raise _Bad("truncated", "is incomplete: an embedded picture is cut short.")
        sub = _walk_jpeg(data[: img_start + size], img_start, nested=True)
        tail = data[sub.end : img_start + size]
        if len(tail) > MAX_PADDING or any(b not in _PADDING_BYTES for b in tail):
            raise _Bad("polyglot", "has unexpected data inside an embedded picture.")
        cursor = img_start + size
    return cursor


def _parse_mp_entries(mp: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each image in an MPF APP2 index (CIPA DC-007)."""
    if mp[:4] == b"II*\x00":
        e = "<"
    elif mp[:4] == b"MM\x00*":
        e = ">"
    else:
        raise _Bad("corrupt", "has a damaged multi-picture (MPF) index.")
    (ifd,) = struct.unpack_from(e + "I", mp, 4)
    (count,) = struct.unpack_from(e + "H", mp, ifd)
    for i in range(min(count, 64)):
        tag, _typ, n, value = struct.unpack_from(e + "HHII", mp, ifd + 2 + 12 * i)
        if tag == 0xB002:  # MPEntry: 16 bytes per image
            out = []
            for k in range(min(n // 16, 16)):
                _attr, size, offset, _d1, _d2 = struct.unpack_from(e + "IIIHH", mp, value + 16 * k)
                out.append((offset, size))
            return out
    return []


def _walk_png(data: bytes) -> _Structure:
    n = len(data)
    pos = 8
    width = height = 0
    frames = 1
    idat: list[tuple[int, int]] = []
    ihdr = b""
    chunks = 0
    while True:
        if pos + 12 > n:
            raise _Bad("truncated", "is incomplete: the PNG ends before its IEND chunk.")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF:
            raise _Bad("corrupt", "is a damaged PNG (bad chunk length).")
        chunk_end = pos + 12 + length
        if chunk_end > n:
            raise _Bad("truncated", "is incomplete: the PNG ends in the middle of a chunk.")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(ctype + body) != crc:
            raise _Bad("corrupt", "is a damaged PNG (checksum mismatch).")
        chunks += 1
        if chunks == 1 and (ctype != b"IHDR" or length != 13):
            raise _Bad("corrupt", "is a damaged PNG (no header).")
        if ctype == b"IHDR":
            ihdr = body
            width, height = struct.unpack(">II", body[:8])
        elif ctype == b"acTL" and length >= 4:
            frames = max(1, struct.unpack(">I", body[:4])[0])
        elif ctype == b"IDAT":
            idat.append((pos + 8, length))
        elif ctype == b"IEND":
            pos = chunk_end
            break
        if chunks > 50_000:
            raise _Bad("corrupt", "has too many PNG chunks.")
        pos = chunk_end
    if not idat:
        raise _Bad("corrupt", "is a PNG without image data.")
    return _Structure(width, height, frames, pos, idat=idat, png_raw_size=_png_raw_size(ihdr))


def _png_raw_size(ihdr: bytes) -> int:
    """Bytes the IDAT stream must inflate to (filter byte + packed pixels per row)."""
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise _Bad("corrupt", "is a PNG of an unknown colour type.")
    bits = channels * depth

    def plane(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not interlace:
        return plane(width, height)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
    passes += ((0, 1, 1, 2),)
    return sum(
        plane(max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy)))
        for x0, y0, dx, dy in passes
    )


def _walk_gif(data: bytes) -> _Structure:
    n = len(data)
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0

    def skip_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise _Bad("truncated", "is incomplete: the GIF ends in the middle of a frame.")
            size = data[p]
            p += 1
            if size == 0:
                return p
            p += size

    while True:
        if pos >= n:
            if frames:  # only the trailer byte is missing: browsers show these, so do we
                break
            raise _Bad("truncated", "is incomplete: the GIF has no image data.")
        block = data[pos]
        if block == 0x3B:  # trailer
            pos += 1
            break
        if block == 0x21:  # extension
            pos = skip_blocks(pos + 2)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > n:
                raise _Bad("truncated", "is incomplete: the GIF ends in the middle of a frame.")
            fpacked = data[pos + 9]
            pos += 10 + (3 << ((fpacked & 7) + 1) if fpacked & 0x80 else 0)
            pos = skip_blocks(pos + 1)  # + LZW minimum code size
            frames += 1
        else:
            raise _Bad("corrupt", "is a damaged GIF (unknown block).")
    return _Structure(width, height, frames, pos)


def _walk_webp(data: bytes) -> _Structure:
    n = len(data)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > n:
        raise _Bad("truncated", "is incomplete: the WebP ends before its last byte.")
    pos = 12
    width = height = 0
    frames = 0
    animated = False
    while pos + 8 <= end:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + size > end:
            raise _Bad("truncated", "is incomplete: the WebP ends in the middle of a chunk.")
        if fourcc == b"VP8X" and size >= 10:
            animated = bool(data[body] & 0x02)
            width = 1 + int.from_bytes(data[body + 4 : body + 7], "little")
            height = 1 + int.from_bytes(data[body + 7 : body + 10], "little")
        elif fourcc == b"VP8 " and size >= 10 and not width:
            if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
                raise _Bad("corrupt", "is a damaged WebP.")
            w, h = struct.unpack_from("<HH", data, body + 6)
            width, height = w & 0x3FFF, h & 0x3FFF
        elif fourcc == b"VP8L" and size >= 5 and not width:
            if data[body] != 0x2F:
                raise _Bad("corrupt", "is a damaged WebP.")
            (bits,) = struct.unpack_from("<I", data, body + 1)
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif fourcc == b"ANMF":
            frames += 1
        pos = body + size + (size & 1)
    if not width or not height:
        raise _Bad("corrupt", "is a WebP without image data.")
    if animated and not frames:
        raise _Bad("corrupt", "is a damaged animated WebP.")
    return _Structure(width, height, max(frames, 1), end)


_WALKERS = {"JPEG": _walk_jpeg, "PNG": _walk_png, "GIF": _walk_gif, "WEBP": _walk_webp}


@contextmanager
def _pillow_guard() -> Iterator[None]:
    """Decompression-bomb warnings become errors; Pillow's chatter about odd metadata does
    not fail an upload. (catch_warnings is process-wide in 3.11; our header checks run first,
    so this is a second line of defence.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _decode_check(data: bytes, fmt: str, st: _Structure) -> tuple[int, int]:
    """Open with Pillow (allowlist), verify, and decode in a bounded way. Returns the size."""
    im = Image.open(io.BytesIO(data), formats=[fmt])
    if im.format not in (fmt, "MPO" if fmt == "JPEG" else fmt):
        raise _Bad("type", "is not a supported image.")
    size = im.size
    im.verify()  # PNG: chunk CRCs; others: header sanity
    if fmt == "PNG":
        # Inflate the pixel stream in 1 MB steps and count bytes: proves the file is complete
        # without holding a decoded copy (a 50 MP RGBA PNG would need 200 MB).
        _inflate_check(data, st)
        return size
    im = Image.open(io.BytesIO(data), formats=[fmt])
    if fmt == "JPEG":
        # 1/8 scale: every coefficient is still Huffman-decoded (so truncation and corrupt
        # scans surface) but only 1/64 of the pixels are produced.
        im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
    im.load()  # GIF: first frame, 1 byte/pixel; WebP: full decode, bounded by max_pixels
    return size


def _inflate_check(data: bytes, st: _Structure) -> None:
    d = zlib.decompressobj()
    total = 0
    for offset, length in st.idat:
        buf = data[offset : offset + length]
        while buf:
            total += len(d.decompress(buf, 1 << 20))
            buf = d.unconsumed_tail
            if total > st.png_raw_size:
                raise _Bad("corrupt", "is a damaged PNG (too much pixel data).")
            if d.eof:
                break
    if not d.eof or total < st.png_raw_size:
        raise _Bad("truncated", "is incomplete: the PNG's pixel data is cut short.")


# --------------------------------------------------------------------------------------------
# Originals


def random_name() -> str:
    """An unguessable file name for an original (144 random bits, URL-safe, no extension)."""
    return secrets.token_urlsafe(18)


def write_private(path: Path | str, data: bytes) -> None:
    """Write bytes readable by us only (0600), atomically: temp file, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_atomic(path, data, mode=0o600, fsync=True)


def _write_atomic(path: Path, data: bytes, *, mode: int, fsync: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Derivatives


@dataclass
class _Prepared:
    width: int  # upright full-resolution size
    height: int
    images: dict[int, Image.Image]  # rung width -> upright sRGB RGB/RGBA image
    sizes: list[tuple[int, int]]  # rung sizes, ascending
    has_alpha: bool
    work_image: Image.Image


def rung_sizes(width: int, height: int, widths: Sequence[int]) -> list[tuple[int, int]]:
    """Derivative sizes for an upright source: each requested width the source reaches, plus
    the source's own width when it lies well between two (never upscaled); ascending."""
    wanted = sorted({w for w in widths if w > 0})
    if not wanted:
        raise ValueError("widths must contain a positive width")
    fitting = [w for w in wanted if w <= width]
    if not fitting:
        fitting = [width]
    elif width < wanted[-1] and width >= fitting[-1] * NATIVE_RUNG_RATIO:
        fitting.append(width)
    sizes = []
    for w in fitting:
        h = max(1, round(height * w / width))
        if h > MAX_DIMENSION:  # extreme portrait strips: keep within WebP's limit
            w, h = max(1, width * MAX_DIMENSION // height), MAX_DIMENSION
        if (w, h) not in sizes:
            sizes.append((w, h))
    return sorted(sizes)


def _work_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, WORK_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _read_original(original: Path, max_pixels: int | None) -> Image.Image:
    data = Path(original).read_bytes()
    try:
        im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{Path(original).name}: not a supported image ({exc})") from exc
    if im.format not in (*ALLOWED_FORMATS, "MPO"):
        raise MediaError(f"{Path(original).name}: format {im.format} is not allowed")
    if max_pixels is not None and im.width * im.height > max_pixels:
        raise MediaError(f"{Path(original).name}: {im.width}×{im.height} exceeds the pixel cap")
    return im


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError, OSError, SyntaxError):
        return 1
    return value if 1 <= value <= 8 else 1


def _open_upright(original: Path, max_pixels: int | None) -> tuple[Image.Image, int, int]:
    """Open lazily (header only) and return (image, upright width, upright height)."""
    with _pillow_guard():
        im = _read_original(original, max_pixels)
        im.seek(0)  # animated GIF/WebP (if ever allowed): the first frame
        w, h = im.size
    return (im, h, w) if _orientation(im) >= 5 else (im, w, h)


def _draft_and_orient(im: Image.Image, up_w: int, min_width: int) -> Image.Image:
    """Decode at the smallest JPEG draft scale whose upright width is still >= min_width,
    then apply the EXIF orientation. Draft comes first (it only works before decoding); the
    scale is chosen on the upright width so a sideways-stored portrait is not decoded small."""
    with _pillow_guard():
        if im.format in ("JPEG", "MPO"):
            scale = next(s for s in (8, 4, 2, 1) if s == 1 or up_w // s >= min_width)
            if scale > 1:
                # Pillow picks the largest of 8/4/2/1 that still covers the requested size;
                # asking for raw // scale yields exactly `scale`.
                im.draft("RGB", (im.width // scale, im.height // scale))
        ImageOps.exif_transpose(im, in_place=True)  # loads (decodes) the image
    return im


def load_oriented(
    original: Path, min_width: int, *, max_pixels: int | None = None
) -> tuple[Image.Image, int, int]:
    """Decode `original` upright, JPEGs at the smallest draft scale (1/2, 1/4, 1/8) whose
    upright width is still >= min_width. Returns (image, full upright width, full upright
    height). The image keeps its mode and .info (ICC) for the caller to convert."""
    im, up_w, up_h = _open_upright(original, max_pixels)
    return _draft_and_orient(im, up_w, min_width), up_w, up_h


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=16)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """ICC -> sRGB transform, or None when the profile is sRGB already (the common case)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    description = (ImageCms.getProfileDescription(profile) or "").strip()
    if "srgb" in description.lower():
        return None
    # NOCACHE: lcms's one-pixel cache is not safe when threads share a cached transform.
    return ImageCms.buildTransform(
        profile,
        _SRGB,
        in_mode,
        out_mode,
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
        flags=ImageCms.Flags.NOCACHE,
    )


def _to_working_mode(im: Image.Image) -> Image.Image:
    """One of L, RGB, RGBA, CMYK, so resizing is correct (no palette resampling)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # Pillow clips 16-bit values when converting to L; scale instead.
        import numpy as np

        arr = np.asarray(im).astype(np.float64)
        if mode != "F":
            arr = arr / 257.0
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    if mode in ("P", "PA", "LA", "La", "RGBa") or (
        mode in ("1", "L", "RGB") and "transparency" in im.info  # PNG tRNS colour key
    ):
        return im.convert("RGBA")
    if mode in ("L", "RGB", "RGBA", "CMYK"):
        return im
    return im.convert("RGB")


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB, mode RGB or RGBA. A broken profile falls back to 'assume sRGB'."""
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    if icc:
        try:
            transform = _transform(icc, im.mode, out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            transform = None
        if transform is not None:
            try:
                return ImageCms.applyTransform(im, transform)
            except (ImageCms.PyCMSError, ValueError):
                pass
    return im if im.mode == out_mode else im.convert(out_mode)


def _flatten(im: Image.Image) -> Image.Image:
    if im.mode != "RGBA":
        return im
    bg = Image.new("RGB", im.size, (255, 255, 255))
    bg.paste(im, mask=im.getchannel("A"))
    return bg


def _prepare(original: Path, widths: Sequence[int], max_pixels: int | None) -> _Prepared:
    """Decode once (drafted), orient, resize down a chain of widths, convert to sRGB."""
    # Size the draft from the header, before decoding anything.
    im, up_w, up_h = _open_upright(original, max_pixels)
    sizes = rung_sizes(up_w, up_h, widths)
    work = _work_size(up_w, up_h)
    im = _draft_and_orient(im, up_w, max(sizes[-1][0], work[0]))
    icc = im.info.get("icc_profile") or None
    with _pillow_guard():
        im = _to_working_mode(im)
    im.info = {}  # nothing from the upload travels further (resize copies .info)

    # Largest first: each size is resampled from the previous, already smaller, image.
    chain = sorted(set(sizes) | {work}, reverse=True)
    images: dict[tuple[int, int], Image.Image] = {}
    current, im = im, None  # let the full decode go as soon as the first resize is done
    for i, size in enumerate(chain):
        if current.size != size:
            resample = FIRST_RESAMPLE if i == 0 else CHAIN_RESAMPLE
            current = current.resize(size, resample, reducing_gap=REDUCING_GAP)
        if i == 0:
            # Colour conversion on the largest output, not the (bigger) decoded image.
            current = _to_srgb(current, icc)
            if current.mode == "RGBA" and current.getchannel("A").getextrema()[0] == 255:
                current = current.convert("RGB")  # opaque: no alpha channel to carry
            current.info = {}
        images[size] = current
    has_alpha = images[chain[0]].mode == "RGBA"
    work_image = _flatten(images[work])
    if work_image is images[work]:
        work_image = work_image.copy()
    work_image.info = {}
    return _Prepared(
        width=up_w,
        height=up_h,
        images={s[0]: images[s] for s in sizes},
        sizes=sizes,
        has_alpha=has_alpha,
        work_image=work_image,
    )


def _prepare_or_raise(original: Path, widths: Sequence[int], max_pixels: int | None) -> _Prepared:
    try:
        return _prepare(original, widths, max_pixels)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"{original.name}: too many pixels ({exc})") from exc
    except (OSError, SyntaxError, ValueError, struct.error, zlib.error) as exc:
        raise MediaError(f"{original.name}: cannot be decoded ({exc})") from exc


def derivative_name(stem: str, width: int, fmt: str) -> str:
    ext = {"webp": "webp", "jpeg": "jpg", "avif": "avif"}[fmt]
    return f"{stem}-{width}.{ext}"


def _check_stem(stem: str) -> None:
    if not _NAME_RE.match(stem):
        raise ValueError(f"unsafe derivative stem: {stem!r}")


def _exif_bytes(rights: Rights) -> bytes:
    exif = Image.Exif()
    # EXIF ASCII fields: UTF-8 bytes, as ExifTool writes them; XMP is the authoritative copy.
    exif[_EXIF_ARTIST] = _xml_safe(rights.creator).encode("utf-8")
    exif[_EXIF_COPYRIGHT] = _xml_safe(rights.copyright).encode("utf-8")
    return exif.tobytes()


def _encode(
    im: Image.Image, fmt: str, *, protected: bool, rights: Rights | None, xmp: bytes | None
) -> bytes:
    buf = io.BytesIO()
    im.info = {}  # belt and braces: Pillow falls back to .info for some fields (JPEG comment)
    params: dict[str, object] = {}
    if xmp:
        params["xmp"] = xmp
    if fmt == "webp":
        if protected:
            params.update(lossless=True, quality=WEBP_LOSSLESS_QUALITY, method=WEBP_LOSSLESS_METHOD)
        else:
            params.update(quality=WEBP_QUALITY, method=WEBP_METHOD)
        im.save(buf, "WEBP", **params)
    elif fmt == "jpeg":
        flat = _flatten(im)
        flat.info = {}
        if rights is not None:
            params["exif"] = _exif_bytes(rights)
        if protected:
            params.update(quality=JPEG_QUALITY_PROTECTED, subsampling="4:4:4")
        else:
            params.update(quality=JPEG_QUALITY)
        # Baseline + optimized Huffman: progressive costs 2.3x the encode time for ~4%, and
        # the fallback is rarely served (feed readers, link previews, old browsers).
        flat.save(buf, "JPEG", optimize=True, **params)
    elif fmt == "avif":
        quality = AVIF_QUALITY_SMALL if im.width <= AVIF_SMALL_WIDTH else AVIF_QUALITY
        params.update(quality=quality, speed=AVIF_SPEED, max_threads=1)
        im.save(buf, "AVIF", **params)
    else:  # pragma: no cover - internal
        raise ValueError(fmt)
    return buf.getvalue()


def _write_derivative(
    out_dir: Path, stem: str, im: Image.Image, fmt: str, data: bytes
) -> Derivative:
    path = out_dir / derivative_name(stem, im.width, fmt)
    _write_atomic(path, data, mode=0o644, fsync=False)  # regenerable: no fsync cost
    return Derivative(im.width, im.height, fmt, path, len(data))


def make_derivatives(
    original: Path,
    out_dir: Path,
    stem: str,
    *,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    jpeg_widths: Sequence[int] = DEFAULT_JPEG_WIDTHS,
    protected: bool = False,
    rights: Rights | None = None,
    max_pixels: int | None = None,
) -> Rendition:
    """Write WebP derivatives at each rung width plus JPEG fallbacks; return what was written.

    Nothing from the upload is copied into the files: pixels only, oriented and in sRGB,
    with the rights XMP built from `rights`. Names are f"{stem}-{width}.{ext}" and writes are
    atomic, so running twice yields the same files. `protected` writes lossless WebP (and
    near-lossless JPEG) so Glaze/Nightshade cloaks survive. Raises MediaError.
    """
    _check_stem(stem)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = _prepare_or_raise(Path(original), widths, max_pixels)
    xmp = build_xmp(rights) if rights is not None else None
    files: list[Derivative] = []
    for w, _h in prep.sizes:
        im = prep.images[w]
        data = _encode(im, "webp", protected=protected, rights=rights, xmp=xmp)
        files.append(_write_derivative(out_dir, stem, im, "webp", data))
    for w in _jpeg_rungs([w for w, _ in prep.sizes], jpeg_widths):
        im = prep.images[w]
        data = _encode(im, "jpeg", protected=protected, rights=rights, xmp=xmp)
        files.append(_write_derivative(out_dir, stem, im, "jpeg", data))
    smallest = _flatten(prep.images[prep.sizes[0][0]])
    return Rendition(
        width=prep.width,
        height=prep.height,
        files=files,
        placeholder_color=_average_colour(smallest),
        placeholder=_placeholder_uri(smallest),
        has_alpha=prep.has_alpha,
        work_image=prep.work_image,
    )


def make_square(
    image: Image.Image,
    out_dir: Path,
    stem: str,
    *,
    focus: tuple[float, float] = (0.5, 0.5),
    side: int = SQUARE_SIDE,
    protected: bool = False,
    rights: Rights | None = None,
) -> Derivative:
    """The square crop for portfolio grids, around the artist's focus point (0..1 each way),
    from an already oriented, stripped image such as `Rendition.work_image`."""
    _check_stem(stem)
    box = square_crop_box(image.width, image.height, *focus)
    square = image.crop(box)
    if square.width > side:
        square = square.resize((side, side), CHAIN_RESAMPLE)
    xmp = build_xmp(rights) if rights is not None else None
    data = _encode(square, "webp", protected=protected, rights=rights, xmp=xmp)
    return _write_derivative(Path(out_dir), stem, square, "webp", data)


def _jpeg_rungs(rungs: list[int], jpeg_widths: Sequence[int]) -> list[int]:
    """JPEG fallbacks (feed readers, link previews, old browsers) at the chosen widths, or
    at the largest rung when the source is narrower than the widest of them."""
    if not jpeg_widths:
        return []
    chosen = [w for w in rungs if w in jpeg_widths]
    if rungs[-1] < max(jpeg_widths) and rungs[-1] not in chosen:
        chosen.append(rungs[-1])
    return chosen


def _average_colour(im: Image.Image) -> str:
    r, g, b = im.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))[:3]
    return f"#{r:02x}{g:02x}{b:02x}"


def _placeholder_uri(im: Image.Image) -> str:
    tiny = im.convert("RGB")
    tiny.thumbnail((16, 16), Image.Resampling.BOX)
    buf = io.BytesIO()
    tiny.save(buf, "WEBP", quality=30, method=0)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def avif_supported() -> bool:
    """Whether this Pillow can write AVIF (libavif with an AV1 encoder)."""
    try:
        from PIL import _avif  # type: ignore[attr-defined]
    except ImportError:
        return False
    return bool(features.check("avif")) and any(
        _avif.encoder_codec_available(c) for c in ("aom", "rav1e", "svt")
    )


def make_avif(
    original: Path,
    out_dir: Path,
    stem: str,
    *,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    protected: bool = False,
    rights: Rights | None = None,
    max_pixels: int | None = None,
) -> list[Derivative]:
    """AVIF derivatives at the same widths and names as make_derivatives (slow: run it in a
    lower-priority job). Returns [] when AVIF is unavailable or the image is protected
    (lossy AVIF would wash out a Glaze/Nightshade cloak; lossless WebP is served instead)."""
    _check_stem(stem)
    if protected or not avif_supported():
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prep = _prepare_or_raise(Path(original), widths, max_pixels)
    xmp = build_xmp(rights) if rights is not None else None
    files = []
    for w, _h in prep.sizes:
        im = prep.images[w]
        data = _encode(im, "avif", protected=False, rights=rights, xmp=xmp)
        files.append(_write_derivative(out_dir, stem, im, "avif", data))
    return files


# --------------------------------------------------------------------------------------------
# Rights metadata (XMP)

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: str) -> str:
    return _INVALID_XML.sub("", value)


def _esc(value: str) -> str:
    """Escape for XML text and double-quoted attributes; drop characters XML cannot hold."""
    value = _xml_safe(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def data_mining_code(value: str) -> str:
    """Normalise a PLUS DataMining value (code or full URI) to its code; ValueError if unknown."""
    code = value.strip()
    if code.startswith(PLUS_VOCAB):
        code = code[len(PLUS_VOCAB) :]
    code = code.upper()
    if code not in DATA_MINING_VALUES:
        raise ValueError(f"unknown PLUS DataMining value: {value!r}")
    return code


def usage_terms(rights: Rights) -> str:
    """Human-readable terms written as xmpRights:UsageTerms."""
    parts = [
        f"Licensed under {rights.licence_url}." if rights.licence_url else "All rights reserved."
    ]
    if dmi := DATA_MINING_VALUES[data_mining_code(rights.data_mining)]:
        parts.append(dmi)
    if rights.web_statement:
        parts.append(f"See {rights.web_statement}")
    return " ".join(parts)


def build_xmp(rights: Rights) -> bytes:
    """An XMP packet (UTF-8) with creator, copyright, web statement, licence and the PLUS
    DataMining reservation. Every value is escaped; the layout is fixed so output is stable."""
    code = data_mining_code(rights.data_mining)
    licence = rights.licence_url
    public_domain = bool(licence and "publicdomain" in licence.lower())
    lines = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '  <rdf:Description rdf:about=""',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
        '    xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"',
        '    xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"',
        '    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"',
        '    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"',
        '    xmlns:cc="http://creativecommons.org/ns#">',
        f"   <dc:creator><rdf:Seq><rdf:li>{_esc(rights.creator)}</rdf:li></rdf:Seq></dc:creator>",
        '   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{_esc(rights.copyright)}</rdf:li></rdf:Alt></dc:rights>",
        f"   <photoshop:Credit>{_esc(rights.creator)}</photoshop:Credit>",
        f"   <xmpRights:Marked>{'False' if public_domain else 'True'}</xmpRights:Marked>",
        f"   <xmpRights:WebStatement>{_esc(rights.web_statement)}</xmpRights:WebStatement>",
        '   <xmpRights:UsageTerms><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{_esc(usage_terms(rights))}</rdf:li></rdf:Alt></xmpRights:UsageTerms>",
        f"   <plus:DataMining>{_esc(PLUS_VOCAB + code)}</plus:DataMining>",
    ]
    if rights.creator_url:
        lines.append(
            '   <Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">'
            f"<Iptc4xmpCore:CiUrlWork>{_esc(rights.creator_url)}</Iptc4xmpCore:CiUrlWork>"
            "</Iptc4xmpCore:CreatorContactInfo>"
        )
    if licence:
        lines.append(f'   <cc:license rdf:resource="{_esc(licence)}"/>')
        lines.append(f"   <cc:attributionName>{_esc(rights.creator)}</cc:attributionName>")
        if rights.web_statement:
            lines.append(f'   <cc:attributionURL rdf:resource="{_esc(rights.web_statement)}"/>')
    lines += [
        "  </rdf:Description>",
        " </rdf:RDF>",
        "</x:xmpmeta>",
        '<?xpacket end="r"?>',
    ]
    return "\n".join(lines).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Portfolio squares


def square_crop_box(
    width: int, height: int, focus_x: float = 0.5, focus_y: float = 0.5
) -> tuple[int, int, int, int]:
    """The largest square (left, upper, right, lower) centred as near the focus point (0..1
    of width/height, chosen by the artist) as the image allows."""
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    for f in (focus_x, focus_y):
        if not (isinstance(f, int | float) and math.isfinite(f) and 0.0 <= f <= 1.0):
            raise ValueError("focus must be between 0 and 1")
    side = min(width, height)
    left = min(max(round(focus_x * width - side / 2), 0), width - side)
    top = min(max(round(focus_y * height - side / 2), 0), height - side)
    return left, top, left + side, top + side
