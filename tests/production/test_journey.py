"""The production shape, end to end: a fresh PostgreSQL database, gunicorn with the repository's
gunicorn.conf.py (2 workers), a separate `flask worker`, Redis, real HTTP. Sign up, upload,
publish, wait until published; /metrics shows it; backup, wipe, restore; the images are back."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy.exc import OperationalError

from tests.factories import image_bytes
from tests.support import REDIS_URL, REPO, empty_redis, fresh_postgres, require_service

POSTGRES = os.environ.get("CARA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "journey-metrics-token-0123456789"
BIN = Path(sys.executable).parent
DEADLINE = 120  # seconds for any one wait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if result := predicate():
                return result
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def csrf(page: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page).group(0)
    return re.search(r'value="([^"]+)"', tag).group(1)


@pytest.fixture
def services():
    empty_redis()
    try:
        url, drop = fresh_postgres(POSTGRES, "cara_journey")
    except OperationalError as exc:
        require_service("PostgreSQL", f"{POSTGRES}: {exc}")
    yield url
    drop()


@pytest.fixture
def site(services, tmp_path):
    """env, run(cmd), start(name, cmd) and the base URL; every process is killed at the end."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": services,
        "CARA_REDIS_URL": REDIS_URL,
        "CARA_MEDIA_DIR": str(tmp_path / "media"),
        "CARA_SECRET_KEY": "journey-secret-key-long-enough-0123456789",
        "CARA_BASE_URL": f"http://127.0.0.1:{port}",
        "CARA_METRICS_TOKEN": TOKEN,
        "CARA_METRICS_DIR": str(tmp_path / "metrics"),
        "CARA_LOG_FORMAT": "json",
        "CARA_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    procs: dict[str, subprocess.Popen] = {}

    def run(*args):
        done = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=DEADLINE)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(name, *cmd):
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        procs[name] = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()  # the child has its own copy

    class Site:
        base = f"http://127.0.0.1:{port}"
        database = services

    Site.run, Site.start = staticmethod(run), staticmethod(start)
    try:
        yield Site
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wipe_database(url: str) -> None:
    """Drop the database (ending its connections) and create it again, empty."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_journey(site, tmp_path):
    site.run("db", "upgrade")
    site.start("web", str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:app")
    site.start("worker", str(BIN / "flask"), "--app", "app", "worker")
    web = requests.Session()
    wait_until(lambda: web.get(f"{site.base}/healthz", timeout=5).status_code == 200, "gunicorn")

    page = web.get(f"{site.base}/signup").text
    response = web.post(f"{site.base}/signup", data={"csrf_token": csrf(page),
                        "username": "journey", "email": "journey@example.com",
                        "password": "correct horse battery staple"})  # fmt: skip
    assert response.status_code == 200, response.text[:500]

    # No mail server here: the confirmation mail is in the web log (JSON lines).
    def mailed_link():
        found = re.findall(r"/verify/[A-Za-z0-9._-]+", (tmp_path / "web.log").read_text())
        return found[-1] if found else None

    link = wait_until(mailed_link, "the confirmation mail in the log")
    assert web.get(site.base + link).status_code == 200
    page = web.get(f"{site.base}/login").text
    response = web.post(f"{site.base}/login", data={"csrf_token": csrf(page), "login": "journey",
                        "password": "correct horse battery staple"})  # fmt: skip
    assert response.status_code == 200 and 'action="/logout"' in response.text, response.text[:500]
    page = web.get(f"{site.base}/posts/new").text
    png = image_bytes(size=(800, 600))
    response = web.post(f"{site.base}/posts/new", data={"csrf_token": csrf(page)},
                        files={"images": ("ink.png", png, "image/png")})  # fmt: skip
    edit = response.url
    assert "/edit" in edit, response.text[:500]
    media_id = re.search(r'name="alt-(\d+)"', response.text).group(1)
    response = web.post(edit, data={"csrf_token": csrf(response.text), "caption": "Ink study",
                        f"alt-{media_id}": "An ink study", "visibility": "public"})  # fmt: skip
    post_url = response.url
    assert re.fullmatch(rf"{site.base}/posts/\d+", post_url), response.text[:500]

    def published():
        page = requests.get(post_url, timeout=5)  # anonymous: only a published post shows
        return page.status_code == 200 and f"/media/{media_id}/" in page.text and page.text

    page = wait_until(published, "the worker to publish the post")
    derivative = re.search(rf'/media/{media_id}/[^"\s,]+', page).group(0)
    assert requests.get(site.base + derivative, timeout=5).status_code == 200

    for _ in range(10):  # spread over both gunicorn workers
        assert requests.get(f"{site.base}/healthz", timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    metrics = requests.get(f"{site.base}/metrics", headers=bearer, timeout=5)
    assert metrics.status_code == 200
    assert requests.get(f"{site.base}/metrics", timeout=5).status_code == 404
    text = metrics.text
    # Every request of both workers is counted (multiprocess mode): our 10, and the first poll.
    assert metric(text, "cara_http_requests_total", endpoint="meta.healthz", status="200") >= 11
    assert metric(text, "cara_http_requests_total", endpoint="posts.edit", method="POST") == 1
    assert metric(text, "cara_posts", state="published") == 1
    assert metric(text, "cara_processing_seconds_gcount") == 1
    assert metric(text, "cara_queue_depth", queue="cara") == 0

    backup = tmp_path / "backup"
    assert "Backed up the postgresql database" in site.run("backup", str(backup))
    wipe_database(site.database)
    shutil.rmtree(tmp_path / "media")
    assert requests.get(site.base + derivative, timeout=5).status_code != 200
    assert "Restored the backup" in site.run("restore", str(backup))
    assert f"/media/{media_id}/" in requests.get(post_url, timeout=5).text
    assert requests.get(site.base + derivative, timeout=5).status_code == 200
