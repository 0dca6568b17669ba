"""Image containers: one format sniffer and one walker per container, reading headers and
lengths only, never pixels. Standard library only.

Each walker is an iterator of ``(kind, offset, length)`` in file order: the chunk's type and
where its payload lies in ``data`` (``data[offset : offset + length]``):

- ``jpeg_segments``: kind is the marker byte (0xE1 = APP1, 0xDA = start of scan...); the
  payload follows the 2-byte length field. Ends with EOI as ``(0xD9, end, 0)``.
- ``png_chunks``: kind is the chunk type (b"IHDR"); its CRC follows the payload. Ends with
  IEND.
- ``webp_chunks``: kind is the FourCC (b"VP8X") of each chunk inside the RIFF.
- ``gif_blocks``: kind is 0x2C for an image (payload from its descriptor to its last data
  sub-block), 0x21xx for an extension with label xx (payload: its sub-blocks), and 0x3B for
  the trailer, ``(0x3B, end, 0)``.

A walker yields each chunk once it lies wholly within ``data`` and raises ContainerError at
the first structural problem, after yielding everything before it: a strict reader (upload
validation, ``structure``) refuses the file, a lenient one (provenance) keeps what it read.
With ``partial=True`` a chunk that the end of the data cuts short is yielded too (its
length as declared, bounded by its container: slicing clips it to what is there) and the
walk stops there instead of raising. Being lazy, a reader that stops early (metadata comes
before the JPEG scan) pays for no more.

Format names are Pillow's: "JPEG", "PNG", "WEBP", "GIF".
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

# Trailing bytes tolerated after the end of the image (some encoders pad); anything more, or
# anything that is not padding, is refused as a possible polyglot (JPEG+HTML, JPEG+ZIP).
MAX_PADDING = 64
PADDING_BYTES = frozenset(b"\x00\xff\r\n\t ")


class ContainerError(Exception):
    """A structural problem in an image file. ``reason`` completes a sentence naming the file
    ("is incomplete: ..."); ``code`` is a short machine-readable reason ("truncated")."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


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


# -- walkers -----------------------------------------------------------------------------------

# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker; anything
# else is the next marker. The regex finds it at C speed.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_segments(
    data: bytes, start: int = 0, *, partial: bool = False
) -> Iterator[tuple[int, int, int]]:
    """(marker, offset, length) of each segment of the JPEG beginning at ``start``, through
    its EOI. Start of scan is yielded before its entropy-coded data is skipped; the
    standalone markers RSTn and TEM are skipped."""
    n = len(data)
    if data[start : start + 2] != b"\xff\xd8":
        raise ContainerError("corrupt", "is not a valid JPEG.")
    pos = start + 2
    truncated = ContainerError("truncated", "is incomplete: the JPEG ends before its last byte.")
    while True:
        if pos >= n:
            raise truncated
        if data[pos] != 0xFF:
            raise ContainerError(
                "corrupt", "is a damaged JPEG (unexpected bytes between segments)."
            )
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise truncated
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            yield marker, pos, 0
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker in (0xD8, 0x00):
            raise ContainerError("corrupt", "is a damaged JPEG.")
        if pos + 2 > n:
            raise truncated
        length = int.from_bytes(data[pos : pos + 2], "big")
        seg_end = pos + length
        if length < 2:
            raise ContainerError("corrupt", "is a damaged JPEG (bad segment length).")
        if seg_end > n:
            if partial:
                yield marker, pos + 2, length - 2
                return
            raise truncated
        yield marker, pos + 2, length - 2
        pos = seg_end
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            m = _JPEG_NEXT_MARKER.search(data, pos)
            if m is None:
                raise truncated
            pos = m.start()


def png_chunks(data: bytes, *, partial: bool = False) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, length) of each PNG chunk, through IEND. CRCs are not checked here
    (``png_crc_ok``): a metadata reader may want a chunk whatever its checksum. A chunk
    counts as cut short when its CRC is (``partial``: its payload may be whole)."""
    n = len(data)
    pos = 8
    while True:
        if pos + 12 > n and not (partial and pos + 8 <= n):
            raise ContainerError("truncated", "is incomplete: the PNG ends before its IEND chunk.")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF:
            raise ContainerError("corrupt", "is a damaged PNG (bad chunk length).")
        if pos + 12 + length > n:
            if partial:
                yield ctype, pos + 8, length
                return
            raise ContainerError(
                "truncated", "is incomplete: the PNG ends in the middle of a chunk."
            )
        yield ctype, pos + 8, length
        if ctype == b"IEND":
            return
        pos += 12 + length


def png_crc_ok(data: bytes, ctype: bytes, offset: int, length: int) -> bool:
    """Whether the CRC after a chunk's payload matches its type and payload."""
    (crc,) = struct.unpack_from(">I", data, offset + length)
    return zlib.crc32(ctype + data[offset : offset + length]) == crc


def _riff_end(data: bytes) -> int:
    """Offset just past the RIFF container, as its header declares it."""
    (riff_size,) = struct.unpack_from("<I", data, 4)
    return 8 + riff_size


def webp_chunks(data: bytes, *, partial: bool = False) -> Iterator[tuple[bytes, int, int]]:
    """(FourCC, offset, size) of each chunk inside the WebP's RIFF container (``partial``:
    a chunk running past the RIFF's end is cut at it)."""
    n = len(data)
    end = _riff_end(data)
    stop = min(end, n)
    cut_short = ContainerError("truncated", "is incomplete: the WebP ends before its last byte.")
    pos = 12
    while pos + 8 <= stop:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + size > stop:
            if partial:
                yield fourcc, body, min(size, end - body)
                return
            if end > n:
                raise cut_short
            raise ContainerError(
                "truncated", "is incomplete: the WebP ends in the middle of a chunk."
            )
        yield fourcc, body, size
        pos = body + size + (size & 1)
    if end > n and not partial:
        raise cut_short


def gif_blocks(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(kind, offset, length) of each block after the GIF's header and global colour table,
    through the trailer. A GIF missing only its trailer byte ends after its last image
    (browsers show these)."""
    n = len(data)
    _width, _height, packed = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    images = 0

    def skip_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise ContainerError(
                    "truncated", "is incomplete: the GIF ends in the middle of a frame."
                )
            size = data[p]
            p += 1
            if size == 0:
                return p
            p += size

    while True:
        if pos >= n:
            if images:  # only the trailer byte is missing
                return
            raise ContainerError("truncated", "is incomplete: the GIF has no image data.")
        block = data[pos]
        if block == 0x3B:  # trailer
            yield block, pos + 1, 0
            return
        if block == 0x21:  # extension
            start = pos + 2
            pos = skip_blocks(start)
            yield 0x2100 | data[start - 1], start, pos - start
        elif block == 0x2C:  # image descriptor
            if pos + 10 > n:
                raise ContainerError(
                    "truncated", "is incomplete: the GIF ends in the middle of a frame."
                )
            start = pos + 1
            fpacked = data[pos + 9]
            pos += 10 + (3 << ((fpacked & 7) + 1) if fpacked & 0x80 else 0)
            pos = skip_blocks(pos + 1)  # + LZW minimum code size
            images += 1
            yield block, start, pos - start
        else:
            raise ContainerError("corrupt", "is a damaged GIF (unknown block).")


# -- structure: what upload validation needs to know before decoding anything ------------------


@dataclass
class Structure:
    width: int
    height: int
    frames: int
    end: int  # offset just past the image's last byte
    idat: list[tuple[int, int]] = field(default_factory=list)  # PNG: (offset, length)
    png_raw_size: int = 0  # PNG: expected size of the decompressed IDAT stream


def structure(data: bytes, fmt: str) -> Structure:
    """Size, frame count and extent of an image of format ``fmt`` (from ``sniff_format``),
    checking its container strictly. Raises ContainerError, or IndexError/struct.error when
    a header is cut short."""
    return _STRUCTURES[fmt](data)


_SOF_MARKERS = frozenset(
    (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
)


def _jpeg_structure(data: bytes, start: int = 0, nested: bool = False) -> Structure:
    width = height = 0
    end = start
    mpf: tuple[int, bytes] | None = None
    for marker, body, length in jpeg_segments(data, start):
        if marker in _SOF_MARKERS and length >= 6:
            height = int.from_bytes(data[body + 1 : body + 3], "big")
            width = int.from_bytes(data[body + 3 : body + 5], "big")
        elif marker == 0xE2 and data[body : body + 4] == b"MPF\x00" and mpf is None:
            mpf = (body + 4, data[body + 4 : body + length])
        elif marker == 0xD9:
            end = body
    if not width or not height:
        raise ContainerError("corrupt", "is a JPEG without image dimensions.")
    if mpf is not None and not nested:
        end = _mpf_images_end(data, start, end, *mpf)
    return Structure(width, height, 1, end)


def _mpf_images_end(data: bytes, start: int, primary_end: int, base: int, mp: bytes) -> int:
    """Multi-Picture files (Ultra HDR gain maps, MPO stereo pairs) carry further JPEGs after
    the first EOI, declared in the MPF index: account for exactly those, each a full JPEG."""
    entries = _parse_mp_entries(mp)
    images = sorted((base + off, size) for off, size in entries[1:] if size > 0)
    if len(images) > 8:
        raise ContainerError("corrupt", "declares too many embedded pictures.")
    cursor = primary_end
    for img_start, size in images:
        gap = data[cursor:img_start]
        if img_start < cursor or len(gap) > MAX_PADDING or any(b not in PADDING_BYTES for b in gap):
            raise ContainerError("corrupt", "has a damaged multi-picture (MPF) index.")
        if img_start + size > len(data):
            raise ContainerError("truncated", "is incomplete: an embedded picture is cut short.")
        sub = _jpeg_structure(data[: img_start + size], img_start, nested=True)
        tail = data[sub.end : img_start + size]
        if len(tail) > MAX_PADDING or any(b not in PADDING_BYTES for b in tail):
            raise ContainerError("polyglot", "has unexpected data inside an embedded picture.")
        cursor = img_start + size
    return cursor


def _parse_mp_entries(mp: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each image in an MPF APP2 index (CIPA DC-007)."""
    if mp[:4] == b"II*\x00":
        e = "<"
    elif mp[:4] == b"MM\x00*":
        e = ">"
    else:
        raise ContainerError("corrupt", "has a damaged multi-picture (MPF) index.")
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


def _png_structure(data: bytes) -> Structure:
    width = height = 0
    frames = 1
    end = 0
    idat: list[tuple[int, int]] = []
    ihdr = b""
    for chunks, (ctype, body, length) in enumerate(png_chunks(data), 1):
        if not png_crc_ok(data, ctype, body, length):
            raise ContainerError("corrupt", "is a damaged PNG (checksum mismatch).")
        if chunks == 1 and (ctype != b"IHDR" or length != 13):
            raise ContainerError("corrupt", "is a damaged PNG (no header).")
        if ctype == b"IHDR":
            ihdr = data[body : body + length]
            width, height = struct.unpack(">II", ihdr[:8])
        elif ctype == b"acTL" and length >= 4:
            frames = max(1, struct.unpack_from(">I", data, body)[0])
        elif ctype == b"IDAT":
            idat.append((body, length))
        elif ctype == b"IEND":
            end = body + length + 4
            break
        if chunks > 50_000:
            raise ContainerError("corrupt", "has too many PNG chunks.")
    if not idat:
        raise ContainerError("corrupt", "is a PNG without image data.")
    return Structure(width, height, frames, end, idat=idat, png_raw_size=_png_raw_size(ihdr))


def _png_raw_size(ihdr: bytes) -> int:
    """Bytes the IDAT stream must inflate to (filter byte + packed pixels per row)."""
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise ContainerError("corrupt", "is a PNG of an unknown colour type.")
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


def _gif_structure(data: bytes) -> Structure:
    width, height = struct.unpack_from("<HH", data, 6)
    frames = 0
    end = 0
    for kind, offset, length in gif_blocks(data):
        frames += kind == 0x2C
        end = offset + length
    return Structure(width, height, frames, end)


def _webp_structure(data: bytes) -> Structure:
    width = height = 0
    frames = 0
    animated = False
    for fourcc, body, size in webp_chunks(data):
        if fourcc == b"VP8X" and size >= 10:
            animated = bool(data[body] & 0x02)
            width = 1 + int.from_bytes(data[body + 4 : body + 7], "little")
            height = 1 + int.from_bytes(data[body + 7 : body + 10], "little")
        elif fourcc == b"VP8 " and size >= 10 and not width:
            if data[body + 3 : body + 6] != b"\x9d\x01\x2a":
                raise ContainerError("corrupt", "is a damaged WebP.")
            w, h = struct.unpack_from("<HH", data, body + 6)
            width, height = w & 0x3FFF, h & 0x3FFF
        elif fourcc == b"VP8L" and size >= 5 and not width:
            if data[body] != 0x2F:
                raise ContainerError("corrupt", "is a damaged WebP.")
            (bits,) = struct.unpack_from("<I", data, body + 1)
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif fourcc == b"ANMF":
            frames += 1
    if not width or not height:
        raise ContainerError("corrupt", "is a WebP without image data.")
    if animated and not frames:
        raise ContainerError("corrupt", "is a damaged animated WebP.")
    return Structure(width, height, max(frames, 1), _riff_end(data))


_STRUCTURES = {
    "JPEG": _jpeg_structure,
    "PNG": _png_structure,
    "GIF": _gif_structure,
    "WEBP": _webp_structure,
}
