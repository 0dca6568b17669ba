"""Page weight against the budgets of issue 7 (run by hand: 1-2 minutes, AVIF is slow).

    .venv/bin/python bench/pageweight.py [--keep DIR]

Starts the app on a loopback port with a fresh SQLite database in a temporary folder, seeded
with the demo's paintings (28 posts: more than a page of the feed) and a few real photographs
(tests/fixtures/ai-filter). Then, like a browser sending `Accept-Encoding: gzip, br`:

- per page (home, a post, a profile, log in): requests and bytes of HTML + CSS + JS as sent,
  next to the uncompressed bytes (the baseline: the ratio is what compression saves), and
  PASS/FAIL against 30 KB; images are counted apart (eager / lazy);
- per feed card: the srcset candidate a 360 px wide phone with DPR 2 picks (the `sizes`
  slot times 2, then the smallest candidate at least that wide, as Chromium does), for WebP
  and AVIF, with its bytes against 40 KB (AVIF) / 60 KB (WebP).

Exits 1 when anything is over budget. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import shutil
import sys
import tempfile
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KB = 1024
PAGE_BUDGET = 30 * KB
IMAGE_BUDGET = {"avif": 40 * KB, "webp": 60 * KB}
PHONE_WIDTH, PHONE_DPR = 360, 2
PHOTOS = ["skimage_astronaut.png", "skimage_coffee.png", "imwm_original.jpg"]
PASSWORD = "bench-password-not-common"


# --- the page as a browser sees it ----------------------------------------------------------


class Page(HTMLParser):
    """Stylesheets, scripts, images and card <source>s of one HTML page."""

    def __init__(self):
        super().__init__()
        self.css, self.js, self.images, self.cards = [], [], [], []
        self._card = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split():
            self.css.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.js.append(a["src"])
        elif tag == "img":
            self.images.append("lazy" if a.get("loading") == "lazy" else "eager")
        elif tag == "li" and "card" in (a.get("class") or "").split():
            self._card = {"id": a.get("id"), "sources": {}}
            self.cards.append(self._card)
        elif tag == "source" and self._card is not None and a.get("srcset"):
            fmt = (a.get("type") or "").removeprefix("image/")
            self._card["sources"][fmt] = (a.get("sizes") or "100vw", a["srcset"])
        elif tag == "img" and self._card is not None:
            self._card["alt"] = a.get("alt", "")

    def handle_endtag(self, tag):
        if tag == "li":
            self._card = None


def fetch(url: str, encoding: str = "br, gzip") -> tuple[bytes, bytes]:
    """(bytes as sent, bytes decoded) for one request."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(request) as response:
        raw = response.read()
        sent_as = response.headers.get("Content-Encoding")
    if sent_as == "br":
        import brotli

        return raw, brotli.decompress(raw)
    if sent_as == "gzip":
        return raw, gzip.decompress(raw)
    return raw, raw


def length_px(value: str, viewport: int) -> float:
    """A CSS length of a `sizes` attribute: px, vw, em/rem (16 px), or calc() of those."""
    value = value.strip()
    if value.startswith("calc(") and value.endswith(")"):
        total, sign = 0.0, 1
        for token in re.findall(r"[+-]|[\d.]+[a-z%]*", value[5:-1]):
            if token in "+-":
                sign = 1 if token == "+" else -1
            else:
                total += sign * length_px(token, viewport)
        return total
    number, unit = re.fullmatch(r"([\d.]+)([a-z]*)", value).groups()
    scale = {"px": 1, "vw": viewport / 100, "em": 16, "rem": 16, "": 1}[unit]
    return float(number) * scale


def slot_px(sizes: str, viewport: int) -> float:
    """The slot width `sizes` gives at this viewport width (min/max-width media only)."""
    for entry in sizes.split(","):
        entry = entry.strip()
        match = re.fullmatch(r"\((min|max)-width:\s*([\d.]+)px\)\s+(.+)", entry)
        if not match:
            return length_px(entry, viewport)
        kind, limit, length = match.groups()
        if (viewport >= float(limit)) if kind == "min" else (viewport <= float(limit)):
            return length_px(length, viewport)
    return viewport


def pick(srcset: str, needed: float) -> tuple[str, int]:
    """The smallest candidate at least `needed` pixels wide (else the widest)."""
    candidates = sorted((int(w), url) for url, w in re.findall(r"(\S+)\s+(\d+)w", srcset))
    for width, url in candidates:
        if width >= needed:
            return url, width
    return candidates[-1][1], candidates[-1][0]


# --- the app ------------------------------------------------------------------------------------


def seed(app) -> dict[str, str]:
    """Demo paintings (several seeds each) and real photos; returns page paths to measure."""
    from cara import demo
    from cara.accounts import auth
    from cara.core.extensions import db
    from cara.posting import drafts

    limits = drafts.upload_limits(app.config)
    users = {}
    for username, name, bio, _ in demo.ARTISTS:
        user, errors = auth.register(username, f"{username}@example.com", PASSWORD)
        assert not errors, errors
        user.display_name, user.bio = name, bio
        users[username] = user
    db.session.commit()
    last = None
    for round_ in range(7):
        for username, posts in demo.POSTS.items():
            draw, seed_, caption, alt = posts[0]
            last = _post(users[username], draw(seed_ + round_ * 17), caption, alt, limits)
    photos = REPO / "tests" / "fixtures" / "ai-filter" / "human"
    for name in PHOTOS:
        if (photos / name).exists():
            from PIL import Image

            with Image.open(photos / name) as img:
                last = _post(
                    users["mira_ink"],
                    img.convert("RGB"),
                    f"Photo: {name}",
                    f"Photograph {name}",
                    limits,
                )
    return {
        "home": "/",
        "post": f"/posts/{last.id}",
        "profile": "/@mira_ink",
        "login": "/login",
    }


def _post(user, image, caption, alt, limits):
    from cara.posting import drafts

    buf = io.BytesIO()
    image.save(buf, "PNG")
    post, errors = drafts.add_images(
        user, None, [drafts.Upload("art.png", buf.getvalue())], limits, 10
    )
    assert post and not errors, errors
    assert not drafts.publish(
        post, {"caption": caption, "alt": {post.media[0].id: alt}, "in_portfolio": True}
    )
    return post


def serve(folder: Path, seeder=None):
    """The app on a loopback port, its database seeded by `seeder(app)` (default: `seed`)."""
    from flask_migrate import upgrade
    from werkzeug.serving import WSGIRequestHandler, make_server

    from cara import create_app
    from cara.core.extensions import db

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite'}",
            "MEDIA_DIR": str(folder / "media"),
            "SECRET_KEY": "bench-secret-key-long-enough-for-production-checks",
            "TASK_RUNNER": "inline",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        pages = (seeder or seed)(app)
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", pages


# --- the report -----------------------------------------------------------------------------


def measure_pages(base: str, pages: dict[str, str]) -> tuple[list[str], bool, str]:
    rows, ok, home = [], True, ""
    header = (
        f"{'page':<9} {'path':<14} {'reqs':>4} {'html':>7} {'css':>7} {'js':>7} "
        f"{'total':>8} {'gzip':>8} {'raw':>8} {'ratio':>6} {'imgs e/l':>9}  budget"
    )
    rows.append(header)
    for name, path in pages.items():
        html_sent, html = fetch(base + path)
        parsed = Page()
        parsed.feed(html.decode())
        sizes = {"html": len(html_sent), "css": 0, "js": 0}
        raw = len(html)
        gz = len(fetch(base + path, "gzip")[0])
        for kind in ("css", "js"):
            for url in getattr(parsed, kind):
                sent, body = fetch(base + url)
                sizes[kind] += len(sent)
                raw += len(body)
                gz += len(fetch(base + url, "gzip")[0])
        total = sum(sizes.values())
        requests = 1 + len(parsed.css) + len(parsed.js)
        verdict = "PASS" if total <= PAGE_BUDGET else "FAIL"
        ok &= verdict == "PASS"
        eager = parsed.images.count("eager")
        rows.append(
            f"{name:<9} {path:<14} {requests:>4} {kb(sizes['html'])} {kb(sizes['css'])} "
            f"{kb(sizes['js'])} {kb(total, 8)} {kb(gz, 8)} {kb(raw, 8)} {total / raw:>6.2f} "
            f"{f'{eager}/{len(parsed.images) - eager}':>9}  {verdict} (<= {PAGE_BUDGET // KB} KB)"
        )
        if name == "home":
            home = html.decode()
    return rows, ok, home


def measure_cards(base: str, html: str) -> tuple[list[str], bool]:
    """One row per card: what the phone picks in each format, against the format's budget."""
    parsed = Page()
    parsed.feed(html)
    rows = [
        f"{'card':<10} {'slot':>5} {'needs':>6} {'picks':>6} {'webp':>9} {'avif':>9}  "
        f"budget (webp <= {IMAGE_BUDGET['webp'] // KB} KB, avif <= {IMAGE_BUDGET['avif'] // KB} KB)"
    ]
    passed = 0
    for card in parsed.cards:
        sizes = next(iter(card["sources"].values()), ("100vw", ""))[0]
        slot = slot_px(sizes, PHONE_WIDTH)
        bytes_, width = {}, 0
        for fmt, (_, srcset) in card["sources"].items():
            url, width = pick(srcset, slot * PHONE_DPR)
            bytes_[fmt] = len(fetch(base + url)[0])
        # A browser takes the first <source> it supports: AVIF when offered, else WebP.
        served = "avif" if "avif" in bytes_ else "webp"
        ok = served in bytes_ and bytes_[served] <= IMAGE_BUDGET[served]
        passed += ok
        cells = [kb(bytes_[f], 9) if f in bytes_ else f"{'-':>9}" for f in ("webp", "avif")]
        rows.append(
            f"{card['id']:<10} {slot:>5.0f} {slot * PHONE_DPR:>6.0f} {f'{width}w':>6} "
            f"{cells[0]} {cells[1]}  {'PASS' if ok else 'FAIL'} ({served})"
        )
    rows.append(f"{passed} of {len(parsed.cards)} cards within budget")
    return rows, passed == len(parsed.cards)


def kb(n: int, width: int = 7) -> str:
    return f"{n / KB:>{width - 3}.1f} KB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="use (and keep) this folder for the database")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cara-pageweight-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import logging

        logging.disable(logging.INFO)  # migrations and jobs are noisy
        server, base, pages = serve(folder)
        page_rows, pages_ok, home = measure_pages(base, pages)
        card_rows, cards_ok = measure_cards(base, home)
        server.shutdown()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print("Pages: HTML + CSS + JS as sent with Accept-Encoding: br, gzip (images apart)")
    print("\n".join(page_rows))
    print(f"\nHome feed cards: the image a {PHONE_WIDTH} px phone at DPR {PHONE_DPR} picks")
    print("\n".join(card_rows))
    verdict = pages_ok and cards_ok
    print(
        f"\n{'PASS' if verdict else 'FAIL'}: pages {'PASS' if pages_ok else 'FAIL'}, "
        f"card images {'PASS' if cards_ok else 'FAIL'}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
