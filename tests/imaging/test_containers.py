"""cara.imaging.containers: the sniffer and the segment/chunk walkers, on files Pillow wrote."""

import pytest
from PIL import Image, PngImagePlugin

from cara.imaging import containers
from cara.imaging.containers import ContainerError
from tests.imaging.images import HUMAN, encode, photo

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">walker test</x:xmpmeta>'


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_sniff_format_names_formats_as_pillow_does(fmt):
    data = encode(photo(64, 48), fmt)
    assert containers.sniff_format(data) == fmt
    assert fmt in containers.MIME_TYPES and fmt in containers.ALLOWED_FORMATS


@pytest.mark.parametrize("data", [b"", b"GIF8", encode(photo(64, 48), "TIFF"), b"RIFF1234AVI "])
def test_sniff_format_refuses_everything_else(data):
    assert containers.sniff_format(data) is None


def _payloads(walk, data):
    return [(kind, data[offset : offset + length]) for kind, offset, length in walk]


def test_jpeg_segments_yield_payloads_through_eoi():
    exif = Image.Exif()
    exif[0x0131] = "walker"
    data = encode(photo(64, 48), "JPEG", exif=exif.tobytes(), xmp=XMP)
    segments = list(containers.jpeg_segments(data))
    app1 = [body for marker, body in _payloads(segments, data) if marker == 0xE1]
    assert any(b.startswith(b"Exif\x00\x00") for b in app1)
    assert any(b.startswith(b"http://ns.adobe.com/xap/1.0/\x00") and XMP in b for b in app1)
    markers = [m for m, _, _ in segments]
    assert 0xC0 in markers and markers.index(0xDA) < markers.index(0xD9)
    assert segments[-1] == (0xD9, len(data), 0)  # EOI: offset just past it


def test_png_chunks_yield_payloads_header_first_and_crcs_check():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "walker text")
    data = encode(photo(64, 48), "PNG", pnginfo=info)
    chunks = list(containers.png_chunks(data))
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    assert (b"tEXt", b"parameters\x00walker text") in _payloads(chunks, data)
    assert all(containers.png_crc_ok(data, *chunk) for chunk in chunks)
    damaged = bytearray(data)
    damaged[chunks[0][1]] ^= 1  # one bit of IHDR
    assert not containers.png_crc_ok(bytes(damaged), *chunks[0])


def test_webp_chunks_yield_payloads():
    data = encode(photo(64, 48), "WEBP", xmp=XMP)
    chunks = _payloads(containers.webp_chunks(data), data)
    assert [kind for kind, _ in chunks] == [b"VP8X", b"VP8 ", b"XMP "]
    assert chunks[-1][1] == XMP


def test_gif_blocks_count_frames_and_label_extensions():
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"hi")
    blocks = list(containers.gif_blocks(data))
    assert [kind for kind, _, _ in blocks].count(0x2C) == 3
    comment = next((o, n) for kind, o, n in blocks if kind == 0x21FE)
    assert data[comment[0] : comment[0] + comment[1]] == b"\x02hi\x00"  # one sub-block
    assert blocks[-1] == (0x3B, len(data), 0)  # trailer


@pytest.mark.parametrize(
    "walk, data",
    [
        (containers.jpeg_segments, encode(photo(64, 48), "JPEG", xmp=XMP)),
        (containers.png_chunks, encode(photo(64, 48), "PNG")),
        (containers.webp_chunks, encode(photo(64, 48), "WEBP", xmp=XMP)),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_a_cut_short_chunk_raises_or_with_partial_is_yielded_last(walk, data):
    whole = list(walk(data))
    kind, offset, length = whole[1]  # the file ends halfway through the second chunk
    cut = data[: offset + length // 2]
    seen = []
    with pytest.raises(ContainerError) as err:
        seen.extend(walk(cut))
    assert err.value.code == "truncated"
    assert seen == whole[:1]  # what came before the damage was yielded first
    partial = list(walk(cut, partial=True))
    assert partial == whole[:2]  # declared length: slicing clips it to what is there
    assert cut[offset : offset + length] == data[offset : offset + length // 2]


def test_structure_of_a_multi_picture_jpeg_covers_every_picture():
    pair = [photo(200, 150, 1), photo(200, 150, 2)]
    data = encode(pair[0], "MPO", save_all=True, append_images=pair[1:])
    st = containers.structure(data, "JPEG")
    assert (st.width, st.height, st.frames, st.end) == (200, 150, 1, len(data))
    first_eoi = next(o for m, o, _ in containers.jpeg_segments(data) if m == 0xD9)
    assert first_eoi < len(data)  # the second picture lies after the first EOI


def test_structure_reads_the_header_of_real_files():
    data = (HUMAN / "skimage_astronaut.png").read_bytes()
    st = containers.structure(data, "PNG")
    assert (st.width, st.height, st.frames, st.end) == (512, 512, 1, len(data))
    assert st.idat and st.png_raw_size == 512 * (1 + 512 * 3)
