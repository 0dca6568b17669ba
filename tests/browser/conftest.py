"""Browser tests: the app on a loopback port, driven by Debian's Chromium through Playwright.

- `live`: the app served by werkzeug in a thread, on the migrated test database of
  tests/conftest.py, with real CSRF checks, inline jobs and no rate limits. Package-scoped: its
  data lives while this package runs and the tables are emptied when it ends, so the other
  tests still start from empty tables. Tests here must not use the function-scoped `app`
  fixture (its teardown empties the tables under the live server); use `live.app` instead.
- `browser`: Chromium (CARA_CHROMIUM, else /usr/bin/chromium). Tests that need it are skipped,
  with the reason, when it is missing or CARA_SKIP_BROWSER=1; under CI=true a missing browser
  fails the run instead (see require_service).
- Screenshots go to test-artifacts/ (git-ignored).
"""

import io
import os
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, got_request_exception
from PIL import Image, ImageDraw
from werkzeug.serving import WSGIRequestHandler, make_server

from cara import create_app
from cara.core.extensions import db
from tests.conftest import _config, _empty_tables, require_service
from tests.support import AI_FILTER_FIXTURES

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
FEED_POSTS = 60  # the feed shows 24 a page: this makes three pages
# As root in a container Chromium needs --no-sandbox; the rest keep it off the network (closed
# here) and quiet: no component updates, sync, or background requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


# --- the live server -------------------------------------------------------------------------


def _buffered(app):
    """Read each response whole before werkzeug sends it. When a browser drops a request (a page
    closed while its images load) the dev server's cleanup can fail before it closes the
    response, leaking the open file of a send_file() into a ResourceWarning in a later test."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        """No access log: hundreds of lines per run; errors are still logged."""


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


@pytest.fixture(scope="package")
def live(_database, _migrated, tmp_path_factory):
    media = tmp_path_factory.mktemp("browser-media")
    app = create_app(
        _config(
            _database,
            MEDIA_DIR=str(media),
            WTF_CSRF_ENABLED=True,  # a real browser posts the real form, token included
            JOB_RUNNER="inline",  # uploads are processed before the response
            RATELIMIT_ENABLED=False,
        )
    )
    with app.app_context():
        _empty_tables()  # whatever a deselected or interrupted test may have left
    server = make_server(
        "127.0.0.1", 0, _buffered(app), threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    live = Live(app, f"http://127.0.0.1:{server.server_port}")
    got_request_exception.connect(_record_error(live), app, weak=False)
    try:
        with live.ctx():
            _seed_accounts(live)
        yield live
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            _empty_tables()
            db.engine.dispose()


def _record_error(live: Live):
    def record(sender, exception, **extra):
        live.errors.append(repr(exception))

    return record


@pytest.fixture(autouse=True)
def _no_server_errors(request):
    """A test fails if the server raised while serving it (a 500 the page may hide)."""
    if "live" not in request.fixturenames:
        yield
        return
    live = request.getfixturevalue("live")
    live.errors.clear()
    yield
    assert not live.errors, f"the server raised: {live.errors}"


# --- data ------------------------------------------------------------------------------------


def _seed_accounts(live: Live) -> None:
    from cara.accounts import auth
    from cara.core.models import Role

    for username, role, extra in [
        ("ana", Role.MEMBER, {}),  # the member who posts, settings, notifications
        ("moira", Role.MODERATOR, {}),  # a moderator
        ("saver", Role.MEMBER, {"data_saver": True}),
        ("mira", Role.MEMBER, {"display_name": "Mira Okafor", "bio": "Ink and watercolour."}),
        ("filler", Role.MEMBER, {"display_name": "Feed Filler"}),
        ("fan_js", Role.MEMBER, {}),  # social journeys: one fan per mode, so each starts afresh
        ("fan_nojs", Role.MEMBER, {}),
    ]:
        user, errors = auth.register(username, f"{username}@example.com", PASSWORD, role=role)
        assert not errors, errors
        for key, value in extra.items():
            setattr(user, key, value)
        db.session.commit()
        live.users[username] = user.id


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


@pytest.fixture(scope="package")
def artworks(live):
    """Realistic pictures (the demo's paintings and a real photo from tests/fixtures)."""
    from cara import demo

    paintings = [p for posts in demo.POSTS.values() for p in posts[:1]]
    for i, (draw, seed, caption, alt) in enumerate(paintings):
        buf = io.BytesIO()
        draw(seed).save(buf, "PNG")
        live.posts[f"art{i}"] = publish(
            live,
            "mira",
            [(f"{draw.__name__[1:]}-{seed}.png", buf.getvalue())],
            caption=f"{caption} heliotrope",
            alts=[alt],
        )
    photo = AI_FILTER_FIXTURES / "human" / "skimage_astronaut.png"
    live.posts["photo"] = publish(
        live,
        "mira",
        [(photo.name, photo.read_bytes())],
        caption="Portrait study",
        alts=["Astronaut in a white suit in front of an American flag"],
    )
    return live.posts


@pytest.fixture(scope="package")
def feed(live, artworks):
    """Enough posts for three pages of the feed, newest last."""
    ids = [
        publish(live, "filler", [(f"filler-{i}.png", art_png(i))], caption=f"Filler {i}")
        for i in range(FEED_POSTS)
    ]
    live.posts["newest"] = ids[-1]
    return ids


@pytest.fixture(scope="package")
def draft(live):
    """A draft of ana's, waiting for its alt text: the describe-and-publish form."""
    live.posts["draft"] = publish(live, "ana", [("draft.png", art_png(999))], draft=True)
    return live.posts["draft"]


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if os.environ.get("CARA_SKIP_BROWSER") == "1":
        pytest.skip("browser tests skipped: CARA_SKIP_BROWSER=1")
    path = os.environ.get("CARA_CHROMIUM") or "/usr/bin/chromium"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        require_service(
            "Chromium", f"no executable at {path} (apt-get install chromium, or set CARA_CHROMIUM)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Playwright", "pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser):
    """Make browser contexts (closed after the test): new_context(java_script_enabled=False...)."""
    contexts = []

    def make(**options):
        context = browser.new_context(**{**DESKTOP, **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def page(request, new_context):
    """A page with JavaScript on, then off: every journey must work both ways."""
    page = new_context(java_script_enabled=request.param).new_page()
    page.js = request.param
    page.problems = watch(page)
    yield page
    assert not page.problems, f"browser console errors: {page.problems}"


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


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", f"{AXE_JS} is missing: run `make setup` (npm ci)")
    return AXE_JS.read_text()


def log_in(page, live: Live, username: str, password: str = PASSWORD) -> None:
    """Log in through the real form."""
    page.goto(live("/login"))
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password", exact=True).press("Enter")
    page.get_by_role("button", name="Log out").wait_for()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


# Key pages: (name, path, who is logged in, expected status). Paths are formatted with
# live.posts. Pages still being built by others are skipped at run time while they answer 404.
PAGES = [
    ("home", "/", None, 200),
    ("post", "/posts/{art0}", None, 200),
    ("profile", "/@mira", None, 200),
    ("profile-posts", "/@mira/posts", None, 200),
    ("login", "/login", None, 200),
    ("signup", "/signup", None, 200),
    ("new-post", "/posts/new", "ana", 200),
    ("describe", "/posts/{draft}/edit", "ana", 200),
    ("settings", "/settings", "ana", 200),
    ("search", "/search?q=heliotrope", None, 200),
    ("notifications", "/notifications", "ana", 200),
    ("moderation", "/moderation", "moira", 200),
    ("not-found", "/no-such-page", None, 404),
]


def open_page(page, live: Live, path: str, status: int):
    """Go to a key page; skip while it is not built yet, fail on any other surprise."""
    response = page.goto(live(path.format(**live.posts)))
    if status != 404:
        skip_if_missing(response, path)
    assert response is not None and response.status == status, f"{path}: {response.status}"
    return response


def skip_if_missing(response, what: str) -> None:
    """Pages other people are still building: run as soon as they answer."""
    if response is not None and response.status == 404:
        pytest.skip(f"{what} is not built yet (404)")
