"""Provenance signals on the real fixture files and on images built here with Pillow."""

from __future__ import annotations

import gzip
import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from cara.aifilter import provenance
from cara.aifilter.analyze import analyze
from cara.aifilter.provenance import provenance_signals, read_metadata, stealth_signal
from cara.aifilter.signals import Signal, decide
from cara.imaging.containers import sniff_format
from tests.support import AI_FILTER_FIXTURES, fixture_manifest

ROWS = fixture_manifest()

# MANIFEST.csv "signal" column -> the signal names that must report it.
EXPECTED_NAMES = {
    "c2pa": {"c2pa"},
    "c2pa+iptc-xmp": {"c2pa", "xmp-digital-source-type"},
    "png-params": {"png-text"},
    "exif": {"exif"},
    "stealth-pnginfo(alpha-LSB)": {"stealth-pnginfo"},
}

A1111 = (
    "a watercolour fox\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: abc123"
)


def _rows(label: str, with_signal: bool | None = None) -> list[dict[str, str]]:
    rows = [r for r in ROWS if r["label"] == label]
    if with_signal is not None:
        rows = [r for r in rows if (r["signal"] != "none") == with_signal]
    return rows


def _read(row: dict[str, str]) -> bytes:
    return (AI_FILTER_FIXTURES / row["file"]).read_bytes()


def _ai(signals: list[Signal]) -> list[Signal]:
    return [s for s in signals if s.verdict == "ai"]


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["file"] for r in rows]


def test_fixture_manifest_is_complete() -> None:
    # Every file on disk is described, so the parametrized tests below cover all of them.
    on_disk = {
        str(p.relative_to(AI_FILTER_FIXTURES))
        for p in AI_FILTER_FIXTURES.glob("*/*")
        if p.is_file()
    }
    assert on_disk == {r["file"] for r in ROWS}
    assert {r["signal"] for r in _rows("ai", True)} <= set(EXPECTED_NAMES)


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("row", _rows("ai", True), ids=_ids(_rows("ai", True)))
def test_ai_fixture_with_metadata_is_held(row: dict[str, str]) -> None:
    signals, verdict = analyze(_read(row))
    ai = _ai(signals)
    assert ai and all(s.definitive for s in ai), signals
    assert EXPECTED_NAMES[row["signal"]] <= {s.name for s in ai}
    assert verdict.decision == "hold"
    assert set(verdict.reasons) == set(ai)
    assert all(s.evidence and len(s.evidence) < 300 for s in ai)


@pytest.mark.parametrize("row", _rows("ai", False), ids=_ids(_rows("ai", False)))
def test_pixels_only_ai_fixture_has_no_provenance(row: dict[str, str]) -> None:
    # These carry no metadata at all: they exist for the hash index and the classifier,
    # and provenance can promise nothing about them.
    signals = provenance_signals(_read(row))
    assert signals == []
    assert decide(signals).decision == "publish"


@pytest.mark.parametrize("row", _rows("human"), ids=_ids(_rows("human")))
def test_human_fixture_is_published(row: dict[str, str]) -> None:
    signals, verdict = analyze(_read(row))
    assert _ai(signals) == []
    assert verdict.decision == "publish"
    assert verdict.reasons == ()


C2PA_HUMAN = [r for r in _rows("human") if r["signal"].startswith("c2pa")]


@pytest.mark.parametrize("row", C2PA_HUMAN, ids=_ids(C2PA_HUMAN))
def test_c2pa_without_ai_claim_is_read_not_skipped(row: dict[str, str]) -> None:
    # The trap files publish because their claims are read and found harmless, not because
    # the manifest went unread.
    (c2pa,) = [s for s in provenance_signals(_read(row)) if s.name == "c2pa"]
    assert c2pa.verdict == "unknown" and not c2pa.definitive
    if "algorithmicMedia" in row["signal"]:
        assert "algorithmicMedia" in c2pa.evidence
        assert "trained" not in c2pa.evidence.lower()
    assert "signature: untrusted" in c2pa.evidence


def _fixture(name: str) -> bytes:
    return (AI_FILTER_FIXTURES / name).read_bytes()


def test_c2pa_evidence_names_generator_claim_and_trust() -> None:
    (sig,) = [s for s in provenance_signals(_fixture("ai/c2pars_cai.jpg")) if s.name == "c2pa"]
    assert '"Adobe Firefly"' in sig.evidence
    assert "trainedAlgorithmicMedia" in sig.evidence
    assert "signature: untrusted" in sig.evidence


def test_c2pa_active_manifest_composite_claim_is_reported() -> None:
    # ocsp.jpg: Photoshop edited a Firefly image; the active manifest says composite.
    (sig,) = [s for s in provenance_signals(_fixture("ai/c2pars_ocsp.jpg")) if s.name == "c2pa"]
    assert sig.verdict == "ai"
    assert "compositeWithTrainedAlgorithmicMedia" in sig.evidence
    assert "Photoshop" in sig.evidence


def test_c2pa_claim_nested_in_action_parameters_is_found() -> None:
    # Firefly (Gemini) puts the source type in parameters["com.adobe.digitalSourceType"].
    data = _fixture("ai/c2pars_firefly.png")
    assert provenance.xmp_signal(read_metadata(data)) is not None
    sig = provenance.c2pa_signal(data)
    assert sig is not None and sig.verdict == "ai"


def test_c2pa_invalid_signature_still_counts_as_claim() -> None:
    data = bytearray(_fixture("ai/c2pars_cai.jpg"))
    start_of_scan = data.find(b"\xff\xda")
    data[start_of_scan + 5000] ^= 0xFF  # pixels changed after signing: hash mismatch
    sig = provenance.c2pa_signal(bytes(data))
    assert sig is not None and sig.verdict == "ai" and sig.definitive
    assert "signature: invalid" in sig.evidence


def test_c2pa_reader_not_called_without_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    import c2pa

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("native reader called")

    monkeypatch.setattr(c2pa.Reader, "try_create", boom)
    assert provenance.c2pa_signal(_fixture("human/pillow_hopper.jpg")) is None


def test_c2pa_remote_manifest_is_not_fetched() -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/"'
        b' dcterms:provenance="https://example.invalid/manifest.c2pa"/></rdf:RDF></x:xmpmeta>'
    )
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", xmp=xmp)
    sig = provenance.c2pa_signal(buf.getvalue())
    assert sig is not None and sig.verdict == "unknown" and "not fetched" in sig.evidence


def test_c2pa_unreadable_manifest_is_unknown_not_error() -> None:
    data = bytearray(_fixture("ai/c2pars_cai.jpg"))
    jumbf = data.find(b"jumb")
    data[jumbf : jumbf + 64] = bytes(64)  # wreck the manifest store's box headers
    signals = provenance_signals(bytes(data))
    assert [s.verdict for s in signals if s.name == "c2pa"] in ([], ["unknown"])


def test_c2pa_reading_is_thread_safe() -> None:
    # The in-process job runner reads uploads from several threads at once.
    from concurrent.futures import ThreadPoolExecutor

    files = [_read(r) for r in ROWS if r["signal"].startswith("c2pa")] * 3
    expected = [provenance_signals(d) for d in files]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(provenance_signals, files)) == expected


# --------------------------------------------------------------------------- PNG text


def _png(text: dict[str, str] | None = None, mode: str = "RGB", **save: object) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.new(mode, (16, 16), "teal").save(buf, "PNG", pnginfo=info, **save)
    return buf.getvalue()


def test_png_parameters_chunk_is_flagged() -> None:
    signals = provenance_signals(_png({"parameters": A1111}))
    (sig,) = _ai(signals)
    assert sig.name == "png-text" and sig.definitive
    assert '"parameters"' in sig.evidence and "AUTOMATIC1111" in sig.evidence
    assert decide(signals).decision == "hold"


def test_png_software_gimp_is_not_flagged() -> None:
    signals = provenance_signals(_png({"Software": "GIMP 2.10.36", "Comment": "Created with GIMP"}))
    assert signals == []


@pytest.mark.parametrize(
    "text",
    [
        {"parameters": "brush size 12, canvas 3000x2000, 40 layers"},
        {"Description": "Steps: the three stages of my inking process"},
        {"Comment": '{"layers": 12, "brush": "G-pen"}'},
        {"prompt": "draw a cat every day"},
        {"Software": "Adobe Photoshop 25.0", "Author": "A. Human"},
        {"Software": "Krita 5.2", "Title": "Fox study"},
    ],
)
def test_ordinary_png_text_is_not_flagged(text: dict[str, str]) -> None:
    assert provenance_signals(_png(text)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"prompt": '{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}'}, "ComfyUI"),
        ({"workflow": '{"nodes": [{"id": 1, "type": "KSampler"}], "links": []}'}, "ComfyUI"),
        ({"Software": "NovelAI"}, "NovelAI"),
        ({"Comment": '{"steps": 28, "sampler": "k_euler", "seed": 7, "uc": "lowres"}'}, "settings"),
        ({"sd-metadata": '{"model": "stable diffusion"}'}, "InvokeAI"),
        ({"Description": "a cat --v 6 Job ID: 0a1b2c3d-1111-2222-3333-444455556666"}, "Midjourney"),
    ],
)
def test_generator_png_text_is_flagged(text: dict[str, str], expected: str) -> None:
    (sig,) = _ai(provenance_signals(_png(text)))
    assert sig.name == "png-text" and expected in sig.evidence


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _insert_before_iend(png: bytes, chunk: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def test_png_text_after_image_data_is_found() -> None:
    data = _insert_before_iend(_png(), _chunk(b"tEXt", b"parameters\x00" + A1111.encode()))
    assert data.index(b"IDAT") < data.index(b"tEXt")
    assert [s.name for s in _ai(provenance_signals(data))] == ["png-text"]


def test_png_compressed_text_chunks_are_read() -> None:
    ztxt = _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(A1111.encode()))
    itxt = _chunk(
        b"iTXt", b"prompt\x00\x01\x00\x00\x00" + zlib.compress(b'{"1": {"class_type": "X"}}')
    )
    for chunk in (ztxt, itxt):
        assert [s.name for s in _ai(provenance_signals(_insert_before_iend(_png(), chunk)))] == [
            "png-text"
        ]


def test_png_text_bomb_is_bounded() -> None:
    bomb = _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"x" * 50_000_000, 9))
    meta = read_metadata(_insert_before_iend(_png(), bomb))
    (key, value), *_ = meta.texts
    assert key == "parameters" and len(value) <= 2 * 1024 * 1024


# --------------------------------------------------------------------------- EXIF


def _jpeg(exif: Image.Exif | None = None, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "olive").save(
        buf, "JPEG", exif=exif if exif is not None else Image.Exif(), **save
    )
    return buf.getvalue()


def _exif(**tags: object) -> Image.Exif:
    exif = Image.Exif()
    for name, value in tags.items():
        if name == "UserComment":
            exif.get_ifd(0x8769)[0x9286] = value
        else:
            exif[{"Software": 0x0131, "Make": 0x010F, "Model": 0x0110}[name]] = value
    return exif


@pytest.mark.parametrize("software", ["NovelAI", "Midjourney", "DALL-E 3", "Adobe Firefly"])
def test_exif_software_naming_a_generator_is_flagged(software: str) -> None:
    (sig,) = _ai(provenance_signals(_jpeg(_exif(Software=software))))
    assert sig.name == "exif" and software in sig.evidence


@pytest.mark.parametrize(
    "software",
    ["Adobe Photoshop 25.0 (Windows)", "GIMP 2.10.14", "Adobe Lightroom 5.3", "Procreate", ""],
)
def test_exif_software_of_editors_is_not_flagged(software: str) -> None:
    assert provenance_signals(_jpeg(_exif(Software=software, Make="Canon"))) == []


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_exif_user_comment_with_parameters_is_flagged(encoding: str) -> None:
    comment = b"UNICODE\x00" + A1111.encode(encoding)
    (sig,) = _ai(provenance_signals(_jpeg(_exif(UserComment=comment))))
    assert sig.name == "exif" and "UserComment" in sig.evidence


def test_exif_user_comment_of_a_photo_is_not_flagged() -> None:
    comment = b"ASCII\x00\x00\x00Sunset over the harbour, tripod, 30 s exposure"
    assert provenance_signals(_jpeg(_exif(UserComment=comment))) == []


def test_comfyui_workflow_in_webp_exif_is_flagged() -> None:
    exif = _exif(
        Make='workflow:{"nodes": [{"id": 3, "type": "KSampler"}], "links": [[1, 2]]}',
        Model='prompt:{"3": {"class_type": "KSampler", "inputs": {}}}',
    )
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "WEBP", exif=exif)
    (sig,) = _ai(provenance_signals(buf.getvalue()))
    assert sig.name == "exif" and "ComfyUI workflow" in sig.evidence


def test_png_exif_chunk_is_read() -> None:
    data = _png(exif=_exif(Software="NovelAI"))
    assert [s.name for s in _ai(provenance_signals(data))] == ["exif"]


# --------------------------------------------------------------------------- XMP


def _xmp(source_type: str, form: str = "attribute") -> bytes:
    uri = f"http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"
    ns = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    if form == "attribute":
        desc = f'<rdf:Description rdf:about="" {ns} Iptc4xmpExt:DigitalSourceType="{uri}"/>'
    elif form == "resource":
        desc = (
            f'<rdf:Description rdf:about="" {ns}>'
            f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/></rdf:Description>'
        )
    else:
        desc = (
            f'<rdf:Description rdf:about="" {ns}>'
            f"<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>"
            "</rdf:Description>"
        )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{desc}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _with_xmp(fmt: str, xmp: bytes) -> bytes:
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
        return buf.getvalue()
    if fmt == "gif":
        buf = io.BytesIO()
        Image.new("P", (8, 8)).save(buf, "GIF")
        trailer = bytes([1, *range(255, -1, -1), 0])  # the XMP spec's "magic trailer"
        return buf.getvalue()[:-1] + b"!\xffXMP DataXMP" + xmp + trailer + b";"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, fmt.upper(), xmp=xmp)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
@pytest.mark.parametrize("form", ["attribute", "resource", "element"])
def test_xmp_trained_algorithmic_media_is_flagged(fmt: str, form: str) -> None:
    for source_type in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"):
        signals = provenance_signals(_with_xmp(fmt, _xmp(source_type, form)))
        (sig,) = _ai(signals)
        assert sig.name == "xmp-digital-source-type" and sig.definitive
        assert source_type in sig.evidence


@pytest.mark.parametrize(
    "source_type", ["algorithmicMedia", "digitalCapture", "compositeSynthetic", "minorHumanEdits"]
)
def test_xmp_other_source_types_are_not_flagged(source_type: str) -> None:
    for fmt in ("jpeg", "png"):
        assert provenance_signals(_with_xmp(fmt, _xmp(source_type))) == []


# --------------------------------------------------------------------------- stealth pnginfo


def _stealth_bits(text: str, channel: str, compressed: bool) -> list[int]:
    kind = ("png" if channel == "alpha" else "rgb") + ("comp" if compressed else "info")
    payload = gzip.compress(text.encode()) if compressed else text.encode()
    data = f"stealth_{kind}".encode() + struct.pack(">I", len(payload) * 8) + payload
    return [byte >> (7 - i) & 1 for byte in data for i in range(8)]


def _embed(img: Image.Image, text: str, channel: str, compressed: bool) -> Image.Image:
    """Write like the A1111 extension: x outer, y inner, MSB first; one bit per alpha
    value, or one per R, G, B value in turn."""
    img = img.copy()
    px = img.load()
    bits = iter(_stealth_bits(text, channel, compressed))
    for x in range(img.width):
        for y in range(img.height):
            values = list(px[x, y])
            targets = [3] if channel == "alpha" else [0, 1, 2]
            for c in targets:
                bit = next(bits, None)
                if bit is None:
                    px[x, y] = tuple(values)
                    return img
                values[c] = (values[c] & ~1) | bit
            px[x, y] = tuple(values)
    raise ValueError("image too small for the payload")


def _noise(mode: str, size: tuple[int, int], seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode)
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    if mode == "RGBA":
        arr[:, :, 3] = rng.integers(250, 256, (size[1], size[0]))
    return Image.fromarray(arr, mode)


def _encode(img: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def _read_stealth_reference(img: Image.Image) -> bytes:
    """Independent slow reader (the extension's loop) used to check the test writer."""
    px = img.load()
    bits = [px[x, y][3] & 1 for x in range(img.width) for y in range(img.height)]
    return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits) - 7, 8))


def test_stealth_fixture_matches_the_reference_bit_order() -> None:
    # The fixture was written by the real extension: our writer's order must read it.
    with Image.open(AI_FILTER_FIXTURES / "ai/sdparsers_a1111_stealth.png") as img:
        raw = _read_stealth_reference(img)
    assert raw.startswith(b"stealth_pngcomp")
    length = struct.unpack(">I", raw[15:19])[0] // 8
    assert b"Steps:" in gzip.decompress(raw[19 : 19 + length])


@pytest.mark.parametrize(
    ("mode", "channel", "compressed", "size"),
    [
        ("RGBA", "alpha", True, (40, 150)),  # tall: first-column shortcut
        ("RGBA", "alpha", False, (150, 60)),  # short: full decode
        ("RGB", "rgb", False, (30, 64)),
        ("RGBA", "rgb", True, (64, 200)),
    ],
)
def test_stealth_pnginfo_is_flagged(
    mode: str, channel: str, compressed: bool, size: tuple[int, int]
) -> None:
    img = _embed(_noise(mode, size), A1111, channel, compressed)
    (sig,) = _ai(provenance_signals(_encode(img)))
    assert sig.name == "stealth-pnginfo" and sig.definitive
    assert "AUTOMATIC1111" in sig.evidence
    assert ("alpha channel" if channel == "alpha" else "colour channels") in sig.evidence


def test_stealth_in_lossless_webp_is_flagged() -> None:
    img = _embed(_noise("RGBA", (64, 64)), A1111, "alpha", True)
    (sig,) = _ai(provenance_signals(_encode(img, "WEBP", lossless=True, exact=True)))
    assert sig.name == "stealth-pnginfo"


@pytest.mark.parametrize("mode", ["RGBA", "RGB"])
def test_noise_in_low_bits_is_not_stealth(mode: str) -> None:
    assert provenance_signals(_encode(_noise(mode, (300, 300), seed=7))) == []


def test_tall_png_without_signature_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(_noise("RGBA", (500, 400), seed=3))

    def no_decode(_: bytes) -> None:
        raise AssertionError("decoded every pixel for the signature check")

    monkeypatch.setattr(provenance, "_decode_pixels", no_decode)
    assert stealth_signal(data, read_metadata(data)) is None


def _filtered_png(arr: np.ndarray, filters: list[int]) -> bytes:
    """An 8-bit RGB(A) PNG written by hand with the given filter type per row."""
    h, w, bpp = arr.shape
    rows = arr.reshape(h, w * bpp).astype(int)
    out = bytearray()
    for y in range(h):
        line, above = rows[y], rows[y - 1] if y else np.zeros(w * bpp, int)
        ftype = filters[y % len(filters)]
        enc = []
        for i in range(w * bpp):
            a = line[i - bpp] if i >= bpp else 0
            b = above[i]
            c = above[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
            pred = [0, a, b, (a + b) // 2, paeth][ftype]
            enc.append((line[i] - pred) & 0xFF)
        out += bytes([ftype, *enc])
    color = 6 if bpp == 4 else 2
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(out))[:7])  # split over two IDAT chunks
        + _chunk(b"IDAT", zlib.compress(bytes(out))[7:])
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("bpp", [3, 4])
def test_first_column_shortcut_undoes_every_png_filter(bpp: int) -> None:
    arr = np.random.default_rng(5).integers(0, 256, (130, 3, bpp), dtype=np.uint8)
    data = _filtered_png(arr, [0, 1, 2, 3, 4, 4, 3, 2])
    with Image.open(io.BytesIO(data)) as img:  # our hand-written PNG is valid
        assert np.array_equal(np.asarray(img), arr)
    meta = read_metadata(data)
    assert meta.png is not None
    column = provenance._png_first_column(data, meta.png)
    assert column is not None
    assert np.array_equal(column, arr[: len(column), 0, :])


# --------------------------------------------------------------------------- robustness


def test_garbage_gives_no_signals() -> None:
    rng = random.Random(0)
    for data in [b"", b"\x00", b"garbage", bytes(rng.randrange(256) for _ in range(5000))]:
        assert provenance_signals(data) == []
    for magic in (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\xff\xff\xff\xffWEBP", b"GIF89a"):
        assert provenance_signals(magic + bytes(rng.randrange(256) for _ in range(3000))) == []


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_truncated_and_corrupted_files_never_raise(row: dict[str, str]) -> None:
    data = _read(row)
    n = len(data)
    for cut in sorted({1, 8, 16, 33, 100, 1000, n // 3, n // 2, n - 1}):
        signals = provenance_signals(data[:cut])
        assert all(isinstance(s, Signal) for s in signals)
        decide(signals)
    rng = random.Random(row["file"])
    for _ in range(3):
        damaged = bytearray(data)
        for _ in range(20):
            damaged[rng.randrange(8, n)] = rng.randrange(256)
        assert all(isinstance(s, Signal) for s in provenance_signals(bytes(damaged)))


def test_truncated_png_keeps_what_was_readable() -> None:
    data = _fixture("ai/sdparsers_a1111_cropped.png")
    cut = data.index(b"IDAT")  # the text chunk comes first and survives
    assert [s.name for s in _ai(provenance_signals(data[:cut]))] == ["png-text"]


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_truncated_file_keeps_a_cut_xmp_packet(fmt: str) -> None:
    data = _with_xmp(fmt, _xmp("trainedAlgorithmicMedia"))
    cut = data.index(b"</rdf:RDF>")  # the claim is read, the packet is cut short
    assert [s.name for s in _ai(provenance_signals(data[:cut]))] == ["xmp-digital-source-type"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_formats_are_named_as_cara_imaging_names_them(fmt: str) -> None:
    data = _encode(Image.new("RGB", (8, 8)), fmt)
    assert read_metadata(data).format == sniff_format(data) == fmt
