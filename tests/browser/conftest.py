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

Only fixtures (and the live server's plumbing) live here; the helpers tests call are in
tests/browser/pages.py.
"""

import io
import os
import threading

import pytest
from flask import got_request_exception
from werkzeug.serving import WSGIRequestHandler, make_server

from cara import create_app
from cara.core.extensions import db
from tests.browser.pages import DESKTOP, FEED_POSTS, PASSWORD, REPO, Live, art_png, publish, watch
from tests.factories import app_settings, empty_tables
from tests.support import AI_FILTER_FIXTURES, require_service

AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
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


@pytest.fixture(scope="package")
def live(_database, _migrated, tmp_path_factory):
    media = tmp_path_factory.mktemp("browser-media")
    app = create_app(
        app_settings(
            _database,
            MEDIA_DIR=str(media),
            WTF_CSRF_ENABLED=True,  # a real browser posts the real form, token included
            TASK_RUNNER="inline",  # uploads are processed before the response
            RATELIMIT_ENABLED=False,
        )
    )
    with app.app_context():
        empty_tables()  # whatever a deselected or interrupted test may have left
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
            empty_tables()
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
        ("newt", Role.MEMBER, {"welcome_pending": True}),  # just signed up: the welcome
        ("newt_js", Role.MEMBER, {"welcome_pending": True}),  # its journey, once per mode
        ("newt_nojs", Role.MEMBER, {"welcome_pending": True}),
    ]:
        user, errors = auth.register(username, f"{username}@example.com", PASSWORD, role=role)
        assert not errors, errors
        for key, value in extra.items():
            setattr(user, key, value)
        db.session.commit()
        live.users[username] = user.id


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
    # Logged-out feed pages are kept for a few seconds (the microcache): one an earlier test
    # saw before these posts existed must not be what the feed tests see.
    live.app.extensions["cara.feed_cache"].entries.clear()
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


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", f"{AXE_JS} is missing: run `make setup` (npm ci)")
    return AXE_JS.read_text()
