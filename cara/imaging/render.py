"""Derivatives: decode once, orient, resize down a chain of widths, convert to sRGB, and
encode WebP (and JPEG fallbacks, AVIF, portfolio squares) that carry our rights metadata and
nothing from the upload. Also the placeholders and the work image for hashes and the filter.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, features

from cara.imaging.containers import ALLOWED_FORMATS
from cara.imaging.files import write_atomic
from cara.imaging.validate import MediaError, pillow_guard
from cara.imaging.xmp import Rights, build_xmp, exif_bytes

# Bump whenever derivative bytes would change for the same input (encoder settings, XMP
# layout...): callers fold it into the stem so old and new files never share a name.
PIPELINE_VERSION = 3

# 960 sits between the phone and desktop rungs: a 412 px phone at DPR 1.75 needs ~650 px.
DEFAULT_WIDTHS: tuple[int, ...] = (320, 640, 960, 1280, 2048)
DEFAULT_JPEG_WIDTHS: tuple[int, ...] = (640, 1280)

# Encoder settings, tuned in bench/pipeline.py.
WEBP_QUALITY = 80
WEBP_METHOD = 1  # 0..6: 4 (Pillow's default) costs ~3x the time for ~10% smaller files
# From this width up, method 0: the desktop rungs were most of the WebP time, and method 0
# encodes them ~1.5x faster for ~6 % more bytes (bench/worker.py, docs/performance.md); phones
# take the smaller rungs (or AVIF), where every byte counts.
WEBP_FAST_WIDTH = 1280
WEBP_FAST_METHOD = 0
WEBP_LOSSLESS_METHOD = 0  # lossless effort: higher levels are 4x slower for ~6% smaller files
WEBP_LOSSLESS_QUALITY = 0
JPEG_QUALITY = 82
JPEG_QUALITY_PROTECTED = 95
# AVIF only up to the widths phones pick (a 360 px phone at DPR 2 takes 640 w from a card, a
# 412 px one at DPR 1.75 ~720 w from a post page: the 960 rung): that is where its bytes
# matter, and the larger rungs were 80 % of its encode time. Wider screens get WebP:
# templates/macros/media.html carries the AVIF srcset on with it.
AVIF_MAX_WIDTH = 960
# Speed 9 at quality 55 (was speed 8 at 50): 5-7x less CPU at 320-640 px, which was the
# largest cost of the worker, for an SSIM within 0.011 of the old output (luma, against the
# image encoded: a 12 MP photo +0.025 at 320 and +0.019 at 640 px, a flat painting -0.000 and
# -0.010) and ~25-35 % more bytes, within the 40 KB page-weight budget (bench/worker.py --avif,
# bench/pageweight.py, docs/performance.md). Speed 9 at quality 50 lost 0.02-0.03 on paintings.
AVIF_QUALITY = 55
AVIF_SPEED = 9
# The big first step (decoded image -> largest width) dominates the resize cost: HAMMING is
# 2.3x cheaper than LANCZOS there and within ~49 dB PSNR of it (bench/pipeline.py). Later
# steps start from the previous, already small, width, so LANCZOS costs little.
FIRST_RESAMPLE = Image.Resampling.HAMMING
CHAIN_RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 2.0
SQUARE_SIDE = 480  # portfolio grid cells are at most 240 CSS px: sharp at device pixel ratio 2
WORK_SIZE = 640  # longest side of the image handed back for hashing / the filter
# A width that is not in `widths` is added at the source's own width when the source lies
# at least this much above the largest fitting width (a 1200 px drawing gets 320 ... 960, 1200).
NATIVE_RUNG_RATIO = 1.2
MAX_DIMENSION = 16383  # WebP's hard limit on either side
# A JPEG decodes at half scale (~3x cheaper, decode and first resize) when that still reaches
# this share of the top rung; the top rung then takes the decoded width (a 4000 px photo: 2000
# instead of 2048 px, a 4032 px phone photo: 2016).
DRAFT_SLACK = 0.95


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    with pillow_guard():
        im = _read_original(original, max_pixels)
        im.seek(0)  # animated GIF/WebP (if ever allowed): the first frame
        w, h = im.size
    return (im, h, w) if _orientation(im) >= 5 else (im, w, h)


def _draft_and_orient(im: Image.Image, up_w: int, min_width: int) -> Image.Image:
    """Decode at the smallest JPEG draft scale whose upright width is still >= min_width,
    then apply the EXIF orientation. Draft comes first (it only works before decoding); the
    scale is chosen on the upright width so a sideways-stored portrait is not decoded small."""
    with pillow_guard():
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
    least = max(math.ceil(sizes[-1][0] * DRAFT_SLACK), work[0])
    im = _draft_and_orient(im, up_w, least)
    if im.width < sizes[-1][0]:  # drafted just under the top rung: it takes the decoded width
        sizes = sorted({s for s in sizes if s[0] < im.width} | {im.size})
    icc = im.info.get("icc_profile") or None
    with pillow_guard():
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
            fast = im.width >= WEBP_FAST_WIDTH
            params.update(quality=WEBP_QUALITY, method=WEBP_FAST_METHOD if fast else WEBP_METHOD)
        im.save(buf, "WEBP", **params)
    elif fmt == "jpeg":
        flat = _flatten(im)
        flat.info = {}
        if rights is not None:
            params["exif"] = exif_bytes(rights)
        if protected:
            params.update(quality=JPEG_QUALITY_PROTECTED, subsampling="4:4:4")
        else:
            params.update(quality=JPEG_QUALITY)
        # Baseline + optimized Huffman: progressive costs 2.3x the encode time for ~4%, and
        # the fallback is rarely served (feed readers, link previews, old browsers).
        flat.save(buf, "JPEG", optimize=True, **params)
    elif fmt == "avif":
        params.update(quality=AVIF_QUALITY, speed=AVIF_SPEED, max_threads=1)
        im.save(buf, "AVIF", **params)
    else:  # pragma: no cover - internal
        raise ValueError(fmt)
    return buf.getvalue()


def _write_derivative(
    out_dir: Path, stem: str, im: Image.Image, fmt: str, data: bytes
) -> Derivative:
    path = out_dir / derivative_name(stem, im.width, fmt)
    write_atomic(path, data, mode=0o644, fsync=False)  # regenerable: no fsync cost
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
    """AVIF derivatives at the widths of make_derivatives up to AVIF_MAX_WIDTH, with the same
    names (a lower-priority job). Returns [] when AVIF is unavailable or the image is protected
    (lossy AVIF would wash out a Glaze/Nightshade cloak; lossless WebP is served instead)."""
    _check_stem(stem)
    if protected or not avif_supported():
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Only the small widths: the JPEG is then decoded at a fraction of its size (draft).
    widths = [w for w in widths if w <= AVIF_MAX_WIDTH] or [min(widths)]
    prep = _prepare_or_raise(Path(original), widths, max_pixels)
    xmp = build_xmp(rights) if rights is not None else None
    files = []
    for w, _h in prep.sizes:
        im = prep.images[w]
        data = _encode(im, "avif", protected=False, rights=rights, xmp=xmp)
        files.append(_write_derivative(out_dir, stem, im, "avif", data))
    return files


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


@contextmanager
def truncated_ok() -> Iterator[None]:
    """Let Pillow decode what a cut-short file still holds (e.g. a truncated UltraHDR JPEG).

    Pillow's switch is process-wide, so this is for the single-threaded admin commands that
    only hash or judge files; derivatives are never made from a partial decode.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
