"""cara.imaging.render: derivatives, AVIF, squares; nothing from the upload survives."""

import io
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from cara.imaging import containers, render, validate, xmp
from tests.imaging.images import HUMAN, NS, encode, photo

RIGHTS = xmp.Rights(
    creator='Zoë <&"> Artist',
    copyright="© 2025 Zoë. All rights reserved.",
    web_statement="https://cara.example/posts/42?a=1&b=2",
    licence_url=None,
)

PNG = (HUMAN / "skimage_astronaut.png").read_bytes()


# -- builders ---------------------------------------------------------------------------------


def xmp_of(path: Path) -> ET.Element:
    with Image.open(path) as im:
        raw = im.info["xmp"]
    return ET.fromstring(raw if isinstance(raw, bytes) else raw.encode())


def webp_chunks(data: bytes) -> list[bytes]:
    return [fourcc for fourcc, _offset, _size in containers.webp_chunks(data)]


@pytest.fixture(scope="module")
def jpeg_12mp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "12mp.jpg"
    path.write_bytes(encode(photo(4000, 3000), "JPEG", quality=90))
    return path


@pytest.fixture(scope="module")
def gps_jpeg(tmp_path_factory) -> Path:
    """A photo carrying everything that must never reach a derivative."""
    exif = Image.Exif()
    exif[0x010F] = "SECRETMAKE"
    exif[0x0110] = "SECRETMODEL"
    exif[0x0131] = "SECRETSOFTWARE"
    exif.get_ifd(0x8769)[0xA431] = "SERIAL123456789"  # BodySerialNumber
    exif.get_ifd(0x8769)[0xA435] = "LENSSERIAL987"  # LensSerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 40.0)
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/ele'
        b'ments/1.1/"><dc:description>SECRETXMP</dc:description></rdf:Description></rdf:RDF>'
        b"</x:xmpmeta>"
    )
    path = tmp_path_factory.mktemp("gps") / "gps.jpg"
    path.write_bytes(
        encode(photo(1600, 1200, 1), "JPEG", exif=exif, comment=b"SECRETCOMMENT", xmp=packet)
    )
    with Image.open(path) as im:  # the fixture really carries it all
        assert im.getexif().get_ifd(0x8825)[2] == (51.0, 30.0, 12.5)
        assert im.info["comment"] == b"SECRETCOMMENT" and b"SECRETXMP" in im.info["xmp"]
    return path


# -- derivatives -------------------------------------------------------------------------------


def test_no_metadata_from_the_upload_survives(gps_jpeg, tmp_path):
    rendition = render.make_derivatives(gps_jpeg, tmp_path, "g-1", rights=RIGHTS)
    files = rendition.files + render.make_avif(gps_jpeg, tmp_path, "g-1", widths=(320, 640))
    assert {d.format for d in files} >= {"webp", "jpeg"}
    for d in files:
        raw = d.path.read_bytes()
        for secret in (b"SECRET", b"SERIAL123456789", b"LENSSERIAL987"):
            assert secret not in raw, (d.path.name, secret)
        with Image.open(d.path) as im:
            exif = im.getexif()
            assert not exif.get_ifd(0x8825), "GPS"
            assert 0x8825 not in exif and 0x8769 not in exif
            assert 0x010F not in exif and 0x0110 not in exif
            assert "comment" not in im.info and "icc_profile" not in im.info
            assert b"SECRETXMP" not in (im.info.get("xmp") or b"")


def test_camera_fixture_loses_serial_make_and_its_xmp(tmp_path):
    rendition = render.make_derivatives(HUMAN / "c2pars_P1000827.jpg", tmp_path, "p-1")
    for d in rendition.files:
        raw = d.path.read_bytes()
        for secret in (b"XCR1705250548", b"Panasonic", b"DMC-ZS60", b"Lightroom", b"XMP Core"):
            assert secret not in raw, (d.path.name, secret)
        with Image.open(d.path) as im:
            assert "xmp" not in im.info and "icc_profile" not in im.info  # no rights given


def test_widths_and_jpeg_fallbacks(jpeg_12mp, tmp_path):
    r = render.make_derivatives(jpeg_12mp, tmp_path, "big-1")
    assert (r.width, r.height) == (4000, 3000)
    got = [(d.format, d.width, d.height, d.path.name) for d in r.files]
    assert got == [
        ("webp", 320, 240, "big-1-320.webp"),
        ("webp", 640, 480, "big-1-640.webp"),
        ("webp", 960, 720, "big-1-960.webp"),
        ("webp", 1280, 960, "big-1-1280.webp"),
        ("webp", 2000, 1500, "big-1-2000.webp"),  # decoded at half scale (DRAFT_SLACK)
        ("jpeg", 640, 480, "big-1-640.jpg"),
        ("jpeg", 1280, 960, "big-1-1280.jpg"),
    ]
    for d in r.files:
        with Image.open(d.path) as im:
            assert im.size == (d.width, d.height) and im.format == d.format.upper()
        assert d.bytes == d.path.stat().st_size
        assert stat.S_IMODE(d.path.stat().st_mode) == 0o644
    assert r.work_image.mode == "RGB" and r.work_image.size == (640, 480)
    assert r.placeholder_color.startswith("#") and len(r.placeholder_color) == 7
    assert r.placeholder.startswith("data:image/webp;base64,")


def test_exif_orientation_is_applied(tmp_path):
    raw = Image.new("RGB", (640, 400), (128, 128, 128))
    raw.paste((255, 0, 0), (0, 0, 120, 120))  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    src = tmp_path / "rot.jpg"
    src.write_bytes(encode(raw, "JPEG", exif=exif, quality=95))
    r = render.make_derivatives(src, tmp_path / "out", "rot-1")
    assert (r.width, r.height) == (400, 640)
    sizes = [(d.format, d.width, d.height) for d in r.files]
    # 400 px upright is below 640: the 320 rung plus one at the source's own width.
    assert sizes == [("webp", 320, 512), ("webp", 400, 640), ("jpeg", 400, 640)]
    with Image.open(r.files[1].path) as im:
        rgb = im.convert("RGB")
        assert rgb.getpixel((390, 10))[0] > 200 > rgb.getpixel((10, 10))[0]  # now top-right
        assert 0x0112 not in im.getexif()
    assert r.work_image.size == (400, 640)


def test_never_upscaled(tmp_path):
    src = tmp_path / "small.png"
    src.write_bytes(encode(photo(200, 150), "PNG"))
    r = render.make_derivatives(src, tmp_path / "out", "s-1")
    assert [(d.format, d.width, d.height) for d in r.files] == [
        ("webp", 200, 150),
        ("jpeg", 200, 150),
    ]
    src.write_bytes(encode(photo(1200, 900), "PNG"))
    r = render.make_derivatives(src, tmp_path / "out2", "m-1")
    assert max(d.width for d in r.files) == 1200
    assert [d.width for d in r.files if d.format == "webp"] == [320, 640, 960, 1200]


def test_running_twice_gives_identical_files(gps_jpeg, tmp_path):
    first = render.make_derivatives(gps_jpeg, tmp_path / "a", "d-1", rights=RIGHTS)
    before = {d.path.name: d.path.read_bytes() for d in first.files}
    again = render.make_derivatives(gps_jpeg, tmp_path / "a", "d-1", rights=RIGHTS)
    elsewhere = render.make_derivatives(gps_jpeg, tmp_path / "b", "d-1", rights=RIGHTS)
    assert {d.path.name: d.path.read_bytes() for d in again.files} == before
    assert {d.path.name: d.path.read_bytes() for d in elsewhere.files} == before
    assert sorted(os.listdir(tmp_path / "a")) == sorted(before)  # no temp files left


def test_protected_images_are_lossless_webp(tmp_path):
    src = tmp_path / "art.png"
    src.write_bytes(encode(photo(700, 500), "PNG"))
    normal = render.make_derivatives(src, tmp_path / "n", "a-1")
    protected = render.make_derivatives(src, tmp_path / "p", "a-1", protected=True)
    for d in normal.files:
        if d.format == "webp":
            assert b"VP8 " in webp_chunks(d.path.read_bytes())
    webps = [d for d in protected.files if d.format == "webp"]
    assert webps
    for d in webps:
        chunks = webp_chunks(d.path.read_bytes())
        assert b"VP8L" in chunks and b"VP8 " not in chunks, chunks
    assert render.make_avif(src, tmp_path / "p", "a-1", protected=True) == []


def _spy_on_jpeg_decodes(monkeypatch) -> list[tuple[int, int]]:
    """The sizes JPEGs are decoded at from here on (after draft)."""
    decoded: list[tuple[int, int]] = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    return decoded


def test_draft_mode_decodes_only_what_is_needed(jpeg_12mp, monkeypatch, tmp_path):
    im, w, h = render.load_oriented(jpeg_12mp, 1280)
    assert (w, h) == (4000, 3000) and im.size == (2000, 1500)
    assert render.load_oriented(jpeg_12mp, 300)[0].size == (500, 375)
    assert render.load_oriented(jpeg_12mp, 2048)[0].size == (4000, 3000)

    decoded = _spy_on_jpeg_decodes(monkeypatch)
    r = render.make_derivatives(jpeg_12mp, tmp_path, "d-1", widths=(320, 640, 1280))
    assert decoded and max(decoded) == (2000, 1500)  # never the full 4000 x 3000
    assert [d.width for d in r.files if d.format == "webp"] == [320, 640, 1280]


def test_the_top_rung_of_a_jpeg_takes_the_half_scale_decode_when_it_is_close(
    jpeg_12mp, monkeypatch, tmp_path
):
    decoded = _spy_on_jpeg_decodes(monkeypatch)
    r = render.make_derivatives(jpeg_12mp, tmp_path, "t-1")
    assert max(decoded) == (2000, 1500)  # 2000 >= 0.95 x 2048: never the full decode
    assert [d.width for d in r.files if d.format == "webp"][-1] == 2000
    # A PNG has no draft: the 2048 rung stays; so does a JPEG whose half is too far below.
    with Image.open(jpeg_12mp) as im:
        im.resize((3600, 2700)).save(tmp_path / "wide.jpg", quality=85)
        im.resize((2400, 1800)).save(tmp_path / "wide.png")
    for name in ("wide.jpg", "wide.png"):
        got = render.make_derivatives(tmp_path / name, tmp_path / "o", f"w-{name[-3:]}")
        assert [d.width for d in got.files if d.format == "webp"][-1] == 2048, name


def test_draft_scale_is_chosen_on_the_upright_width(jpeg_12mp, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(jpeg_12mp) as im:
        src = tmp_path / "portrait.jpg"
        im.save(src, "JPEG", quality=85, exif=exif)
    im, w, h = render.load_oriented(src, 1280)
    assert (w, h) == (3000, 4000) and im.size == (1500, 2000)
    # 1600 upright needs the full decode: the stored width (4000 // 2) would wrongly allow 1/2.
    assert render.load_oriented(src, 1600)[0].size == (3000, 4000)
    r = render.make_derivatives(src, tmp_path / "o", "p-1", widths=(1280,))
    assert (r.width, r.height) == (3000, 4000)
    assert [(d.width, d.height) for d in r.files if d.format == "webp"] == [(1280, 1707)]


def _check_rights(path: Path, rights: xmp.Rights) -> None:
    root = xmp_of(path)
    desc = root.find(".//rdf:Description", NS)
    assert desc.find("dc:creator/rdf:Seq/rdf:li", NS).text == rights.creator
    assert desc.find("dc:rights/rdf:Alt/rdf:li", NS).text == rights.copyright
    assert desc.find("xmpRights:WebStatement", NS).text == rights.web_statement
    assert desc.find("xmpRights:Marked", NS).text == "True"
    code = xmp.data_mining_code(rights.data_mining)
    assert desc.find("plus:DataMining", NS).text == xmp.PLUS_VOCAB + code


def test_rights_are_embedded_in_webp_and_jpeg(tmp_path):
    src = HUMAN / "pillow_flower2.jpg"
    r = render.make_derivatives(src, tmp_path, "f-1", rights=RIGHTS)
    assert {d.format for d in r.files} == {"webp", "jpeg"}
    for d in r.files:
        _check_rights(d.path, RIGHTS)
        assert b"Zo\xc3\xab &lt;&amp;&quot;&gt; Artist" in d.path.read_bytes()  # escaped
    jpeg = next(d for d in r.files if d.format == "jpeg")
    with Image.open(jpeg.path) as im:
        exif = im.getexif()
        assert exif[0x013B].encode("latin-1").decode("utf-8") == RIGHTS.creator  # Artist
        assert exif[0x8298].encode("latin-1").decode("utf-8") == RIGHTS.copyright


@pytest.mark.skipif(not render.avif_supported(), reason="Pillow built without an AVIF encoder")
def test_avif_derivatives_carry_rights_and_are_stable(tmp_path):
    src = HUMAN / "pillow_flower2.jpg"
    rights = xmp.Rights(
        "Kai", "© Kai", "https://cara.example/posts/7", None, "DMI-PROHIBITED-GENAIMLTRAINING"
    )
    files = render.make_avif(src, tmp_path, "f-1", rights=rights)
    assert [(d.format, d.width, d.path.name) for d in files] == [("avif", 300, "f-1-300.avif")]
    _check_rights(files[0].path, rights)
    first = files[0].path.read_bytes()
    render.make_avif(src, tmp_path, "f-1", rights=rights)
    assert files[0].path.read_bytes() == first


@pytest.mark.skipif(not render.avif_supported(), reason="Pillow built without an AVIF encoder")
def test_avif_only_for_the_widths_phones_pick(jpeg_12mp, tmp_path):
    """AVIF stops at AVIF_MAX_WIDTH (issue 16: the larger rungs were most of its encode time),
    with the names of the WebP rungs of the same widths."""
    webp = render.make_derivatives(jpeg_12mp, tmp_path, "p-1", jpeg_widths=())
    avif = render.make_avif(jpeg_12mp, tmp_path, "p-1")
    assert (
        [d.width for d in avif]
        == [320, 640, 960]
        == [d.width for d in webp.files if d.width <= render.AVIF_MAX_WIDTH]
    )
    assert [d.path.stem for d in avif] == [d.path.stem for d in webp.files[:3]]


def test_colour_profile_is_converted_to_srgb_and_dropped(tmp_path):
    with Image.open(HUMAN / "pillow_xmp_test.jpg") as im:
        adobe_rgb = im.info["icc_profile"]
    colour = (40, 180, 90)
    src = tmp_path / "adobe.png"
    src.write_bytes(encode(Image.new("RGB", (64, 64), colour), "PNG", icc_profile=adobe_rgb))
    r = render.make_derivatives(src, tmp_path / "o", "c-1", jpeg_widths=())
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), colour),
        ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb)),
        ImageCms.createProfile("sRGB"),
    ).getpixel((0, 0))
    assert max(abs(a - b) for a, b in zip(expected, colour, strict=True)) > 15  # really differs
    with Image.open(r.files[0].path) as out:
        assert "icc_profile" not in out.info
        got = out.convert("RGB").getpixel((32, 32))
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 6


def test_transparency_kept_in_webp_flattened_on_white_in_jpeg(tmp_path):
    im = Image.new("RGBA", (100, 100), (0, 0, 255, 255))
    im.paste((0, 0, 0, 0), (0, 0, 50, 100))  # left half fully transparent
    src = tmp_path / "alpha.png"
    src.write_bytes(encode(im, "PNG"))
    r = render.make_derivatives(src, tmp_path / "o", "t-1")
    assert r.has_alpha
    webp, jpeg = r.files
    with Image.open(webp.path) as w:
        assert w.mode == "RGBA" and w.getpixel((10, 50))[3] == 0
    with Image.open(jpeg.path) as j:
        assert min(j.getpixel((10, 50))) > 245  # white, not black
    assert r.work_image.mode == "RGB" and min(r.work_image.getpixel((10, 50))) > 245


def test_png_colour_key_transparency_is_kept(tmp_path):
    im = Image.new("RGB", (64, 64), (255, 0, 0))
    im.paste((0, 0, 255), (32, 0, 64, 64))
    src = tmp_path / "key.png"
    src.write_bytes(encode(im, "PNG", transparency=(255, 0, 0)))  # tRNS: red is transparent
    r = render.make_derivatives(src, tmp_path / "o", "k-1")
    assert r.has_alpha
    with Image.open(r.files[0].path) as w:
        assert w.getpixel((5, 5))[3] == 0 and w.getpixel((60, 5))[3] == 255


def test_damaged_original_raises_media_error(tmp_path):
    src = tmp_path / "cut.png"
    src.write_bytes(PNG[: len(PNG) // 3])
    with pytest.raises(validate.MediaError):
        render.make_derivatives(src, tmp_path / "o", "c-1")


@pytest.mark.parametrize(
    "make",
    [
        lambda: encode(photo(120, 90).convert("CMYK"), "JPEG"),
        lambda: encode(photo(120, 90).convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        lambda: (HUMAN / "skimage_page.png").read_bytes(),  # grey + grey ICC profile
    ],
    ids=["cmyk-jpeg", "palette-gif", "grey-icc-png"],
)
def test_unusual_modes_become_rgb(make, tmp_path):
    src = tmp_path / "src.img"
    src.write_bytes(make())
    r = render.make_derivatives(src, tmp_path / "o", "u-1")
    for d in r.files:
        with Image.open(d.path) as im:
            assert im.mode == "RGB"


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    src = tmp_path / "grey16.png"
    src.write_bytes(encode(Image.fromarray(np.full((60, 60), 40000, np.uint16)), "PNG"))
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    r = render.make_derivatives(src, tmp_path / "o", "g-1")
    assert r.work_image.getpixel((5, 5)) == (156, 156, 156)  # 40000 / 257, not 255


def test_stem_must_be_a_safe_name(tmp_path):
    with pytest.raises(ValueError):
        render.make_derivatives(HUMAN / "pillow_hopper.jpg", tmp_path, "../evil")


def test_refuses_formats_outside_the_allowlist(tmp_path):
    src = tmp_path / "x.tif"
    src.write_bytes(encode(photo(64, 64), "TIFF"))
    with pytest.raises(validate.MediaError):
        render.make_derivatives(src, tmp_path / "o", "x-1")


# -- squares -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, focus, box",
    [
        ((400, 300), (0.5, 0.5), (50, 0, 350, 300)),
        ((400, 300), (0.0, 0.5), (0, 0, 300, 300)),
        ((400, 300), (1.0, 0.0), (100, 0, 400, 300)),
        ((300, 900), (0.5, 0.2), (0, 30, 300, 330)),
        ((300, 900), (0.5, 1.0), (0, 600, 300, 900)),
        ((300, 300), (0.9, 0.1), (0, 0, 300, 300)),
    ],
)
def test_square_crop_box(size, focus, box):
    got = render.square_crop_box(*size, *focus)
    assert got == box
    assert got[2] - got[0] == got[3] - got[1] == min(size)


def test_square_crop_box_rejects_bad_focus():
    with pytest.raises(ValueError):
        render.square_crop_box(100, 100, 1.5, 0.5)
    with pytest.raises(ValueError):
        render.square_crop_box(100, 100, float("nan"), 0.5)
    with pytest.raises(ValueError):
        render.square_crop_box(0, 100)
