"""The real processes of a site for the proofs (gunicorn, `flask worker`), on the test app's
database and media folder, and `Visitor`: one browser over HTTP."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.factories import GOOD
from tests.support import REPO, free_port

LEASE_SECONDS = 2  # short, so a killed worker's image is handed on within seconds
SWEEP_SECONDS = 1
# Limits high enough that the load itself is never throttled (the limiter still counts in Redis).
LOOSE = "100000 per minute"
LIMITS = [
    "LOGIN_RATE_LIMIT",
    "ACCOUNT_LOGIN_LIMIT",
    "LISTING_RATE_LIMIT",
    "MEDIA_RATE_LIMIT",
    *(
        f"{a}_{k}"
        for a in ("UPLOAD", "COMMENT", "FOLLOW", "REPORT", "JOB")
        for k in ("RATE_LIMIT", "IP_RATE_LIMIT")
    ),
]


class Services:
    """Processes of one site on the test's database and media folder; each logs to a file."""

    def __init__(self, app, redis_url: str, folder: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "CARA_REDIS_URL": redis_url,
            "CARA_MEDIA_DIR": app.config["MEDIA_DIR"],
            "CARA_SECRET_KEY": app.config["SECRET_KEY"],
            "CARA_BASE_URL": self.base,
            "CARA_BIND": f"127.0.0.1:{self.port}",
            "CARA_TASK_LEASE_SECONDS": str(LEASE_SECONDS),
            "CARA_TASK_SWEEP_SECONDS": str(SWEEP_SECONDS),
            **{f"CARA_{name}": LOOSE for name in LIMITS},
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def start(self, name: str, *cmd: str, **env: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def start_web(self, workers: int) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.start(
            "web", gunicorn, "-c", "gunicorn.conf.py", "app:app", WEB_CONCURRENCY=str(workers)
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            assert self.procs["web"].poll() is None, self.log("web")[-3000:]
            time.sleep(0.3)
        raise AssertionError(f"gunicorn did not answer: {self.log('web')[-3000:]}")

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        return self.start(name, sys.executable, "-m", "flask", "--app", "app", "worker")

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.folder.glob("*.log"))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the process and its children
            proc.wait(timeout=10)


class Visitor:
    """One browser over real HTTP: its cookies, CSRF tokens from the forms, every answer kept
    as (method, path, status, seconds)."""

    def __init__(self, base: str, answers: list):
        self.base, self.answers = base, answers
        self.http = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.http.request(
                method, self.base + path, timeout=60, allow_redirects=False, **kwargs
            )
        except requests.RequestException:
            self.answers.append((method, path, 599, time.monotonic() - started))
            raise
        self.answers.append((method, path, response.status_code, time.monotonic() - started))
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def submit(self, page: str, action: str | None = None, files=None, **fields):
        """Open `page`, then post its form (to `action`, default the page) with its token."""
        html = self.get(page).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        data = {"csrf_token": token.group(1) if token else "", **fields}
        return self.request("POST", action or page, data=data, files=files)

    def login(self, username: str, password: str = GOOD) -> requests.Response:
        return self.submit("/login", login=username, password=password)

    def upload(self, image: bytes) -> int | None:
        """Upload one image, describe and publish it; the post's id (None if refused)."""
        made = self.submit("/posts/new", files={"images": ("art.png", image, "image/png")})
        if made.status_code != 303:
            return None
        edit = made.headers["Location"].removeprefix(self.base)
        html = self.get(edit).text
        alts = {name: "A study in ink" for name in re.findall(r'name="(alt-\d+)"', html)}
        published = self.submit(edit, caption="A study #ink", **alts)
        return (
            int(re.search(r"/posts/(\d+)", edit).group(1)) if published.status_code == 303 else None
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
