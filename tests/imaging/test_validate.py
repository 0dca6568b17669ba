"""cara.imaging.validate: what inspect_upload accepts and refuses, and how it says so."""

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from cara.imaging import containers, validate
from tests.imaging.images import HUMAN, encode, photo


def png_with_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR claims width x height (CRC fixed up)."""
    data = bytearray(encode(Image.new("L", (40, 40)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A real 90-megapixel 1-bit PNG: ~11 KB on disk, 90 MB once decoded."""
    return encode(Image.new("1", (10_000, 9_000)), "PNG")


# -- inspect_upload: accepted ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt, size",
    [
        ("pillow_hopper.jpg", "JPEG", (128, 128)),
        ("c2pars_P1000827.jpg", "JPEG", (1024, 759)),
        ("skimage_astronaut.png", "PNG", (512, 512)),
        ("imwm_peppers.png", "PNG", (600, 600)),
    ],
)
def test_inspect_accepts_real_images(name, fmt, size):
    data = (HUMAN / name).read_bytes()
    info = validate.inspect_upload(data, name, validate.Limits())
    assert (info.format, (info.width, info.height), info.frames) == (fmt, size, 1)
    assert info.mime == containers.MIME_TYPES[fmt]
    assert len(info.sha256) == 64


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "PNG"])
def test_inspect_accepts_built_images_and_ignores_extension(fmt):
    data = encode(photo(300, 200), fmt)
    info = validate.inspect_upload(data, "picture.jpg", validate.Limits())  # wrong extension: fine
    assert (info.format, info.width, info.height) == (fmt, 300, 200)


def test_inspect_accepts_a_few_bytes_of_padding():
    data = (HUMAN / "pillow_hopper.jpg").read_bytes()
    assert validate.inspect_upload(data + b"\x00" * 16, "pad.jpg").format == "JPEG"


def test_inspect_accepts_gif_missing_only_its_trailer_byte():
    data = encode(photo(200, 200), "GIF")
    assert data[-1:] == b";"
    assert validate.inspect_upload(data[:-1], "old.gif").format == "GIF"


def test_inspect_accepts_multi_picture_jpeg_but_not_data_after_it():
    # MPF (MPO stereo pairs; Ultra HDR gain maps) puts declared JPEGs after the first EOI.
    first, second = photo(200, 150, 1), photo(200, 150, 2)
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert validate.inspect_upload(data, "stereo.jpg").format == "JPEG"
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(data + b"<script>alert(1)</script>", "stereo.jpg")
    assert err.value.code == "polyglot"


# -- inspect_upload: refused ----------------------------------------------------------------


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.txt", "hello " * 100)
    return buf.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def _short_idat_png() -> bytes:
    """Every chunk well-formed (CRCs fixed), but the compressed pixel stream stops halfway."""
    data = encode(Image.new("RGB", (300, 200), "red"), "PNG")
    pos = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[pos : pos + 4])
    short = data[pos + 8 : pos + 8 + length // 2]
    chunk = struct.pack(">I", len(short)) + b"IDAT" + short
    chunk += struct.pack(">I", zlib.crc32(b"IDAT" + short))
    return data[:pos] + chunk + data[pos + 12 + length :]


def _bad_crc_png() -> bytes:
    data = bytearray((HUMAN / "skimage_coins.png").read_bytes())
    data[200] ^= 0xFF  # inside the first IDAT
    return bytes(data)


JPEG = (HUMAN / "c2pars_P1000827.jpg").read_bytes()
PNG = (HUMAN / "skimage_astronaut.png").read_bytes()

BAD_INPUTS = {
    "empty": (lambda: b"", "empty"),
    "truncated-jpeg": (lambda: JPEG[: len(JPEG) // 2], "truncated"),
    "truncated-jpeg-no-eoi": (lambda: JPEG[:-2], "truncated"),
    "truncated-png": (lambda: PNG[: len(PNG) // 2], "truncated"),
    "png-without-iend": (lambda: PNG[:-12], "truncated"),
    "png-bad-crc": (_bad_crc_png, "corrupt"),
    "png-short-pixel-stream": (_short_idat_png, "truncated"),
    "jpeg+html": (
        lambda: JPEG + b"<html><script>alert(document.cookie)</script></html>",
        "polyglot",
    ),
    "jpeg+zip": (lambda: JPEG + _zip_bytes(), "polyglot"),
    "png+script": (lambda: PNG + b"<script>alert(1)</script>", "polyglot"),
    "motion-photo": (lambda: JPEG + b"\x00\x00\x00\x18ftypmp42" + bytes(4000), "polyglot"),
    "svg-renamed-png": (
        lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "type",
    ),
    "tiff": (lambda: encode(photo(64, 64), "TIFF"), "type"),
    "pdf": (lambda: encode(photo(64, 64), "PDF"), "type"),
    "heic": (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "type"),
    "html": (lambda: b"<!DOCTYPE html><html><body>hi</body></html>", "type"),
    "huge-dimensions": (lambda: png_with_size(100_000, 100_000), "dimensions"),
    "too-small": (lambda: encode(Image.new("RGB", (20, 20), "red"), "PNG"), "too_small"),
    "thin-strip": (lambda: encode(Image.new("RGB", (400, 10), "red"), "PNG"), "too_small"),
    "animated-gif": (lambda: _animated("GIF"), "animated"),
    "animated-webp": (lambda: _animated("WEBP"), "animated"),
    "truncated-webp": (lambda: encode(photo(200, 200), "WEBP")[:-100], "truncated"),
    "truncated-gif": (lambda: encode(photo(200, 200), "GIF")[:-300], "truncated"),
    "gif-without-frames": (lambda: encode(photo(200, 200), "GIF")[:40], "truncated"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_inspect_refuses_bad_input_naming_the_file(case):
    build, code = BAD_INPUTS[case]
    filename = f"uploads/My Drawing {case}.png"
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(build(), filename, validate.Limits())
    assert err.value.code == code, str(err.value)
    message = str(err.value)
    assert f"My Drawing {case}.png" in message  # the file's name, without the path
    assert "uploads/" not in message


def test_refusal_says_what_the_file_is():
    with pytest.raises(validate.UploadError, match="SVG"):
        validate.inspect_upload(BAD_INPUTS["svg-renamed-png"][0](), "a.png")
    with pytest.raises(validate.UploadError, match="HEIC"):
        validate.inspect_upload(BAD_INPUTS["heic"][0](), "IMG_0001.png")
    with pytest.raises(validate.UploadError, match="motion photo"):
        validate.inspect_upload(BAD_INPUTS["motion-photo"][0](), "PXL_1.MP.jpg")
    with pytest.raises(validate.UploadError, match="ZIP"):
        validate.inspect_upload(BAD_INPUTS["jpeg+zip"][0](), "a.jpg")


def test_file_over_max_bytes_is_refused():
    data = (HUMAN / "pillow_hopper.jpg").read_bytes()
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(data, "hopper.jpg", validate.Limits(max_bytes=1024))
    assert err.value.code == "too_large" and "hopper.jpg" in str(err.value)


def test_pixel_cap_is_read_from_the_header():
    # 9000 x 9000 fits max_side but not 50 MP; the file is ~100 bytes: nothing was decoded.
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(png_with_size(9000, 9000), "wide.png", validate.Limits())
    assert err.value.code == "too_many_pixels"


def test_decompression_bomb_is_refused(bomb_png):
    assert len(bomb_png) < 50_000
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(bomb_png, "bomb.png", validate.Limits())
    assert err.value.code == "too_many_pixels"
    # With our caps lifted, Pillow's own DecompressionBombWarning must still end as a refusal
    # (not a warning: pytest runs with filterwarnings=error, so a leak would fail here).
    lenient = validate.Limits(max_pixels=10**10, max_side=10**6)
    with pytest.raises(validate.UploadError) as err:
        validate.inspect_upload(bomb_png, "bomb.png", lenient)
    assert err.value.code == "bomb" and "bomb.png" in str(err.value)


def test_animation_can_be_allowed_by_the_frame_cap():
    info = validate.inspect_upload(_animated("GIF"), "loop.gif", validate.Limits(max_frames=10))
    assert info.frames == 3
