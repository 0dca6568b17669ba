"""cara.aifilter.hashindex: near-duplicate matching on real images, the index, hash-list files.

No Flask app. bench/hashmatch.py runs the full transformation matrix; this keeps a fast subset.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageEnhance, ImageOps

from cara.aifilter import features
from cara.aifilter import hashindex as hx
from tests.support import AI_FILTER_FIXTURES, fixture_manifest

# Typical pictures from both directories (photos, renders, paintings, a 128 px JPEG, an RGBA
# PNG, a camera JPEG with EXIF).
KNOWN = [
    "ai/comfy_flux_dev_example.png",
    "ai/compvis_sd_txt2img_000002025.png",
    "ai/c2pars_firefly.png",
    "ai/comfy_lora.png",
    "human/skimage_astronaut.png",
    "human/skimage_coffee.png",
    "human/pillow_hopper.jpg",
    "human/imwm_peppers.png",
]
# Fixture files that show the same picture (c2pars_CA.jpg is IMG_0003.jpg re-encoded with a
# C2PA manifest): a match between them is correct, not a false match.
SAME_PICTURE = [{"human/c2pars_CA.jpg", "human/c2pars_IMG_0003.jpg"}]


def load(name: str) -> Image.Image:
    """A fixture as the app hashes it: decoded, EXIF-transposed, RGB, a <= 1024 px derivative."""
    with Image.open(AI_FILTER_FIXTURES / name) as im:
        im.draft("RGB", (1024, 1024))  # JPEG: decode at reduced scale, much faster
        img = ImageOps.exif_transpose(im).convert("RGB")
    img.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    return img


def picture(name: str) -> str:
    """The name standing for every fixture file that shows the same picture."""
    for group in SAME_PICTURE:
        if name in group:
            return min(group)
    return name


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    return {name: load(name) for name in KNOWN}


@pytest.fixture(scope="module")
def variants(images) -> dict[str, list[tuple[str, hx.ImageHashes]]]:
    return {name: hx.variant_hashes(img) for name, img in images.items()}


@pytest.fixture(scope="module")
def known(variants) -> tuple[hx.HashIndex, dict[int, str]]:
    """An index holding every stored variant of the KNOWN images; row id -> file name."""
    index = hx.HashIndex()
    owner: dict[int, str] = {}
    for name, rows in variants.items():
        ids = list(range(len(owner) + 1, len(owner) + 1 + len(rows)))
        index.add(ids, [h for _, h in rows])
        owner.update(dict.fromkeys(ids, name))
    return index, owner


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _border(img: Image.Image, f: float) -> Image.Image:
    dx, dy = round(img.width * f), round(img.height * f)
    out = Image.new("RGB", (img.width + 2 * dx, img.height + 2 * dy), (250, 250, 245))
    out.paste(img, (dx, dy))
    return out


def _crop(img: Image.Image, left=0.0, top=0.0, right=0.0) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h))


TRANSFORMS = {
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "jpeg q60": lambda im: _jpeg(im, 60),
    "brightness +20%": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "border 5%": lambda im: _border(im, 0.05),
    "grayscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "mirror": ImageOps.mirror,
    "crop 10% left": lambda im: _crop(im, left=0.10),
    "crop 15% top": lambda im: _crop(im, top=0.15),
}
# Crops between two stored crop steps are the hardest case (bench/hashmatch.py: ~0.93 recall):
# most images must still be found, and never a wrong one.
HARDER = {
    "crop 6% right": lambda im: _crop(im, right=0.06),
    "crop 11% left": lambda im: _crop(im, left=0.11),
    "mirror+crop 12% left+jpeg": lambda im: _jpeg(_crop(ImageOps.mirror(im), left=0.12), 70),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_known_image_found_after_transformation(images, known, transform):
    index, owner = known
    for name, img in images.items():
        matches = index.search_many(hx.query_hashes(TRANSFORMS[transform](img)))
        assert {owner[m.id] for m in matches} == {name}, (name, matches[:3])
        best = matches[0]
        assert best.phash_distance <= hx.PHASH_RADIUS and best.pdq_distance <= hx.PDQ_RADIUS


@pytest.mark.parametrize("transform", list(HARDER))
def test_known_image_mostly_found_after_harder_crops(images, known, transform):
    index, owner = known
    found = 0
    for name, img in images.items():
        matches = index.search_many(hx.query_hashes(HARDER[transform](img)))
        assert {owner[m.id] for m in matches} <= {name}, (name, matches[:3])
        found += bool(matches)
    assert found >= len(images) - 1


def test_untransformed_image_matches_its_own_orig_row_exactly(images, known):
    index, owner = known
    img = images["human/skimage_astronaut.png"]
    best = index.search(hx.hash_image(img))[0]
    assert owner[best.id] == "human/skimage_astronaut.png"
    assert (best.phash_distance, best.pdq_distance) == (0, 0)


def all_fixtures() -> list[str]:
    names = []
    for row in fixture_manifest():
        with Image.open(AI_FILTER_FIXTURES / row["file"]) as im:
            if min(im.size) >= hx.MIN_SIDE:  # the 1x1 px sd-parsers crops are not pictures
                names.append(row["file"])
    return names


def test_no_match_between_distinct_fixture_images(images, known):
    """All pairs: every fixture against every other fixture's stored hashes (image, mirror,
    trimmed), and every fixture against the full variant set of the KNOWN images."""
    names = all_fixtures()
    assert len(names) >= 50 and set(KNOWN) <= set(names)
    loaded = {name: images.get(name) or load(name) for name in names}

    index = hx.HashIndex()
    owner: dict[int, str] = {}
    queries: dict[str, list[hx.ImageHashes]] = {}
    for name, img in loaded.items():
        stored = [hx.hash_image(img), hx.hash_image(ImageOps.mirror(img))]
        trimmed = hx.trim_border(img)
        if trimmed is not None:
            stored.append(hx.hash_image(trimmed))
        ids = list(range(len(owner) + 1, len(owner) + 1 + len(stored)))
        index.add(ids, stored)
        owner.update(dict.fromkeys(ids, name))
        queries[name] = hx.query_hashes(img)

    variants_index, variants_owner = known
    for name, qs in queries.items():
        matched = {picture(owner[m.id]) for m in index.search_many(qs)}
        assert matched <= {picture(name)}, name
        matched = {picture(variants_owner[m.id]) for m in variants_index.search_many(qs)}
        assert matched <= {picture(name)}, name
    # The flat test gradient (PDQ quality 17) is refused rather than matched; every other
    # fixture finds itself.
    found = {
        name
        for name, qs in queries.items()
        if picture(name) in {picture(owner[m.id]) for m in index.search_many(qs)}
    }
    assert set(names) - found == {"human/c2pars_C.jpg"}


def test_featureless_query_is_refused():
    flat = Image.new("RGB", (300, 200), (120, 130, 140))
    h = hx.hash_image(flat)
    assert h.pdq_quality < hx.MIN_PDQ_QUALITY
    index = hx.HashIndex()
    index.add([1], [h])
    assert index.search(h) == []


def test_search_orders_best_first_and_limits(images):
    img = images["ai/comfy_flux_dev_example.png"]
    h = hx.hash_image(img)
    near = hx.hash_image(_crop(img, left=0.01))
    index = hx.HashIndex()
    index.add([3, 1, 2], [near, h, h])
    matches = index.search(h)
    assert [m.id for m in matches] == [1, 2, 3]  # exact rows first, ties by id
    assert matches[2].pdq_distance > 0
    assert index.search(h, limit=1) == matches[:1]
    assert index.search_many([near, h]) == [hx.Match(1, 0, 0), hx.Match(2, 0, 0), hx.Match(3, 0, 0)]


def test_scan_is_exact_at_the_radius_and_across_blocks():
    rng = np.random.default_rng(7)
    n = 5000
    codes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + 1
    pdq = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    q = hx.ImageHashes(int(codes[0]), pdq[0].tobytes())
    # Rows exactly at and just beyond both radii, spread over several scan blocks.
    flip = lambda v, k: v ^ np.uint64((1 << k) - 1)  # noqa: E731 - flips the k low bits
    codes[1234], codes[2345], codes[4999] = (
        flip(codes[0], hx.PHASH_RADIUS),
        flip(codes[0], hx.PHASH_RADIUS + 1),
        codes[0],
    )
    pdq[1234] = pdq[2345] = pdq[0]
    pdq[4999] = pdq[0]
    pdq[4999, : hx.PDQ_RADIUS // 8] ^= 0xFF  # exactly PDQ_RADIUS bits away
    index = hx.HashIndex()
    index.SCAN_BLOCK = 700  # several blocks, the last one partial
    index.add_hex(range(n), [f"{int(c):016x}" for c in codes], [row.tobytes().hex() for row in pdq])
    got = {m.id: (m.phash_distance, m.pdq_distance) for m in index.search(q)}
    assert got == {0: (0, 0), 1234: (hx.PHASH_RADIUS, 0), 4999: (0, hx.PDQ_RADIUS)}
    # Against a brute-force numpy computation for random queries, pHash stage alone.
    for j in rng.integers(0, n, 20):
        probe = int(codes[j]) ^ int(rng.integers(0, 2**16))
        pos, dist = index._phash_candidates(probe)
        brute = np.bitwise_count(codes ^ np.uint64(probe))
        assert pos.tolist() == np.flatnonzero(brute <= hx.PHASH_RADIUS).tolist()
        assert dist.tolist() == brute[pos].tolist()


def test_remove(images, variants):
    a, b = images["human/skimage_coffee.png"], images["ai/c2pars_firefly.png"]
    index = hx.HashIndex()
    va, vb = variants["human/skimage_coffee.png"], variants["ai/c2pars_firefly.png"]
    ids_a = list(range(100, 100 + len(va)))
    ids_b = list(range(500, 500 + len(vb)))
    # Interleave the two images' rows so removal has to compact the middle of the arrays.
    index.add(ids_a[::2] + ids_b, [h for _, h in va[::2]] + [h for _, h in vb])
    index.add(ids_a[1::2], [h for _, h in va[1::2]])
    assert len(index) == len(va) + len(vb)
    qa, qb = hx.query_hashes(_crop(a, left=0.1)), hx.query_hashes(_crop(b, top=0.15))
    assert {m.id for m in index.search_many(qa)} <= set(ids_a)
    assert index.search_many(qa) and index.search_many(qb)

    assert index.remove(ids_a) == len(va)
    assert len(index) == len(vb)
    assert index.search_many(qa) == []
    assert {m.id for m in index.search_many(qb)} <= set(ids_b)
    assert index.search_many(qb)
    assert index.remove([1, 2, 3]) == 0
    # Every remaining row is still found by its own hashes, under its own id.
    for i, (_, h) in zip(ids_b, vb, strict=True):
        assert i in {m.id for m in index.search(h) if m.phash_distance == m.pdq_distance == 0}


def test_add_hex_matches_add(images, variants):
    img = images["human/skimage_astronaut.png"]
    rows = [h for _, h in variants["human/skimage_astronaut.png"]]
    a, b = hx.HashIndex(), hx.HashIndex()
    a.add(range(len(rows)), rows)
    b.add_hex(range(len(rows)), [h.phash_hex for h in rows], [h.pdq_hex for h in rows])
    q = hx.query_hashes(_jpeg(img, 50))
    assert a.search_many(q) == b.search_many(q) != []
    with pytest.raises(ValueError):
        b.add_hex([1], ["abc"], ["00" * 32])


def test_hash_serialisation():
    h = hx.ImageHashes(0xF0E1D2C3B4A59687, bytes(range(32)), 88)
    assert h.phash_hex == "f0e1d2c3b4a59687"
    assert h.pdq_hex == bytes(range(32)).hex()
    assert hx.ImageHashes.from_hex(h.phash_hex.upper(), h.pdq_hex, 88) == h
    assert hx.to_int64(h.phash) < 0 and hx.from_int64(hx.to_int64(h.phash)) == h.phash
    assert hx.to_int64(5) == 5
    with pytest.raises(ValueError):
        hx.ImageHashes.from_hex("xyz", h.pdq_hex)


def test_small_and_thin_images():
    with pytest.raises(ValueError):
        hx.hash_image(Image.new("RGB", (31, 400)))
    strip = Image.effect_noise((2000, 40), 60).convert("RGB")  # 512x10 once scaled
    for fn in (hx.hash_image, hx.query_hashes, hx.variant_hashes):
        with pytest.raises(ValueError):
            fn(strip)
    small = Image.effect_noise((34, 34), 60).convert("RGB")
    names = [name for name, _ in hx.variant_hashes(small)]
    # Crops that would leave fewer than 32 px are skipped; 2.5 % and 5 % of 34 px are kept.
    assert names[:2] == ["orig", "mirror"] and "crop-l-5" in names and "crop-l-10" not in names
    assert len(hx.query_hashes(small)) == 1


def test_phash_agrees_with_imagehash_and_pdq_is_canonical(images):
    """Other tools can recompute our hashes: pHash is imagehash.phash of the luma image scaled to
    512 px, PDQ bytes are in PDQ's canonical hex order (bit 255 first)."""
    img = images["human/skimage_coffee.png"]  # 600x400: scaled to 512x341 before hashing
    small = ImageOps.grayscale(img).resize((512, 341), Image.Resampling.LANCZOS)
    h = hx.hash_image(img)
    assert h.phash_hex == str(imagehash.phash(small))
    vec, quality = pdqhash.compute(np.repeat(np.asarray(small)[:, :, None], 3, axis=2))
    assert h.pdq_hex == f"{int(''.join(str(int(b)) for b in vec), 2):064x}"
    assert h.pdq_quality == quality


RECORDS = [
    hx.HashRecord("0123456789abcdef", "ab" * 32, "orig", 'prompt "cat, 4k", seen on\nsite', "mod"),
    hx.HashRecord("ffffffffffffffff", "00" * 32, "mirror-crop-l-12.5", "", ""),
    hx.HashRecord("8000000000000001", "7f" * 32, "trim", "ünïcödé ✓", "import"),
]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_hash_list_round_trip(fmt):
    text = hx.dump_hash_list(RECORDS, fmt)
    assert hx.parse_hash_list(text, fmt) == hx.HashList(RECORDS, [])
    assert hx.parse_hash_list(hx.dump_hash_list([], fmt), fmt) == hx.HashList([], [])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_hash_list_round_trip_from_images(images, variants, fmt):
    img = images["ai/comfy_lora.png"]
    records = [
        hx.HashRecord.from_hashes(h, name, source="moderator")
        for name, h in variants["ai/comfy_lora.png"]
    ]
    parsed = hx.parse_hash_list(hx.dump_hash_list(records, fmt), fmt).hashes
    index = hx.HashIndex()
    index.add(range(len(parsed)), [r.hashes() for r in parsed])
    assert index.search_many(hx.query_hashes(_crop(img, top=0.15)))


def test_hash_list_csv_is_lenient_about_case_order_and_extra_columns():
    text = f"\ufeffSource,PDQ,pHash,extra\nmod,{'AB' * 32},0123456789ABCDEF,whatever\n\n"
    assert hx.parse_hash_list(text, "csv").hashes == [
        hx.HashRecord("0123456789abcdef", "ab" * 32, "orig", "", "mod")
    ]


GOOD_PH, GOOD_PDQ = "0123456789abcdef", "ab" * 32
CSV_ERRORS = [
    ("", 1, "empty file"),
    ("phash,variant\n", 1, "missing pdq"),
    (f"phash,pdq\n{GOOD_PH},{GOOD_PDQ}\n{GOOD_PH[:-1]}g,{GOOD_PDQ}\n", 3, "phash must be 16"),
    (f"phash,pdq\n{GOOD_PH},{GOOD_PDQ[:-2]}\n", 2, "pdq must be 64"),
    (f"phash,pdq\n{GOOD_PH},{GOOD_PDQ},x\n", 2, "expected 2 fields"),
    (f'phash,pdq,note\n{GOOD_PH},{GOOD_PDQ},"a\nb"\n,{GOOD_PDQ},\n', 4, "missing phash"),
    (f"phash,pdq,variant\n{GOOD_PH},{GOOD_PDQ},Crop Left\n", 2, "variant may hold"),
    (f'phash,pdq,note\n{GOOD_PH},{GOOD_PDQ},"unterminated\n', 2, "malformed CSV"),
    (f"phash,pdq,source\n{GOOD_PH},{GOOD_PDQ},{'x' * 21}\n", 2, "source is longer"),
    (f"phash,pdq,note\n{GOOD_PH},{GOOD_PDQ},bell\x07\n", 2, "control characters"),
]


@pytest.mark.parametrize(("text", "line", "message"), CSV_ERRORS)
def test_hash_list_csv_errors(text, line, message):
    with pytest.raises(hx.HashListError) as err:
        hx.parse_hash_list(text, "csv")
    assert err.value.line == line
    assert message in str(err.value) and str(err.value).startswith(f"line {line}: ")


def _json(*entries: str, head: str = '"format": "cara-hash-list", "version": 1') -> str:
    return "{\n  " + head + ',\n  "hashes": [\n' + ",\n".join(entries) + "\n  ]\n}\n"


GOOD = f'    {{"phash": "{GOOD_PH}", "pdq": "{GOOD_PDQ}"}}'
JSON_ERRORS = [
    ("", 1, "expected '{'"),
    ("[]", 1, "expected '{'"),
    (_json(GOOD, GOOD.replace(GOOD_PH, "nothex")), 5, "phash must be 16"),
    (_json(GOOD, GOOD, '    {"pdq": "' + GOOD_PDQ + '"}'), 6, "missing phash"),
    (_json(GOOD, '    {"phash": 12, "pdq": "' + GOOD_PDQ + '"}'), 5, "phash must be a string"),
    (_json(GOOD, "    [1, 2]"), 5, "must be an object"),
    (_json(GOOD, '    {"phash": "' + GOOD_PH + '", "phash": "' + GOOD_PH + '"}'), 5, "duplicate"),
    (_json(GOOD, '    {"phash": "' + GOOD_PH + '",, }'), 5, "invalid JSON"),
    (_json(GOOD, head='"format": "cara-hash-list",\n  "version": 3'), 3, "unsupported"),
    (_json(GOOD, head='"format": "other", "version": 1'), 2, '"format" must be'),
    ('{"format": "cara-hash-list", "version": 1}', 1, 'missing "hashes"'),
    (_json(GOOD) + "trailing", 7, "unexpected text"),
    (_json(GOOD).replace("]\n}", "]"), 6, "expected ',' or '}'"),
]


@pytest.mark.parametrize(("text", "line", "message"), JSON_ERRORS)
def test_hash_list_json_errors(text, line, message):
    with pytest.raises(hx.HashListError) as err:
        hx.parse_hash_list(text, "json")
    assert err.value.line == line, str(err.value)
    assert message in str(err.value)


def test_unknown_format():
    with pytest.raises(ValueError):
        hx.parse_hash_list("", "xml")
    with pytest.raises(ValueError):
        hx.dump_hash_list([], "xml")


def test_documented_examples_parse_and_match(images):
    """The first CSV and JSON examples in docs/hash-lists.md (the list file formats; the
    shared feed's page comes later) are valid and are the firefly image."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hash-lists.md").read_text()
    blocks: dict[str, str] = {}
    for kind, body in re.findall(r"```(csv|json)\n(.*?)```", doc, flags=re.S):
        blocks.setdefault(kind, body)
    records = hx.parse_hash_list(blocks["csv"], "csv").hashes
    assert [r.variant for r in records] == ["orig", "mirror"]
    assert hx.parse_hash_list(blocks["json"], "json").hashes == records[:1]
    index = hx.HashIndex()
    index.add(range(len(records)), [r.hashes() for r in records])
    matches = index.search_many(hx.query_hashes(images["ai/c2pars_firefly.png"]))
    assert matches and matches[0].id == 0


def test_rotations_are_first_stage_matches(images):
    img = images["ai/comfy_lora.png"]
    index = hx.HashIndex()
    rows = hx.variant_hashes(img)
    assert [name for name, _ in rows[-3:]] == ["rot90", "rot180", "rot270"]
    index.add(range(len(rows)), [h for _, h in rows])
    for turn in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180):
        matches = index.search_many(hx.query_hashes(img.transpose(turn)))
        assert matches and rows[matches[0].id][0].startswith("rot")
    without = hx.HashIndex()
    without.add(range(len(rows) - 3), [h for _, h in rows[:-3]])
    assert not without.search_many(hx.query_hashes(img.transpose(Image.Transpose.ROTATE_90)))


def _blob(seed: int = 0, n: int = 20) -> bytes:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (n, 2)).astype(np.float32)
    desc = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    return features.serialize(features.Features(xy, desc, (512, 512)))


def test_hash_list_version_2_carries_features_and_version_1_stays_readable():
    feats = [hx.FeatureRecord(_blob(1), "Firefly sample", "moderator"), hx.FeatureRecord(_blob(2))]
    text = hx.dump_hash_list(RECORDS, "json", feats)
    assert '"version": 2' in text
    assert hx.parse_hash_list(text, "json") == hx.HashList(RECORDS, feats)
    v1 = hx.dump_hash_list(RECORDS, "json")
    assert '"version": 1' in v1 and '"features"' not in v1
    assert hx.parse_hash_list(v1, "json") == hx.HashList(RECORDS, [])
    with pytest.raises(ValueError, match="JSON"):
        hx.dump_hash_list(RECORDS, "csv", feats)


def _json2(*features: str) -> str:
    return (
        '{\n  "format": "cara-hash-list", "version": 2,\n  "hashes": [\n' + GOOD + "\n  ],\n"
        '  "features": [\n' + ",\n".join(features) + "\n  ]\n}\n"
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


FEATURE_ERRORS = [
    (_json2('    {"data": "' + _b64(_blob()) + '"}', '    {"note": "x"}'), 8, '"data"'),
    (_json2('    {"data": "not base64!"}'), 7, "not valid"),
    (_json2('    {"data": "' + _b64(b"XYZ" + _blob()[3:]) + '"}'), 7, "not a feature blob"),
    (_json2('    {"data": "' + _b64(_blob()[:-1]) + '"}'), 7, "wrong length"),
    (_json2('    {"data": "' + _b64(_blob(n=401)) + '"}'), 7, "at most 400"),
    (_json2('    {"data": "' + _b64(_blob()) + '", "note": 3}'), 7, "note must be a string"),
    (_json2("    7"), 7, "each entry of features must be an object"),
    (_json2().replace('"version": 2', '"version": 1'), 6, '"features" needs "version": 2'),
]


@pytest.mark.parametrize(("text", "line", "message"), FEATURE_ERRORS)
def test_hash_list_feature_errors(text, line, message):
    with pytest.raises(hx.HashListError) as err:
        hx.parse_hash_list(text, "json")
    assert err.value.line == line, str(err.value)
    assert message in str(err.value)
