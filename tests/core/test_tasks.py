"""Background jobs on a real Redis with a real RQ worker process: kill it mid-job, lose nothing."""

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image
from redis import Redis
from sqlalchemy import select

from cara.core import storage, tasks
from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState
from cara.imaging import Limits
from cara.posting import drafts, processing
from tests.factories import wait_for
from tests.support import REDIS_URL, REPO, empty_redis, group_alive


@pytest.fixture
def redis_url():
    return empty_redis()


@pytest.fixture
def app_config(redis_url):
    return {"REDIS_URL": redis_url, "TASK_LEASE_SECONDS": 3}


def slow_image() -> bytes:
    """A large noisy PNG: its decode takes long enough to kill the worker mid-job."""
    rnd = random.Random(7)
    small = Image.frombytes("RGB", (600, 400), rnd.randbytes(600 * 400 * 3))
    buf = io.BytesIO()
    small.resize((6000, 4000), Image.Resampling.NEAREST).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


@contextlib.contextmanager
def worker(app, *args):
    """A real `flask worker` process; yields it, then kills it and returns its output."""
    proc = _start_worker(app, *args)
    log = []
    try:
        yield proc, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its scheduler process
        log.append(proc.communicate(timeout=10)[0].decode(errors="replace")[-3000:])


def _start_worker(app, *args) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CARA_REDIS_URL": app.config["REDIS_URL"],
        "CARA_MEDIA_DIR": app.config["MEDIA_DIR"],
        "CARA_SECRET_KEY": app.config["SECRET_KEY"],
        "CARA_TASK_LEASE_SECONDS": str(app.config["TASK_LEASE_SECONDS"]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_jobs_go_through_redis_to_a_worker(app, make_user):
    user = make_user()
    upload = drafts.Upload("a.png", slow_image())
    post, errors = drafts.add_images(user, None, [upload], Limits(), max_images=10)
    assert not errors
    assert tasks.runner_status() == "rq"
    assert Redis.from_url(app.config["REDIS_URL"]).llen("rq:queue:cara") == 1
    with worker(app, "--burst") as (proc, log):
        proc.wait(timeout=120)
    media = db.session.get(Media, post.media[0].id)
    db.session.refresh(media)
    assert media.state == MediaState.DONE, log


def test_killed_worker_loses_no_upload(app, make_user):
    user = make_user()
    post, errors = drafts.add_images(
        user, None, [drafts.Upload("big.png", slow_image())], Limits(), max_images=10
    )
    assert not errors
    assert not drafts.publish(post, {"alt": {post.media[0].id: "noise"}})
    media_id, post_id = post.media[0].id, post.id

    with worker(app) as (proc, _):
        assert wait_for(lambda: db.session.get(Media, media_id).state == MediaState.PROCESSING)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-job: no chance to clean up
        proc.wait(timeout=10)
    media = db.session.get(Media, media_id)
    assert media.state == MediaState.PROCESSING and not media.renditions

    # A new worker sweeps once the dead worker's lease has run out, and finishes the job.
    time.sleep(app.config["TASK_LEASE_SECONDS"])
    with worker(app) as (_, log):
        finished = wait_for(lambda: db.session.get(Post, post_id).state == PostState.PUBLISHED)
        # The post goes live with its public names (copied before that commit); the worker
        # then deletes the old names: exactly one set of files, no temp files.
        one_set = wait_for(lambda: _files(media_id) == _names(media_id), timeout=30)
    assert finished, log
    assert one_set, (_files(media_id), _names(media_id))
    assert db.session.get(Media, media_id).attempts == 2


def _files(media_id: int) -> list[str]:
    return sorted(p.name for p in storage.derivative_dir(media_id).iterdir())


def _names(media_id: int) -> list[str]:
    return sorted(r["name"] for r in db.session.get(Media, media_id).renditions)


def test_redis_outage_loses_nothing(app, make_user):
    """Enqueueing fails while Redis is unreachable; the row stays pending for the sweeper."""
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    tasks.init_app(app)
    user = make_user()
    post, errors = drafts.add_images(
        user, None, [drafts.Upload("a.png", slow_image())], Limits(), max_images=10
    )
    assert not errors
    media = db.session.scalar(select(Media).where(Media.post_id == post.id))
    assert media.state == MediaState.PENDING
    # Redis is back: the sweeper (in the worker) enqueues it once the lease ends.
    app.config["REDIS_URL"] = REDIS_URL
    tasks.init_app(app)
    media.lease_until = None
    db.session.commit()
    assert tasks.sweep() == 1
    assert Redis.from_url(REDIS_URL).llen("rq:queue:cara") == 1


@pytest.mark.parametrize("app_config", [{"REDIS_URL": REDIS_URL}])  # the default lease
def test_killed_worker_recovers_fast_and_leaves_no_scheduler(redis_url, app, make_user):
    """Issue 12: SIGKILL a real worker mid-job (its pid only, as the OOM killer would), start a
    new one at once: with the default lease (renewed by a heartbeat while a job runs) the post
    is published within a lease and a sweep, and no scheduler child of the dead worker lives.
    Before: 305 s (the 300 s lease) and an orphaned RQ scheduler process."""
    lease = app.config["TASK_LEASE_SECONDS"]
    user = make_user()
    post, errors = drafts.add_images(
        user, None, [drafts.Upload("big.png", slow_image())], Limits(), max_images=10
    )
    assert not errors and not drafts.publish(post, {"alt": {post.media[0].id: "noise"}})
    media_id, post_id = post.media[0].id, post.id

    with worker(app) as (proc, _):
        assert wait_for(lambda: db.session.get(Media, media_id).state == MediaState.PROCESSING)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # The scheduler gets SIGTERM as its parent dies, and stops within its 1 s interval.
        assert wait_for(lambda: not group_alive(proc.pid), timeout=5), "scheduler orphaned"
    started = time.monotonic()
    with worker(app) as (_, log):
        limit = lease + app.config["TASK_SWEEP_SECONDS"] + 30  # the lease, a sweep, the job itself
        finished = wait_for(
            lambda: db.session.get(Post, post_id).state == PostState.PUBLISHED, timeout=limit
        )
    print(f"recovery after SIGKILL: {time.monotonic() - started:.1f} s (limit {limit} s)")
    assert finished, log


def test_a_running_job_keeps_its_lease(app, make_user):
    """The heartbeat renews the lease while the job runs: a sweep in the middle of a job longer
    than the lease does not hand its image to a second worker."""
    post, errors = drafts.add_images(
        make_user(), None, [drafts.Upload("a.png", slow_image())], Limits(), max_images=10
    )
    assert not errors
    media = post.media[0]
    media.state, media.lease_until = MediaState.PROCESSING, tasks.now()
    db.session.commit()
    app.config["TASK_LEASE_SECONDS"] = 1.5
    with tasks.keep_leased(lambda: processing._renew(media.id)):
        time.sleep(2)  # longer than the lease it started with
        db.session.expire_all()
        assert db.session.get(Media, media.id).lease_until > tasks.now()
        assert tasks.sweep() == 0
