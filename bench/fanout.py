"""Federation fan-out: one post to 10,000 remote followers on 500 instances, through real workers.

    CARA_BENCH_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/fanout.py \
        [--followers 10000] [--instances 500] [--workers 1,2] [--latency-ms 0] [--no-shared]

On a fresh SQLite database (or DATABASE_URL's), `--followers` remote actors spread over
`--instances` servers follow one artist; every server's actors share one inbox (as Mastodon's
do), unless `--no-shared`. The inboxes are paths of one loopback HTTP server that answers 202
(after `--latency-ms`, to stand in for a remote server's answer time), so the figures are cara's
side: queueing, signing, the POSTs. For each worker count, the artist publishes a post through
the upload path and `flask worker` processes (RQ over Redis) process its image, publish it, queue
the Create{Note} for every inbox (in the worker: nothing of it is on a web request) and deliver.
Printed per run: deliveries queued, the time from the post going live to the rows being queued
and to the last delivery, deliveries per second, the workers' CPU time per delivery, and the
POSTs the servers received (each inbox exactly once).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from worker import cpu_seconds  # noqa: E402 (bench/worker.py, next to this file)


class Inboxes(ThreadingHTTPServer):
    """Every path is an inbox: counts the POSTs each receives."""

    daemon_threads = True

    def __init__(self, latency: float):
        self.latency, self.lock, self.received = latency, threading.Lock(), {}
        super().__init__(("127.0.0.1", 0), Handler)

    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.received[self.path] = self.server.received.get(self.path, 0) + 1
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def followers(db, user, inboxes: Inboxes, n: int, instances: int, shared: bool) -> None:
    """n remote actors on `instances` servers, all following `user` (accepted), in bulk."""
    from sqlalchemy import insert, select

    from cara.core.models import RemoteActor, RemoteFollow
    from cara.federation import signatures

    public, _ = signatures.new_keypair()
    base = inboxes.base()
    rows = [
        {
            "uri": f"{base}/s{i % instances}/users/u{i}",
            "username": f"u{i}",
            "domain": f"s{i % instances}.example",
            "inbox": f"{base}/s{i % instances}/users/u{i}/inbox",
            "shared_inbox": f"{base}/s{i % instances}/inbox" if shared else None,
            "key_id": f"{base}/s{i % instances}/users/u{i}#main-key",
            "public_pem": public,
        }
        for i in range(n)
    ]
    db.session.execute(insert(RemoteActor), rows)
    ids = db.session.scalars(select(RemoteActor.id)).all()
    follows = [
        dict(user_id=user.id, actor_id=a, inbound=True, activity_uri=f"f{a}", pending=False)
        for a in ids
    ]
    db.session.execute(insert(RemoteFollow), follows)
    db.session.commit()


def run(user_id: int, inboxes: Inboxes, env: dict, workers: int, image: bytes) -> dict:
    """Publish one post with `workers` worker processes running; wait for every delivery."""
    from sqlalchemy import func, select

    from cara import imaging
    from cara.core.extensions import db
    from cara.core.models import Delivery, Post, PostState, User
    from cara.posting import drafts

    flask = str(Path(sys.executable).with_name("flask"))
    procs = [
        subprocess.Popen([flask, "--app", "app", "worker"], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]  # fmt: skip
    try:
        time.sleep(4)  # the workers import and connect
        cpu_before = sum(cpu_seconds(p.pid) for p in procs)
        inboxes.received.clear()
        before = db.session.scalar(select(func.count(Delivery.id))) or 0
        user = db.session.get(User, user_id)
        post, errors = drafts.add_images(
            user, None, [drafts.Upload("fanout.png", image)], imaging.Limits(), 10
        )
        assert not errors, errors
        assert not drafts.publish(post, {"caption": "Fan-out", "alt": {post.media[0].id: "x"}})
        began = time.perf_counter()
        live_at = queued_at = None
        while True:
            time.sleep(0.05)
            db.session.remove()
            state = db.session.scalar(select(Post.state).where(Post.id == post.id))
            if live_at is None and state == PostState.PUBLISHED:
                live_at = time.perf_counter()
            rows = db.session.scalar(select(func.count(Delivery.id))) - before
            if queued_at is None and live_at and rows:
                queued_at = time.perf_counter()
            done = db.session.scalar(select(func.count(Delivery.id)).where(Delivery.done)) or 0
            if rows and done - before >= rows:
                break
            if time.perf_counter() - began > 1800:
                raise SystemExit(f"not drained after 30 min: {done - before}/{rows}")
        drained = time.perf_counter()
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        failed = db.session.scalar(
            select(func.count(Delivery.id)).where(Delivery.done, Delivery.error != "")
        )
        return {"workers": workers, "deliveries": rows, "queue_s": queued_at - live_at,
                "drain_s": drained - live_at, "cpu": cpu, "failed": failed,
                "received": sum(inboxes.received.values()),
                "inboxes_twice": sum(c > 1 for c in inboxes.received.values())}  # fmt: skip
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--no-shared", action="store_true", help="one inbox per follower")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cara-bench-fanout-"))
    redis_url = os.environ.get("CARA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    inboxes = Inboxes(args.latency_ms / 1000)
    threading.Thread(target=inboxes.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}"),
        "CARA_MEDIA_DIR": str(workdir / "media"),
        "CARA_SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "CARA_BASE_URL": "http://127.0.0.1:5000",
        "REDIS_URL": redis_url,
        "CARA_FEDERATION": "true",
        "CARA_FEDERATION_ALLOW_PRIVATE": "true",
        "CARA_FILTER_LOCAL_FEATURES": "false",
        "CARA_RATELIMIT_ENABLED": "false",
        "CARA_RATELIMIT_STORAGE_URI": "memory://",
    }
    os.environ.update(env)
    from flask_migrate import upgrade
    from PIL import Image
    from redis import Redis

    from cara import create_app
    from cara.accounts import auth
    from cara.core.extensions import db

    Redis.from_url(redis_url).flushdb()  # this bench's own database number
    app = create_app()
    with app.app_context():
        upgrade()
        user, errors = auth.register("alice", "alice@example.com", "bench-password-not-common")
        assert not errors, errors
        db.session.commit()
        began = time.perf_counter()
        followers(db, user, inboxes, args.followers, args.instances, not args.no_shared)
        user_id = user.id
        print(f"{args.followers} followers on {args.instances} servers "
              f"({'one inbox each' if args.no_shared else 'shared inboxes'}), "
              f"inserted in {time.perf_counter() - began:.1f} s; answer time "
              f"{args.latency_ms:.0f} ms", flush=True)  # fmt: skip
        print(f"{'workers':>7} {'queued':>7} {'queue s':>8} {'drain s':>8} {'deliv/s':>8} "
              f"{'CPU ms/deliv':>12} {'failed':>6} {'received':>8} {'twice':>5}")  # fmt: skip
        for i, workers in enumerate(int(w) for w in args.workers.split(",")):
            buf = io.BytesIO()
            Image.new("RGB", (640, 480), (40 * i % 255, 90, 140)).save(buf, "PNG")
            r = run(user_id, inboxes, env, workers, buf.getvalue())
            print(f"{r['workers']:>7} {r['deliveries']:>7} {r['queue_s']:>8.2f} "
                  f"{r['drain_s']:>8.2f} {r['deliveries'] / r['drain_s']:>8.1f} "
                  f"{1000 * r['cpu'] / r['deliveries']:>12.1f} {r['failed']:>6} "
                  f"{r['received']:>8} {r['inboxes_twice']:>5}", flush=True)  # fmt: skip
        db.session.remove()
        db.engine.dispose()
    inboxes.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
