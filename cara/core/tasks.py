"""Background work: entry points take ids and are idempotent; enqueue() picks the runner.

Runners: RQ when REDIS_URL is set (`flask --app app worker`), else a thread in this process
("thread"), or at once inside the caller ("inline", for tests). The database row is the truth:
sweepers (registered by the domain, e.g. media processing) re-enqueue work whose lease ran out,
so a killed worker or a Redis outage loses nothing. This module knows no domain.
"""

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry
from rq.scheduler import RQScheduler

from cara.core.extensions import db

log = logging.getLogger(__name__)

# With the lease (TASK_LEASE_SECONDS, kept alive by keep_leased while a job runs), the sweep
# interval (TASK_SWEEP_SECONDS) bounds how long work a dead worker held waits: at most a lease
# plus a sweep.
QUEUE_NAME = "cara"
LOW_QUEUE_NAME = "cara-low"


def now() -> datetime:
    return datetime.now(UTC)


def lease() -> timedelta:
    """How long a job may hold its subject before a sweeper hands it to another worker."""
    return timedelta(seconds=current_app.config["TASK_LEASE_SECONDS"])


@contextlib.contextmanager
def keep_leased(renew: Callable[[], None]):
    """While the block runs, call `renew` (which extends the job's lease) every third of a
    lease, in a thread with its own session: a long job keeps its lease, while a killed
    worker's lease lapses quickly so a sweep hands the work on."""
    app = current_app._get_current_object()
    stop = threading.Event()

    def beat():
        while not stop.wait(app.config["TASK_LEASE_SECONDS"] / 3):
            with app.app_context():
                try:
                    renew()
                    db.session.commit()
                except Exception:  # a missed beat is retried; the lease has slack for two
                    log.warning("could not extend a lease", exc_info=True)
                finally:
                    db.session.remove()

    thread = threading.Thread(target=beat, name="cara-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        # Not joined: a beat may be waiting for a row lock this job's transaction holds.
        stop.set()


# Domain modules register what a sweep does (re-enqueue stuck media, finish stuck posts...).
_sweepers: list[Callable[[], int]] = []


def sweeper(func: Callable[[], int]) -> Callable[[], int]:
    """Register `func` (returns how many things it re-enqueued) to run on every sweep."""
    _sweepers.append(func)
    return func


def sweep() -> int:
    """Run every registered sweeper; return the total they re-enqueued."""
    return sum(func() for func in _sweepers)


# --- runners ---------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        app.extensions["cara.runner"] = RQRunner(app)
    elif app.config["TASK_RUNNER"] == "inline":
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


def queue_depths() -> dict[str, int]:
    """Jobs waiting, by queue (RQ's queues, or the in-process thread's)."""
    return current_app.extensions["cara.runner"].depths()


def failed_job_count() -> int | None:
    """Jobs in RQ's failed registries (None without RQ: a thread's failures are only logged)."""
    return current_app.extensions["cara.runner"].failed()


class InlineRunner:
    """Runs each job at once (tests, CLI). Delayed retries are left to the sweeper."""

    def enqueue(self, func, args, delay, low):
        if not delay:
            func(*args)

    def status(self):
        return "inline"

    def depths(self):
        return {}

    def failed(self):
        return None


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

    def depths(self):
        return {"thread": self.jobs.qsize()}

    def failed(self):
        return None

    def _start(self):
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="cara-jobs", daemon=True)
                self.thread.start()

    def _loop(self):
        while True:
            try:
                func, args = self.jobs.get(timeout=self.app.config["TASK_SWEEP_SECONDS"])
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

    def depths(self):
        return {
            name: self.queue(low).count
            for name, low in ((QUEUE_NAME, False), (LOW_QUEUE_NAME, True))
        }

    def failed(self):
        return sum(FailedJobRegistry(queue=self.queue(low)).count for low in (False, True))


class _SchedulerThread(threading.Thread):
    pid = None  # RQ signals a forked scheduler's pid to stop it: a thread is asked instead


class ThreadScheduler(RQScheduler):
    """RQ's scheduler (delayed retries) as a thread of the worker rather than a forked child:
    the child was a second copy of the warmed-up worker (about 100 MB of RSS)."""

    def start(self):
        self._status = self.Status.STARTED
        self._process = _SchedulerThread(target=self.work, name="rq-scheduler", daemon=True)
        self._process.start()
        return self._process

    def _install_signal_handlers(self):
        pass  # signals reach the main thread only; Worker.stop_scheduler stops this one


class Worker(SimpleWorker):
    """Runs jobs in this process, inside the app context, so models (the ONNX classifier,
    the hash index) load once per worker rather than once per job; its scheduler is a thread."""

    def _start_scheduler(self, burst=False, logging_level="INFO", *args, **kwargs):
        if burst:  # RQ then enqueues what is due once, in this process
            return super()._start_scheduler(burst, logging_level, *args, **kwargs)
        self.scheduler = ThreadScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks(auto_start=True)

    def stop_scheduler(self):
        self.scheduler.request_stop()  # it releases its locks on its next turn
        if self.scheduler._process is not None:
            self.scheduler._process.join(timeout=self.scheduler.interval + 5)

    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()  # each job starts with a fresh session


def wait_for_redis(conn: Redis, longest: float = 5.0) -> None:
    """Return once Redis answers: a worker started during an outage waits for it (and says so)
    instead of dying, which would leave the uploads made meanwhile for another worker."""
    delay = 0.5
    while True:
        try:
            conn.ping()
            return
        except RedisError as exc:
            log.warning("Redis is unreachable (%s); trying again in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, longest)


def redis_eviction_warning(conn: Redis) -> str | None:
    """A warning when Redis may evict keys (queued jobs would vanish), else None."""
    try:
        policy = conn.config_get("maxmemory-policy").get("maxmemory-policy")
    except Exception:  # managed Redis services often forbid CONFIG
        return "could not read Redis's maxmemory-policy; make sure it is noeviction"
    if policy != "noeviction":
        return (
            f"Redis's maxmemory-policy is {policy!r}: under memory pressure it may drop queued "
            "jobs; set it to noeviction"
        )
    return None


def sweep_periodically(app: Flask) -> threading.Thread:
    """A daemon thread that sweeps every TASK_SWEEP_SECONDS (used by the RQ worker)."""

    def loop():
        while True:
            with app.app_context():
                try:
                    sweep()
                except Exception:  # a failed sweep is retried on the next tick
                    log.exception("sweep failed")
                finally:
                    db.session.remove()
            threading.Event().wait(app.config["TASK_SWEEP_SECONDS"])

    thread = threading.Thread(target=loop, name="cara-sweeper", daemon=True)
    thread.start()
    return thread
