"""Helpers of the browser tests: the live server's handle, seeding posts, logging in, the key
pages, console watching and screenshots. The fixtures that use them are in conftest.py."""

import io
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from PIL import Image, ImageDraw

from cara.core.extensions import db
from tests.factories import GOOD

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = GOOD
FEED_POSTS = 60  # the feed shows 24 a page: this makes three pages
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@dataclass
class Live:
    """The running app: `live("/path")` is an absolute URL; `errors` holds server exceptions."""

    app: Flask
    url: str
    errors: list = field(default_factory=list)
    users: dict = field(default_factory=dict)  # username -> id
    posts: dict = field(default_factory=dict)  # name -> post id

    def __call__(self, path: str) -> str:
        return self.url + path

    @contextmanager
    def ctx(self):
        """The app context for data setup with the domain functions (as the CLI would)."""
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()


def art_png(seed: int, size=(320, 240)) -> bytes:
    """A small abstract picture, different for every seed."""
    rnd = random.Random(seed)

    def colour():
        return rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255)

    img = Image.new("RGB", size, colour())
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        r = rnd.randint(size[0] // 16, size[0] // 3)
        x, y = rnd.randint(0, size[0]), rnd.randint(0, size[1])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour())
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def publish(
    live: Live,
    username: str,
    images: list[tuple[str, bytes]],
    caption="",
    tags="",
    alts=None,
    draft=False,
) -> int:
    """Post through the domain functions (upload, describe, publish); returns the post id."""
    from cara.core.models import User
    from cara.posting import drafts

    with live.ctx():
        author = db.session.get(User, live.users[username])
        uploads = [drafts.Upload(name, data) for name, data in images]
        limits = drafts.upload_limits(live.app.config)
        post, errors = drafts.add_images(author, None, uploads, limits, 10)
        assert post is not None and not errors, errors
        if not draft:
            alts = alts or [f"Picture {i + 1} by {author.name}" for i in range(len(images))]
            form = {
                "caption": caption,
                "tags": tags,
                "alt": {m.id: alt for m, alt in zip(post.media, alts, strict=True)},
                "in_portfolio": True,
            }
            assert not drafts.publish(post, form)
        return post.id


def watch(page) -> list[str]:
    """Collect console errors (a CSP violation is one), uncaught exceptions and failed requests
    for stylesheets, scripts, images and htmx fragments. Pages answering 4xx are left out: a
    422 form or a 404 page is part of a journey."""
    problems: list[str] = []

    def console(message):
        # Chromium logs every 4xx/5xx as "Failed to load resource"; responses are judged below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def response(response):
        request = response.request
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            if request.resource_type != "document" or response.status >= 500:
                problems.append(f"{response.status} {request.method} {response.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", response)
    return problems


def log_in(page, live: Live, username: str, password: str = PASSWORD) -> None:
    """Log in through the real form."""
    page.goto(live("/login"))
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password", exact=True).press("Enter")
    page.locator("form[action='/logout']").wait_for(state="attached")  # in the header's menu


def open_menu(page):
    """Open the header's menu (a <details>: Bookmarks, Settings, Admin, Log out...)."""
    nav = page.get_by_role("navigation", name="Main")
    nav.locator("summary").click()
    return nav


def log_out(page) -> None:
    open_menu(page).get_by_role("button", name="Log out").click()


# Words of the main content that wrap inside themselves (a word whose letters sit on two lines).
BROKEN_WORDS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    // Words, and the parts of hyphenated ones: a line may end after a hyphen.
    for (const word of node.data.matchAll(/[^\\s-]+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
        .map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(`${word[0]} (in ${node.parentElement.localName})`);
    }
  }
  return broken;
}"""


def broken_words(page) -> list[str]:
    """The words of `main` broken across lines (letter by letter in a squeezed column)."""
    return page.evaluate(BROKEN_WORDS)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


# Key pages: (name, path, who is logged in, expected status). Paths are formatted with
# live.posts. Each must answer: a missing page (404) fails the test.
PAGES = [
    ("home", "/", None, 200),
    ("post", "/posts/{art0}", None, 200),
    ("viewer", "/posts/{art0}/images/1", None, 200),
    ("profile", "/@mira", None, 200),
    ("profile-posts", "/@mira/posts", None, 200),
    ("login", "/login", None, 200),
    ("signup", "/signup", None, 200),
    ("new-post", "/posts/new", "ana", 200),
    ("describe", "/posts/{draft}/edit", "ana", 200),
    ("settings", "/settings", "ana", 200),
    ("welcome", "/welcome", "newt", 200),
    ("welcome-artists", "/welcome/artists", "newt", 200),
    ("search", "/search?q=heliotrope", None, 200),
    ("notifications", "/notifications", "ana", 200),
    ("moderation", "/moderation", "moira", 200),
    ("not-found", "/no-such-page", None, 404),
]


def open_page(page, live: Live, path: str, status: int):
    """Go to a key page; fail unless it answers with `status`."""
    response = page.goto(live(path.format(**live.posts)))
    if status != 404:
        assert_found(response, path)
    assert response is not None and response.status == status, f"{path}: {response.status}"
    return response


def assert_found(response, what: str) -> None:
    """The page is there: a 404 fails the test."""
    assert response is not None, f"{what}: no response"
    assert response.status != 404, f"{what} is missing (404)"
