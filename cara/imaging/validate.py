"""Upload validation: refuse anything that is not a complete, allowed, reasonably sized image,
with a message that names the file, before any full decode (docs/media.md)."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from cara.imaging.containers import (
    MAX_PADDING,
    MIME_TYPES,
    PADDING_BYTES,
    ContainerError,
    Structure,
    sniff_format,
    structure,
)


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
        st = structure(data, fmt)
        _check_trailer(data, st.end)
    except ContainerError as bad:
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
        with pillow_guard():
            width, height = _decode_check(data, fmt, st)
    except ContainerError as bad:
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
    if len(rest) > MAX_PADDING or any(b not in PADDING_BYTES for b in rest):
        if _has_zip_directory(data):
            what = "a ZIP archive"
        elif b"ftyp" in rest[:64] or rest.endswith(b"SEFT"):
            # Pixel/Samsung "motion photos" append a video clip after the picture.
            raise ContainerError(
                "polyglot",
                "has a video clip attached after the picture (a phone 'motion photo'). "
                "Please share or export it as a still JPEG and upload that.",
            )
        else:
            what = f"{len(rest)} bytes of other data"
        raise ContainerError(
            "polyglot",
            f"has {what} hidden after the end of the image. Please re-save or export it "
            "from your drawing or photo app and upload it again.",
        )
    if _has_zip_directory(data):
        # A ZIP directory whose comment runs to the end of the file can hide inside a
        # segment and still be opened by unzip: refuse it too.
        raise ContainerError("polyglot", "contains a ZIP archive hidden inside the image.")


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


@contextmanager
def pillow_guard() -> Iterator[None]:
    """Decompression-bomb warnings become errors; Pillow's chatter about odd metadata does
    not fail an upload. (catch_warnings is process-wide in 3.11; our header checks run first,
    so this is a second line of defence.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _decode_check(data: bytes, fmt: str, st: Structure) -> tuple[int, int]:
    """Open with Pillow (allowlist), verify, and decode in a bounded way. Returns the size."""
    im = Image.open(io.BytesIO(data), formats=[fmt])
    if im.format not in (fmt, "MPO" if fmt == "JPEG" else fmt):
        raise ContainerError("type", "is not a supported image.")
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


def _inflate_check(data: bytes, st: Structure) -> None:
    d = zlib.decompressobj()
    total = 0
    for offset, length in st.idat:
        buf = data[offset : offset + length]
        while buf:
            total += len(d.decompress(buf, 1 << 20))
            buf = d.unconsumed_tail
            if total > st.png_raw_size:
                raise ContainerError("corrupt", "is a damaged PNG (too much pixel data).")
            if d.eof:
                break
    if not d.eof or total < st.png_raw_size:
        raise ContainerError("truncated", "is incomplete: the PNG's pixel data is cut short.")
