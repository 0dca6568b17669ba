"""Fault injection with the real services (issue 12): gunicorn, `flask worker` processes and a
redis-server of the test's own. (a) SIGKILL the job worker in the middle of 50 uploads, start
workers again: every post ends published with exactly one set of derivatives. (b) Stop Redis
while people browse, log in and upload: no 5xx, and the uploads are processed once it is back."""

import os
import signal
import time

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from cara import imaging
from cara.core import storage, tasks
from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState
from tests.factories import image_bytes, make_post, person, wait_for
from tests.proofs.stack import LEASE_SECONDS, SWEEP_SECONDS, Visitor
from tests.support import group_alive

UPLOADS = 50
KILL_AFTER = 12  # uploads before the worker is killed (it is then busy with a backlog)


def _published(post_ids: list[int]) -> int:
    query = select(func.count(Post.id)).where(
        Post.id.in_(post_ids), Post.state == PostState.PUBLISHED
    )
    return db.session.scalar(query)


def _processing() -> bool:
    return bool(db.session.scalar(select(Media.id).where(Media.state == MediaState.PROCESSING)))


def _all_done(redis_url: str, post_ids: list[int]) -> bool:
    """Both queues empty and every image's AVIF follow-up committed: no job left to write."""
    conn = Redis.from_url(redis_url)
    if any(Queue(name, connection=conn).count for name in (tasks.QUEUE_NAME, tasks.LOW_QUEUE_NAME)):
        return False
    media = db.session.scalars(select(Media).where(Media.post_id.in_(post_ids))).all()
    avif = imaging.avif_supported()
    return all(any(r["fmt"] == "avif" for r in m.renditions) or not avif for m in media)


def _derivative_sets(post_ids: list[int]) -> list[int]:
    """Per image: 1 when the files on disk are exactly its renditions, each once; else 0."""
    media = db.session.scalars(select(Media).where(Media.post_id.in_(post_ids))).all()
    ok = []
    for m in media:
        names = [r["name"] for r in m.renditions]
        files = sorted(p.name for p in storage.derivative_dir(m.id).iterdir())
        ok.append(int(len(set(names)) == len(names) and files == sorted(names)))
    return ok


@pytest.fixture
def app_config(redis_server):
    """The test's own app enqueues into the test's redis-server, with the workers' lease."""
    return {"REDIS_URL": redis_server.url, "TASK_LEASE_SECONDS": LEASE_SECONDS}


def _kill_mid_image(services, first_worker) -> tuple[int, bool]:
    """SIGKILL a worker while it processes an image, as the OOM killer would (its pid only).
    A kill that lands between two jobs interrupts nothing, so start another worker and try
    again (bounded). The interrupted image's id, and whether anything outlived the worker."""
    worker, orphaned = first_worker, False
    for attempt in range(5):
        assert wait_for(_processing, timeout=60), services.log("worker")[-3000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        # The scheduler is a thread of the worker (tasks.ThreadScheduler): nothing outlives it.
        orphaned |= wait_for(lambda pid=worker.pid: not group_alive(pid), timeout=5) is False
        db.session.expire_all()
        interrupted = db.session.scalar(
            select(Media.id).where(Media.state == MediaState.PROCESSING)
        )
        if interrupted is not None:
            return interrupted, orphaned
        worker = services.start_worker(f"worker-retry-{attempt}")
    raise AssertionError("five kills in a row landed between two jobs")


def test_killed_worker_during_50_uploads(app, services, redis_server, figures):
    ana = person("ana")
    worker = services.start_worker()
    post_ids, killed_at, interrupted, orphaned = [], None, None, None
    for i in range(UPLOADS):  # upload, describe, publish: the domain functions the views call
        image = image_bytes(size=(400, 300), color=(i * 5, 90, 200 - i))
        post_ids.append(make_post(ana, "A study", images=[image]).id)
        if i + 1 == KILL_AFTER:
            interrupted, orphaned = _kill_mid_image(services, worker)
            killed_at = i + 1
    left_by_the_dead = UPLOADS - _published(post_ids)

    restarted = time.monotonic()
    services.start_worker("worker-again")
    services.start_worker("worker-second")
    done = wait_for(lambda: _published(post_ids) == UPLOADS, timeout=240)
    recovery = time.monotonic() - restarted
    drained = wait_for(lambda: _all_done(redis_server.url, post_ids), timeout=120)
    sets = _derivative_sets(post_ids)
    renditions = {
        len(m.renditions)
        for m in db.session.scalars(select(Media).where(Media.post_id.in_(post_ids)))
    }
    retried = db.session.scalar(
        select(func.count(Media.id)).where(Media.post_id.in_(post_ids), Media.attempts > 1)
    )
    figures(
        "SIGKILL worker during uploads",
        uploads=UPLOADS,
        killed_after=killed_at,
        unpublished_at_restart=left_by_the_dead,
        published=_published(post_ids),
        one_set_of_derivatives=sum(sets),
        images_retried=retried,
        recovery_s=round(recovery, 1),
        lease_s=LEASE_SECONDS,
        sweep_s=SWEEP_SECONDS,
        scheduler_orphaned=orphaned,
    )
    assert done, services.logs()[-4000:]
    assert drained, "jobs still queued or running"
    assert sum(sets) == len(sets) == UPLOADS and len(renditions) == 1, (sets, renditions)
    assert left_by_the_dead > 0 and retried >= 1  # the kill did interrupt work
    assert db.session.get(Media, interrupted).attempts > 1  # and that image was taken up again
    assert not orphaned


BROWSE = ["/", "/latest", "/trending", "/search?q=study", "/tags/ink", "/@artist", "/login"]


def test_redis_outage_while_people_browse_log_in_and_upload(app, services, redis_server, figures):
    artist = person("artist")
    for name in ("ana", "ben", "cy"):
        person(name)
    posts = [make_post(artist, f"A study {i}", tags=["ink"]).id for i in range(3)]
    services.start_web(workers=2)
    services.start_worker()
    workers = Redis.from_url(redis_server.url)
    assert wait_for(lambda: workers.keys("rq:worker:*"), timeout=120), "the worker did not start"
    answers: list = []
    ana = Visitor(services.base, answers)
    assert ana.login("ana").status_code == 303
    before = len(answers)

    redis_server.stop()
    outage_started = time.monotonic()
    # A worker (re)started during the outage waits for Redis rather than dying.
    late = services.start_worker("late-worker")
    uploaded = []
    for round_ in range(3):
        for path in [*BROWSE, *(f"/posts/{p}" for p in posts)]:
            Visitor(services.base, answers).get(path)  # anonymous
            ana.get(path)
        for name in ("ben", "cy"):
            Visitor(services.base, answers).login(name)
        uploaded.append(ana.upload(image_bytes(size=(400, 300), color=(round_ * 60, 9, 99))))
    outage = time.monotonic() - outage_started
    during = answers[before:]
    errors = [a for a in during if a[2] >= 500]
    pending = len(uploaded) - _published(uploaded)

    waiting = wait_for(lambda: "Redis is unreachable" in services.log("late-worker"), timeout=90)
    redis_server.start()  # the same port
    processed = wait_for(lambda: _published(uploaded) == len(uploaded), timeout=120)
    alive = sum(proc.poll() is None for proc in services.procs.values())
    figures(
        "Redis outage",
        requests_during_outage=len(during),
        http_5xx=len(errors),
        outage_s=round(outage, 1),
        uploads_during_outage=len(uploaded),
        unprocessed_when_redis_returned=pending,
        published_after=_published(uploaded),
        processes_alive=f"{alive}/{len(services.procs)}",
    )
    assert not errors, errors
    refused = [a for a in during if a[2] >= 400]
    assert None not in uploaded, refused
    assert pending == len(uploaded)  # nothing ran while Redis was down
    assert processed, services.log("worker")[-4000:]
    assert waiting and late.poll() is None and alive == len(services.procs), services.logs()[-4000:]
