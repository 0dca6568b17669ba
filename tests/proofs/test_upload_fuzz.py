"""Upload fuzzer (issue 12): hypothesis mutates real images (the AI-filter fixtures and images
made from them) and sends them through the real upload route, the in-process media job and the
describe/publish form. No case may answer 5xx (or raise) or run past its time limit."""

import faulthandler
import io
import re
import signal
import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.factories import login, person
from tests.support import AI_FILTER_FIXTURES

CASES = 250
CASE_SECONDS = 10  # one upload, its processing and its publication
HUMAN = AI_FILTER_FIXTURES / "human"


def _encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    """Real files as they are, and one real photo re-encoded in every accepted format."""
    seeds = {
        "hopper.jpg": (HUMAN / "pillow_hopper.jpg").read_bytes(),
        "stealth.png": (AI_FILTER_FIXTURES / "ai" / "sdparsers_a1111_stealth.png").read_bytes(),
    }
    with Image.open(HUMAN / "pillow_hopper.jpg") as src:
        photo = src.convert("RGB").resize((96, 72))
    seeds |= {
        "photo.png": _encode(photo, "PNG"),
        "photo-progressive.jpg": _encode(photo, "JPEG", progressive=True, quality=80),
        "photo.webp": _encode(photo, "WEBP", quality=70),
        "photo-lossless.webp": _encode(photo, "WEBP", lossless=True),
        "photo.gif": _encode(photo.convert("P"), "GIF"),
        "photo-rgba.png": _encode(photo.convert("RGBA"), "PNG"),
    }
    return seeds


SEEDS = _seeds()
NAMES = [
    "a.png",
    "a.jpg",
    "a.jpeg",
    "a.gif",
    "a.webp",
    "a.svg",
    "a.html",
    "a.php",
    "a",
    ".png",
    "a.png.html",
    "a.PNG",
    "../../etc/passwd.png",
    "ü ñ 名前.jpg",
    "a" * 300 + ".png",
]
TYPES = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "text/html",
    "application/octet-stream",
    "application/x-php",
]
HUGE = [0, 1, 31, 32, 16_001, 65_535, 2**31 - 1, 2**32 - 1]


# --- mutations ---------------------------------------------------------------------------------


def _png_chunks(data: bytes):
    """(offset, length, type) of each chunk of a PNG."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield pos, length, kind
        pos += 12 + length


def _with_crc(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def claim_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the dimensions a header claims (checksums kept valid so only the size lies)."""
    if data.startswith(b"\x89PNG"):
        ihdr = data[16:29]
        body = struct.pack(">II", width, height) + ihdr[8:]
        return data[:8] + _with_crc(b"IHDR", body) + data[33:]
    if data.startswith(b"GIF"):
        w, h = width & 0xFFFF, height & 0xFFFF
        return data[:6] + struct.pack("<HH", w, h) + data[10:]
    if data.startswith(b"\xff\xd8"):
        out = bytearray(data)
        for m in re.finditer(rb"\xff[\xc0-\xc2]", data):  # SOF0..SOF2: precision, height, width
            out[m.start() + 5 : m.start() + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
        return bytes(out)
    if data[8:12] == b"WEBP":
        out = bytearray(data)
        at = data.find(b"VP8 ")
        if at > 0:  # lossy frame header: 14-bit width and height after the start code
            out[at + 14 : at + 18] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
        at = data.find(b"VP8L")
        if at > 0:  # lossless: 14-bit width-1 and height-1, packed
            bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
            out[at + 9 : at + 13] = struct.pack("<I", bits | (data[at + 12] & 0xF0) << 24)
        return bytes(out)
    return data


def corrupt_chunk(data: bytes, index: int, how: int) -> bytes:
    """Break one PNG chunk (length, type, CRC or body), or one JPEG/GIF/WebP segment's bytes."""
    chunks = list(_png_chunks(data)) if data.startswith(b"\x89PNG") else []
    if not chunks:
        marks = [m.start() for m in re.finditer(rb"\xff[\xc0-\xfe]|VP8|RIFF|,|!\xf9", data)]
        if not marks:
            return data
        at = marks[index % len(marks)]
        return data[:at] + bytes([(data[at] + how + 1) % 256]) + data[at + 1 :]
    pos, length, _ = chunks[index % len(chunks)]
    field = [pos, pos + 4, pos + 8 + length, pos + 8][how % 4]  # length, type, CRC, body
    if how % 4 == 0:
        return data[:pos] + struct.pack(">I", (length * 7 + 2**31) & 0xFFFFFFFF) + data[pos + 4 :]
    return data[:field] + bytes([data[field % len(data)] ^ 0xFF]) + data[field + 1 :]


POLYGLOTS = [
    (b"", b"<html><script>alert(1)</script></html>"),
    (b"<?php system($_GET['c']); ?>", b""),
    (b"", b"PK\x03\x04" + b"\x00" * 26 + b"evil.js"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'>", b"</svg>"),
    (b"", b"\x00" * 4096),
]


@st.composite
def uploads(draw):
    """(file name, content type, bytes) of one mutated upload."""
    data = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    kind = draw(st.sampled_from(["flip", "truncate", "chunk", "size", "polyglot", "splice"]))
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 16))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        data = bytes(out)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "chunk":
        data = corrupt_chunk(data, draw(st.integers(0, 40)), draw(st.integers(0, 7)))
    elif kind == "size":
        data = claim_size(data, draw(st.sampled_from(HUGE)), draw(st.sampled_from(HUGE)))
    elif kind == "polyglot":
        before, after = draw(st.sampled_from(POLYGLOTS))
        data = before + data + after
    else:  # another format's header on this body
        other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
        cut = draw(st.integers(1, 64))
        data = other[:cut] + data[cut:]
    return draw(st.sampled_from(NAMES)), draw(st.sampled_from(TYPES)), data


# --- the proof ---------------------------------------------------------------------------------


class Hang(BaseException):  # not swallowed by the app's own `except Exception`
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {CASE_SECONDS} s")


@pytest.fixture
def watchdog():
    """SIGALRM stops a case that runs too long; faulthandler ends the run if even that fails
    (a hang inside C code), with every thread's traceback."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _journey(client, files) -> list[int]:
    """Upload, open the draft, publish it, view it: the status codes on the way."""
    body = {"images": [(io.BytesIO(data), name, ctype) for name, ctype, data in files]}
    response = client.post("/posts/new", data=body, content_type="multipart/form-data")
    codes = [response.status_code]
    if response.status_code == 303:
        edit = response.headers["Location"]
        page = client.get(edit)
        codes.append(page.status_code)
        alts = {n: "fuzzed" for n in re.findall(r'name="(alt-\d+)"', page.get_data(as_text=True))}
        published = client.post(edit, data={"caption": "fuzz", **alts})
        codes.append(published.status_code)
        if published.status_code == 303:
            codes.append(client.get(published.headers["Location"]).status_code)
    return codes


def test_mutated_uploads_never_fail_the_server(app, no_avif, watchdog, figures):
    person("fuzzer")
    client = app.test_client()
    login(client, "fuzzer")
    seen = {"cases": 0, "5xx": 0, "hangs": 0, "accepted": 0, "refused": 0}
    started = time.monotonic()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(files=st.lists(uploads(), min_size=1, max_size=3))
    def case(files):
        seen["cases"] += 1
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
        try:
            codes = _journey(client, files)
        except Hang:
            seen["hangs"] += 1
            raise
        except Exception:  # what production would answer with a 500
            seen["5xx"] += 1
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if any(code >= 500 for code in codes):
            seen["5xx"] += 1
        seen["accepted" if codes[0] == 303 else "refused"] += 1
        assert all(code < 500 for code in codes), (codes, [(n, t, len(d)) for n, t, d in files])

    try:
        case()
    finally:
        figures("upload fuzzer", **seen, seconds=round(time.monotonic() - started, 1))
    assert seen["5xx"] == 0 and seen["hangs"] == 0


def test_the_size_claims_reach_the_decoder():
    """The "huge dimensions" mutation does what it says: Pillow reads the claimed width."""
    for name, data in SEEDS.items():
        with Image.open(io.BytesIO(claim_size(data, 4000, 50))) as im:
            assert im.width == 4000, name
