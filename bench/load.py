"""Load test: a mixed signed-in workload on gunicorn + Postgres + Redis (run by hand, ~4 min).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/6 \\
      .venv/bin/python bench/load.py [--members 40] [--seconds 90] [--posts 20000]

Builds bench/feed.py's database in a fresh Postgres database (dropped at the end), serves it
with gunicorn (2 sync workers) and one RQ worker (`flask worker`) on loopback, and runs
locust headless (bench/locustfile.py: browse 70 %, like/comment 20 %, upload 10 %) with a
fixed number of members for a fixed time. Prints requests, errors and p50/p95/p99 per endpoint,
then how many uploads the worker had published by the end. Exits 1 on any error.

Loopback only: the URLs must name 127.0.0.1 or localhost. REDIS_URL must be a database nobody
else uses (its queues get this run's jobs). Needs `pip install -e '.[bench]'` (locust).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.feed import free_port, populate, wait_for  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def loopback(url: str, what: str) -> str:
    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit(f"{what} must be on loopback (127.0.0.1), not {url}")
    return url


def published_uploads(database: str) -> tuple[int, int]:
    """(published, still processing) among the posts the load test made (ids past the bench's)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT media.state, count(*) FROM media JOIN posts ON posts.id = media.post_id "
                "WHERE posts.caption LIKE 'Load test%' GROUP BY media.state"
            )
        ).all()
    engine.dispose()
    counts = {str(state).lower(): n for state, n in rows}
    done = counts.pop("done", 0)
    return done, sum(counts.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=40, help="simulated signed-in members")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=1_000)
    args = parser.parse_args()
    base_db = loopback(os.environ.get("DATABASE_URL", ""), "DATABASE_URL (Postgres)")
    redis = loopback(os.environ.get("REDIS_URL", ""), "REDIS_URL")
    if not base_db.startswith("postgres") or not shutil.which("locust", path=REPO / ".venv/bin"):
        raise SystemExit("needs DATABASE_URL=postgresql://... and locust (.[bench])")

    from tests.support import fresh_postgres

    database, drop = fresh_postgres(base_db, "cara_load")
    workdir = Path(tempfile.mkdtemp(prefix="cara-load-"))
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "CARA_MEDIA_DIR": str(workdir / "media"),
        "CARA_SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "CARA_RATELIMIT_ENABLED": "false",  # one account per member, far busier than a person
        "CARA_RATELIMIT_STORAGE_URI": "memory://",
        "CARA_LOAD_USERS": str(args.users),
        "CARA_LOAD_POSTS": str(args.posts),
        "PYTHONPATH": str(REPO),
    }
    processes = []
    try:
        os.environ.update(env)
        from cara import create_app

        started = time.perf_counter()
        populate(create_app(), args.posts, args.users)
        print(f"database: {args.posts:,} posts in {time.perf_counter() - started:.0f} s (Postgres)")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        venv = REPO / ".venv/bin"
        quiet = {"cwd": REPO, "env": env, "stderr": subprocess.DEVNULL}
        processes.append(
            subprocess.Popen(
                [venv / "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
                stdout=subprocess.DEVNULL,
                **quiet,
            )
        )
        processes.append(
            subprocess.Popen(
                [venv / "flask", "--app", "app", "worker"], stdout=subprocess.DEVNULL, **quiet
            )
        )
        wait_for(base)
        timings = workdir / "timings.json"
        env["CARA_LOAD_TIMINGS"] = str(timings)
        print(f"locust: {args.members} members for {args.seconds} s on {base}\n")
        subprocess.run(
            [
                venv / "locust",
                "-f",
                REPO / "bench/locustfile.py",
                "--headless",
                "--only-summary",
                "--users",
                str(args.members),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{args.seconds}s",
                "--host",
                base,
                "--loglevel",
                "WARNING",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its own summary: the figures are printed below
            check=False,  # locust exits 1 when a request failed: reported below
        )
        errors = report(timings, args.seconds)
        time.sleep(5)  # the worker's last jobs
        done, waiting = published_uploads(database)
        print(f"\nuploads: {done} images processed, {waiting} still waiting 5 s after the run")
        return 1 if errors else 0
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(path: Path, seconds: int) -> int:
    """Print requests, errors and p50/p95/p99 per endpoint (bench/locustfile.py's record of
    every request); return the number of errors."""
    data = json.loads(path.read_text())
    timings = {name: sorted(ms) for name, ms in data["timings"].items()}
    every = sorted(ms for values in timings.values() for ms in values)
    failed = Counter(error.split(":", 1)[0] for error in data["errors"])
    print(f"{'endpoint':<34}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}")
    for name, ms in sorted(timings.items()) + [("all", every)]:
        errors = failed[name] if name != "all" else len(data["errors"])
        p50, p95, p99 = (ms[min(len(ms) - 1, int(len(ms) * q))] for q in (0.5, 0.95, 0.99))
        print(
            f"{name:<34}{len(ms):>9}{errors:>8}{len(ms) / seconds:>8.1f}"
            f"{p50:>7.0f}{p95:>7.0f}{p99:>7.0f}"
        )
    print("(milliseconds)")
    for error in sorted(set(data["errors"]))[:20]:
        print(f"error: {error}")
    return len(data["errors"])


if __name__ == "__main__":
    sys.exit(main())
