"""Background work: entry points take ids and are idempotent; enqueue() picks the runner.

Runners: RQ when REDIS_URL is set (`flask --app app worker`), else a thread in this process
("thread"), or at once inside the caller ("inline", for tests). The database row is the truth:
a sweeper re-enqueues media that is pending or whose lease ran out, so a killed worker or a
Redis outage loses nothing.
"""

import logging
import queue
import threading
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import or_, select, update

from .extensions import db
from .models import Media, MediaState, Post, PostState

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF_SECONDS = (5, 30, 120)  # before the 2nd, 3rd and 4th attempts
SWEEP_EVERY_SECONDS = 60
QUEUE_NAME = "cara"
LOW_QUEUE_NAME = "cara-low"


def now() -> datetime:
    return datetime.now(UTC)


def lease() -> timedelta:
    """How long a job may hold an image before the sweeper hands it to another worker."""
    return timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])


# --- runners ---------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        app.extensions["cara.runner"] = RQRunner(app)
    elif app.config["JOB_RUNNER"] == "inline":
        app.extensions["cara.runner"] = InlineRunner()
    else:
        app.extensions["cara.runner"] = ThreadRunner(app)


def enqueue(func, *args, delay: float = 0, low: bool = False) -> None:
    """Run `func(*args)` in the background (after `delay` seconds); `low` jobs wait for the
    others (RQ: a second queue that workers serve after the first)."""
    current_app.extensions["cara.runner"].enqueue(func, args, delay, low)


def runner_status() -> str:
    return current_app.extensions["cara.runner"].status()


def redis_connection():
    return Redis.from_url(current_app.config["REDIS_URL"])


class InlineRunner:
    """Runs each job at once (tests, CLI). Delayed retries are left to the sweeper."""

    def enqueue(self, func, args, delay, low):
        if not delay:
            func(*args)

    def status(self):
        return "inline"


class ThreadRunner:
    """One worker thread in this process, with a periodic sweep; for `make run` without Redis."""

    def __init__(self, app: Flask):
        self.app = app
        self.jobs: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def enqueue(self, func, args, delay, low):
        # One thread: jobs run in order, so a low-priority job simply waits its turn.
        self._start()
        if delay:
            timer = threading.Timer(delay, self.jobs.put, ((func, args),))
            timer.daemon = True
            timer.start()
        else:
            self.jobs.put((func, args))

    def status(self):
        return "thread"

    def _start(self):
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="cara-jobs", daemon=True)
                self.thread.start()

    def _loop(self):
        while True:
            try:
                func, args = self.jobs.get(timeout=SWEEP_EVERY_SECONDS)
            except queue.Empty:
                func, args = sweep, ()
            with self.app.app_context():
                try:
                    func(*args)
                except Exception:  # the job's own state records failures; keep the loop alive
                    log.exception("job %s%r failed", func.__name__, args)
                finally:
                    db.session.remove()


class RQRunner:
    def __init__(self, app: Flask):
        self.url = app.config["REDIS_URL"]

    def queue(self, low: bool = False):
        return Queue(LOW_QUEUE_NAME if low else QUEUE_NAME, connection=Redis.from_url(self.url))

    def enqueue(self, func, args, delay, low):
        try:
            q = self.queue(low)
            if delay:
                q.enqueue_in(timedelta(seconds=delay), func, *args)
            else:
                q.enqueue(func, *args)
        except Exception:
            # Redis is down: the row stays pending and the sweeper enqueues it later.
            log.exception("could not enqueue %s%r; the sweeper will retry", func.__name__, args)

    def status(self):
        return "rq"


class Worker(SimpleWorker):
    """Runs jobs in this process, inside the app context, so models (the ONNX classifier,
    the hash index) load once per worker rather than once per job."""

    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()  # each job starts with a fresh session


def sweep_periodically(app: Flask) -> threading.Thread:
    """A daemon thread that sweeps every SWEEP_EVERY_SECONDS (used by the RQ worker)."""

    def loop():
        while True:
            with app.app_context():
                try:
                    sweep()
                except Exception:  # a failed sweep is retried on the next tick
                    log.exception("sweep failed")
                finally:
                    db.session.remove()
            threading.Event().wait(SWEEP_EVERY_SECONDS)

    thread = threading.Thread(target=loop, name="cara-sweeper", daemon=True)
    thread.start()
    return thread


# --- media processing ------------------------------------------------------------------------


def start_processing(media: Media) -> None:
    """Lease the media (the sweeper leaves it alone until the lease ends), commit, enqueue."""
    media.lease_until = now() + lease()
    db.session.commit()
    enqueue(process_media, media.id)


def _claim(media_id: int) -> Media | None:
    """Atomically take the media for processing, unless done or leased by another worker."""
    t = now()
    result = db.session.execute(
        update(Media)
        .where(
            Media.id == media_id,
            or_(
                Media.state == MediaState.PENDING,
                (Media.state == MediaState.PROCESSING) & (Media.lease_until < t),
            ),
        )
        .values(state=MediaState.PROCESSING, lease_until=t + lease(), attempts=Media.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.get(Media, media_id) if result.rowcount == 1 else None


def process_media(media_id: int) -> None:
    """Derivatives, hashes and the AI filter for one image; then maybe finish its post."""
    from . import pipeline

    media = _claim(media_id)
    if media is None:
        return
    try:
        pipeline.process(media)
    except Exception as exc:
        db.session.rollback()
        _retry_or_fail(db.session.get(Media, media_id), exc)
        return
    media.state = MediaState.DONE
    media.lease_until = None
    media.error = ""
    db.session.commit()
    if media.post_id:
        finish_post(media.post_id)
    enqueue(make_avif, media_id, low=True)


def make_avif(media_id: int) -> None:
    """Lower-priority follow-up: AVIF derivatives, smaller than WebP but slow to encode."""
    from . import pipeline

    media = db.session.get(Media, media_id)
    if media is not None:
        pipeline.add_avif(media)
        db.session.commit()


def _retry_or_fail(media: Media, exc: Exception) -> None:
    log.warning("processing media %s failed (attempt %s): %r", media.id, media.attempts, exc)
    media.error = f"{type(exc).__name__}: {exc}"[:500]
    if media.attempts >= MAX_ATTEMPTS:
        media.state = MediaState.FAILED
        media.lease_until = None
        db.session.commit()
        if media.post_id:
            finish_post(media.post_id)
        return
    delay = BACKOFF_SECONDS[min(media.attempts, len(BACKOFF_SECONDS)) - 1]
    media.state = MediaState.PENDING
    media.lease_until = now() + timedelta(seconds=delay)  # the sweeper waits for the backoff too
    db.session.commit()
    enqueue(process_media, media.id, delay=delay)


def finish_post(post_id: int) -> None:
    """When every image of a published post is processed, apply the filter's decision."""
    from . import pipeline

    post = db.session.get(Post, post_id)
    if post is None or post.state != PostState.PENDING:
        return
    if any(m.state in (MediaState.PENDING, MediaState.PROCESSING) for m in post.media):
        return
    pipeline.finish(post)
    db.session.commit()


def retry_failed(post: Post) -> None:
    """The artist's retry button: give failed images a fresh set of attempts."""
    for media in post.media:
        if media.state == MediaState.FAILED:
            media.state, media.attempts, media.error = MediaState.PENDING, 0, ""
    if post.state == PostState.FAILED:
        post.state = PostState.PENDING
    db.session.commit()
    for media in post.media:
        if media.state == MediaState.PENDING:
            start_processing(media)


def sweep() -> int:
    """Re-enqueue media left pending or processing past its lease; finish stuck posts."""
    t = now()
    stale = db.session.scalars(
        select(Media.id).where(
            Media.state.in_([MediaState.PENDING, MediaState.PROCESSING]),
            or_(Media.lease_until.is_(None), Media.lease_until < t),
        )
    ).all()
    for media_id in stale:
        enqueue(process_media, media_id)
    stuck = db.session.scalars(select(Post.id).where(Post.state == PostState.PENDING)).all()
    for post_id in stuck:
        finish_post(post_id)
    return len(stale)
