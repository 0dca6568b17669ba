"""Screenshots of every key page at 360 and 1366 px, light and dark (run by hand: ~2 minutes).

    .venv/bin/python bench/screenshots.py [--out test-artifacts/screens] [--keep DIR] [--serve]

Starts the app on a loopback port with a fresh SQLite database (in a temporary folder, or DIR),
seeded with the demo (`flask demo`) plus what the key pages need to show something: ana with a
three-image post, a draft waiting for its alt text, a held post with an appeal and
notifications; moira, a moderator, with a report in her queue; two openings on the jobs board.
Chromium (CARA_CHROMIUM, else /usr/bin/chromium, through Playwright) then takes a full-page
screenshot of each page in each of the four variants, named `<page>-<width>-<scheme>.png`, and
prints any page that scrolls sideways or answers with an unexpected status (exit 1 then).
`--serve` keeps the seeded server running afterwards, for looking at pages by hand.
See docs/design.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pageweight import serve  # noqa: E402  (bench/ is the script's folder)

PASSWORD = "bench-password-not-common"
WIDTHS = {360: {"width": 360, "height": 740}, 1366: {"width": 1366, "height": 900}}
SCHEMES = ["light", "dark"]
IMAGES_LOADED = "() => [...document.images].every(img => img.complete)"
BACK_TO_START = """() => { for (const c of document.querySelectorAll('.carousel')) c.scrollLeft = 0;
  window.scrollTo(0, 0); }"""


def seed(app) -> dict[str, int]:
    """The demo, then ana's, moira's and the board's content; returns the ids pages need."""
    from PIL import PngImagePlugin

    from cara import board, demo, moderation
    from cara.accounts import auth
    from cara.core.extensions import db
    from cara.core.models import PostState, Role
    from cara.posting import drafts
    from cara.social import actions

    demo.load_demo()
    artists = {u: _user(u) for u, *_ in demo.ARTISTS}
    limits = drafts.upload_limits(app.config)
    ana, errors = auth.register("ana", "ana@example.com", PASSWORD)
    assert not errors, errors
    ana.display_name, ana.bio = "Ana Lima", "Gouache landscapes, mostly small."
    moira, errors = auth.register("moira", "moira@example.com", PASSWORD, role=Role.MODERATOR)
    assert not errors, errors
    db.session.commit()
    paintings = [p for posts in demo.POSTS.values() for p in posts]
    three = [
        (f"p{i}.png", _png(draw(seed + 40))) for i, (draw, seed, *_) in enumerate(paintings[:3])
    ]
    post = _publish(ana, three, "Three studies of one hill, morning to dusk. #gouache", limits)
    for artist in artists.values():
        actions.follow(artist, ana)
        actions.like(artist, post)
    actions.follow(ana, artists["mira_ink"])
    actions.comment(artists["mira_ink"], post, "The dusk one especially: that violet!")
    draft, errors = drafts.add_images(
        ana, None, [drafts.Upload("draft.png", _png(paintings[3][0](77)))], limits, 10
    )
    assert draft is not None and not errors, errors
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    held = _publish(ana, [("castle.png", _png(paintings[4][0](5), pnginfo=info))], "Castle", limits)
    assert held.state == PostState.HELD, held.state
    sketch = [drafts.Upload("sketch.png", _png(paintings[5][0](9)))]
    message = "I painted this over three evenings; the layers and a sketch are attached. " * 2
    assert moderation.submit_appeal(held, ana, message, sketch, limits) == {}
    reported = artists["sol_draws"].posts[0]
    assert not actions.report(ana, "post", reported.id, "stolen", "Traced from a 2019 poster.")
    moderation.warn(artists["sol_draws"], moira, "Credit the photographs you paint from.")
    moderation.add_note(artists["sol_draws"], moira, "Second report this month; see the log.")
    for title, kind, remote, location in [
        ("Background painter for an animated short", "freelance", True, ""),
        ("Concept artist, environments", "full-time", False, "Lisbon"),
    ]:
        job, errors = board.create(
            artists["mira_ink"],
            {
                "title": title,
                "kind": kind,
                "remote": remote,
                "location": location,
                "studio": "Paper Moon Studio",
                "description": "Gouache or digital paint.",
                "apply_url": "https://example.com/apply",
            },
        )
        assert job is not None, errors
    return {"post": post.id, "draft": draft.id, "held": held.id}


def _user(username: str):
    from sqlalchemy import select

    from cara.core.extensions import db
    from cara.core.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _png(image, **save) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, "PNG", **save)
    return buf.getvalue()


def _publish(user, images, caption, limits):
    from cara.posting import drafts

    uploads = [drafts.Upload(name, data) for name, data in images]
    post, errors = drafts.add_images(user, None, uploads, limits, 10)
    assert post is not None and not errors, errors
    alts = {
        m.id: f"Painting {i + 1} of {len(uploads)} by {user.name}" for i, m in enumerate(post.media)
    }
    assert not drafts.publish(post, {"caption": caption, "alt": alts, "in_portfolio": True})
    return post


def pages(ids: dict[str, int]) -> list[tuple[str, str, str | None, int]]:
    """(name, path, who is signed in, expected status) of every key page."""
    post, draft, held = ids["post"], ids["draft"], ids["held"]
    return [
        ("home", "/", None, 200),
        ("home-signed-in", "/", "ana", 200),
        ("post", f"/posts/{post}", None, 200),
        ("viewer", f"/posts/{post}/images/2", None, 200),
        ("viewer-dialog", f"/posts/{post}", None, 200),  # the second image's link, clicked
        ("profile", "/@mira_ink", None, 200),
        ("own-profile", "/@ana", "ana", 200),
        ("own-drafts", "/@ana/drafts", "ana", 200),
        ("new-post", "/posts/new", "ana", 200),
        ("describe", f"/posts/{draft}/edit", "ana", 200),
        ("held-post", f"/posts/{held}", "ana", 200),
        ("notifications", "/notifications", "ana", 200),
        ("search", "/search?q=ink", None, 200),
        ("jobs", "/jobs", "ana", 200),
        ("settings", "/settings", "ana", 200),
        ("moderation", "/moderation", "moira", 200),
        ("moderation-appeals", "/moderation?queue=appeals", "moira", 200),
        ("moderation-reports", "/moderation?queue=reports", "moira", 200),
        ("moderation-account", "/moderation/users/sol_draws", "moira", 200),
        ("error", "/no-such-page", None, 404),
    ]


def shoot(base: str, ids: dict[str, int], out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems = []
    out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CARA_CHROMIUM") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for width, viewport in WIDTHS.items():
            for scheme in SCHEMES:
                phone = width < 600
                options = {"viewport": viewport, "color_scheme": scheme}
                if phone:
                    options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
                contexts = {}
                for name, path, who, status in pages(ids):
                    if who not in contexts:
                        contexts[who] = browser.new_context(**options)
                        if who:
                            _log_in(contexts[who].new_page(), base, who)
                    page = contexts[who].new_page()
                    response = page.goto(base + path)
                    page.wait_for_load_state("load")
                    for img in page.locator("img[loading=lazy]").all():
                        img.scroll_into_view_if_needed()
                    page.wait_for_function(IMAGES_LOADED, timeout=10_000)
                    page.evaluate(BACK_TO_START)  # loading lazy slides scrolled carousels
                    dialog = name == "viewer-dialog"
                    if dialog:
                        page.locator("main .slide").nth(1).click()
                        page.locator("dialog.viewer-dialog picture img").wait_for()
                    if response.status != status:
                        problems.append(f"{name} {width} {scheme}: {response.status} for {path}")
                    scroll = page.evaluate("() => document.documentElement.scrollWidth")
                    if scroll > viewport["width"]:
                        problems.append(f"{name} {width} {scheme}: {scroll} px wide")
                    shot = out / f"{name}-{width}-{scheme}.png"
                    page.screenshot(path=str(shot), full_page=not dialog)
                    page.close()
                for context in contexts.values():
                    context.close()
        browser.close()
    return problems


def _log_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    page.locator("form[action='/logout']").wait_for(state="attached")
    page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "test-artifacts" / "screens")
    parser.add_argument("--keep", type=Path, help="use (and keep) this folder for the database")
    parser.add_argument("--serve", action="store_true", help="keep serving when done")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cara-screens-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import logging

        logging.disable(logging.INFO)
        ids = {}
        server, base, _ = serve(folder, lambda app: ids.update(seed(app)))
        problems = shoot(base, ids, args.out)
        if args.serve:
            print(f"serving {base} (ids {ids}); Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
        server.shutdown()
    except KeyboardInterrupt:
        problems = []
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{len(list(args.out.glob('*.png')))} screenshots in {args.out}")
    print("\n".join(problems) or "every page answered as expected and fits its width")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
