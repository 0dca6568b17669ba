"""Prometheus metrics (prometheus-client): request counts and latency, counted in each web
process, and the site's state (queues, held posts, failed jobs, filter decisions, processing
latency), computed from the database and Redis when /metrics is read.

Several gunicorn workers: request metrics use prometheus-client's multiprocess mode when
METRICS_DIR is set (each worker writes its own files there, a scrape adds them up; the folder
is per machine and emptied when gunicorn starts). Everything else is read from the database
at scrape time, so it is the same whichever worker or machine answers and needs no shared
state. prometheus-client picks its storage when first imported, hence the late imports."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

from redis.exceptions import RedisError
from sqlalchemy import func, select

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import Media, Post, Verdict, utcnow

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PROCESSING_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
PROCESSING_WINDOW = timedelta(hours=1)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_request_metrics: dict = {}


def init_app(app) -> None:
    """Point prometheus-client at METRICS_DIR before anything imports it."""
    folder = app.config["METRICS_DIR"]
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(MULTIPROC_ENV, folder)


def reset_dir(folder: str) -> None:
    """Empty the multiprocess folder (gunicorn's on_starting): old workers' files would
    otherwise keep adding their counts."""
    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True, exist_ok=True)


def _requests():
    if not _request_metrics:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        registry = CollectorRegistry(auto_describe=True)
        _request_metrics["registry"] = registry
        _request_metrics["count"] = Counter(
            "cara_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        _request_metrics["latency"] = Histogram(
            "cara_http_request_duration_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
    return _request_metrics


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    endpoint = endpoint or "none"  # 404s match no endpoint; one label keeps them bounded
    metrics = _requests()
    metrics["count"].labels(endpoint, method, str(status)).inc()
    metrics["latency"].labels(endpoint).observe(seconds)


def site_figures() -> dict:
    """What the site's state metrics report, as plain values (also used by /healthz)."""
    since = utcnow() - PROCESSING_WINDOW
    latencies = [
        (done - created).total_seconds()
        for created, done in db.session.execute(
            select(Media.created_at, Media.processed_at).where(Media.processed_at >= since)
        )
    ]
    count_by = lambda column: dict(  # noqa: E731
        db.session.execute(select(column, func.count()).group_by(column)).all()
    )
    try:
        queues, failed, redis_up = tasks.queue_depths(), tasks.failed_job_count(), 1
    except RedisError:  # the scrape still reports the database's figures
        queues, failed, redis_up = {}, None, 0
    return {
        "queues": queues,
        "failed_jobs": failed,
        "redis_up": redis_up,
        "posts": {str(k): v for k, v in count_by(Post.state).items()},
        "media": {str(k): v for k, v in count_by(Media.state).items()},
        "decisions": count_by(Verdict.decision),
        "processing_seconds": latencies,
    }


def _site_families(figures: dict):
    from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

    def gauge(name, doc, label, values):
        family = GaugeMetricFamily(name, doc, labels=[label] if label else [])
        for key, value in values.items():
            family.add_metric([key] if label else [], value)
        return family

    yield gauge("cara_redis_up", "1 when the job queue's Redis answered.", None,
                {"": figures["redis_up"]})  # fmt: skip
    yield gauge("cara_queue_depth", "Jobs waiting, by queue.", "queue", figures["queues"])
    if figures["failed_jobs"] is not None:
        yield gauge("cara_rq_failed_jobs", "Jobs in RQ's failed registries.", None,
                    {"": figures["failed_jobs"]})  # fmt: skip
    yield gauge("cara_posts", "Posts by state (held: awaiting review; failed: gave up).",
                "state", figures["posts"])  # fmt: skip
    yield gauge("cara_media", "Images by processing state.", "state", figures["media"])
    yield gauge("cara_filter_decisions", "The AI filter's decisions on stored images, by outcome.",
                "outcome", figures["decisions"])  # fmt: skip
    latencies = figures["processing_seconds"]
    buckets = [(str(b), sum(1 for s in latencies if s <= b)) for b in PROCESSING_BUCKETS]
    yield GaugeHistogramMetricFamily(
        "cara_processing_seconds",
        "Upload to processed, for images finished in the last hour.",
        buckets=[*buckets, ("+Inf", len(latencies))],
        gsum_value=sum(latencies),
    )


def exposition() -> tuple[bytes, str]:
    """The Prometheus text for a scrape: request metrics (all workers) and the site's state."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_requests()["count"])
        registry.register(_requests()["latency"])
    figures = site_figures()

    class Site:
        def collect(self):
            return _site_families(figures)

    registry.register(Site())
    return generate_latest(registry), CONTENT_TYPE_LATEST
