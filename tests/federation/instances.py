"""Real cara servers for the two-instance test: each its own SQLite database, media folder and
port, started as a subprocess with `make run`'s server, federation on, loopback allowed; and a
small browser-like HTTP client (cookies, forms, uploads) to drive them."""

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

from tests.factories import GOOD
from tests.support import REPO, free_port


class Server:
    def __init__(self, folder: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        keep = {k: v for k, v in os.environ.items() if not k.startswith("CARA_")}
        for name in ("DATABASE_URL", "REDIS_URL"):
            keep.pop(name, None)
        self.env = {
            **keep,
            "CARA_SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'cara.sqlite'}",
            "CARA_MEDIA_DIR": str(folder / "media"),
            "CARA_SECRET_KEY": uuid.uuid4().hex * 2,
            "CARA_BASE_URL": self.base,
            "CARA_FEDERATION": "true",
            "CARA_FEDERATION_ALLOW_PRIVATE": "true",
            "CARA_TASK_RUNNER": "thread",
            "CARA_RATELIMIT_ENABLED": "false",
            "CARA_WTF_CSRF_ENABLED": "false",
            "CARA_FILTER_LOCAL_FEATURES": "false",
            "CARA_LOG_FORMAT": "text",
        }
        self.proc: subprocess.Popen | None = None

    def prepare(self, *usernames: str, password: str) -> None:
        """Build the schema and make the accounts, in this process (cara is imported already)."""
        from flask_migrate import upgrade

        from cara import create_app
        from cara.accounts import auth
        from cara.core.extensions import db

        settings = {
            key.removeprefix("CARA_"): value
            for key, value in self.env.items()
            if key.startswith("CARA_")
        }
        app = create_app({**settings, "FEDERATION": True, "TESTING": True})
        with app.app_context():
            upgrade()
            for name in usernames:
                _, errors = auth.register(name, f"{name}@example.org", password)
                assert not errors, errors
            db.session.remove()
            db.engine.dispose()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cara.web.devserver", "--port", str(self.port)],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_started(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server on port {self.port} exited")
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@contextmanager
def running(*servers: Server):
    """Start prepared servers together (most of their start is importing cara) and stop
    them, whatever happens."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_started()
        yield servers
    finally:
        for server in servers:
            server.stop()


class Browser:
    """Cookies and forms against one server; redirects are followed."""

    def __init__(self, server: Server):
        self.server = server
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def _open(self, path: str, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.server.base + path, data, headers or {})
        try:
            with self.opener.open(request, timeout=30) as answer:
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def get(self, path: str, headers: dict | None = None):
        return self._open(path, headers=headers)

    def post(self, path: str, fields: dict):
        return self._open(path, urlencode(fields).encode())

    def upload(self, path: str, field: str, name: str, data: bytes):
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._open(path, body, headers)


def wait_for(check, what: str, seconds: float = 40):
    """Poll `check()` until it returns something true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def login(server, name):
    """A browser signed in as `name` (password GOOD)."""
    browser = Browser(server)
    status, _ = browser.post("/login", {"login": name, "password": GOOD})
    assert status == 200  # redirected to the home page
    return browser


def publish(browser, image: bytes, caption: str, alt: str, **fields) -> int:
    """Upload and publish through the real forms (`fields`: more of the form, such as
    visibility); returns the post's id."""
    status, page = browser.upload("/posts/new", "images", "art.png", image)
    assert status == 200, page
    post_id = re.search(r'action="/posts/(\d+)/edit"', page).group(1)
    media_id = re.search(r'name="alt-(\d+)"', page).group(1)
    status, page = browser.post(
        f"/posts/{post_id}/edit", {"caption": caption, f"alt-{media_id}": alt, **fields}
    )
    assert status == 200, page
    return int(post_id)
