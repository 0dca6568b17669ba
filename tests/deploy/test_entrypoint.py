"""docker/entrypoint.sh, run for real: the project's venv on PATH, a temporary SQLite database.

No fixture of the suite is used: the script is what the container runs, so it is started as a
process, and what it starts (flask, gunicorn) is the real thing.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent  # .venv/bin when run as .venv/bin/python -m pytest
STEP_TIMEOUT = 120  # seconds for any one run of the script (app start-up takes a few)


def _env(tmp_path: Path, **extra: str) -> dict:
    """The environment a container gets: no inherited database, Redis or CARA_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARA_")}
    for key in ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"):
        env.pop(key, None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'cara.sqlite'}",
        # A secret and a media folder of its own, so that nothing is written to instance/.
        CARA_SECRET_KEY="x" * 48,
        CARA_MEDIA_DIR=str(tmp_path / "media"),
        CARA_WAIT_SECONDS="0",
    )
    env.update(extra)
    return env


def _run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        env=env,
        cwd="/",  # the script finds the checkout itself
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_migrate_builds_the_schema(tmp_path):
    result = _run("migrate", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    db = tmp_path / "cara.sqlite"
    assert {"alembic_version", "users", "posts", "media"} <= _tables(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_migrate_retries_then_gives_up_when_the_database_is_down(tmp_path):
    # Nothing listens on this port: every try is refused at once.
    env = _env(
        tmp_path,
        DATABASE_URL=f"postgresql://cara@127.0.0.1:{free_port()}/cara",
        CARA_WAIT_TRIES="2",
    )
    result = _run("migrate", env=env)
    assert result.returncode != 0
    assert "database upgrade failed (try 1 of 2)" in result.stderr
    assert "giving up: database upgrade failed 2 times" in result.stderr


def test_worker_waits_for_the_migrations(tmp_path):
    result = _run("worker", env=_env(tmp_path, CARA_WAIT_TRIES="2"))
    assert result.returncode != 0
    assert "giving up: waiting for migrations failed 2 times" in result.stderr


def test_worker_starts_the_worker_once_migrated(tmp_path):
    env = _env(tmp_path, CARA_WAIT_TRIES="2")
    assert _run("migrate", env=env).returncode == 0
    # Without REDIS_URL the worker command itself refuses: proof that the script got to it.
    result = _run("worker", env=env)
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr
    assert "waiting for migrations failed" not in result.stderr


def test_other_commands_are_execed_in_the_checkout(tmp_path):
    proc = subprocess.Popen(
        [str(ENTRYPOINT), "sh", "-c", 'echo "$$ $PWD"'],
        env=_env(tmp_path),
        cwd="/",
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=STEP_TIMEOUT)
    assert proc.returncode == 0
    assert out.split() == [str(proc.pid), str(ROOT)]  # same pid: exec, not a child


def test_web_migrates_and_serves_healthz_from_gunicorn(tmp_path):
    port = free_port()
    env = _env(tmp_path, CARA_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
    log = (tmp_path / "web.log").open("w")
    proc = subprocess.Popen([str(ENTRYPOINT), "web"], env=env, cwd="/", stdout=log, stderr=log)
    try:
        status, body = _wait_for_healthz(port, proc)
        assert status == 200, body
        assert json.loads(body)["checks"]["database"] == "ok"
        # The process we started is gunicorn's master (exec'd), and its worker is its child.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"gunicorn") for part in cmdline), cmdline
        assert _children(proc.pid), "no gunicorn worker under the master"
        assert "alembic_version" in _tables(tmp_path / "cara.sqlite")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    assert proc.returncode == 0, (tmp_path / "web.log").read_text()


def _wait_for_healthz(port: int, proc: subprocess.Popen, within: float = 90.0):
    """(status, body) of the first answer from /healthz; fails when none comes in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the web process exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:  # an answer all the same (503: unhealthy)
            with error:
                return error.code, error.read().decode()
        except OSError:  # refused while gunicorn starts
            time.sleep(0.3)
    raise AssertionError(f"/healthz did not answer within {within} s")


def _children(pid: int) -> list[int]:
    """Processes whose parent is pid (from /proc, Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
