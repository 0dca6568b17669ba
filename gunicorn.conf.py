"""Gunicorn settings for cara: `gunicorn -c gunicorn.conf.py app:app`.

Meant to sit behind a buffering reverse proxy (nginx, or Caddy with request/response buffers;
see deploy/ and docs/deploy.md): sync workers are cheap and predictable, but one slow client
holds one worker for as long as its bytes take, so the proxy must absorb slow uploads and
downloads and talk to gunicorn over loopback or a private network.
"""

import os


def _cpu_count() -> int:
    """CPUs this process may run on (honours taskset/cpusets; not a cgroup CPU quota)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# The usual 2 * cores + 1, capped: each worker loads the app (numpy, onnxruntime, faiss), so
# memory, not CPU, is what runs out first on a small VPS. WEB_CONCURRENCY (the name Heroku and
# others use) overrides, e.g. under a container CPU quota that sched_getaffinity cannot see.
MAX_AUTO_WORKERS = 8
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * _cpu_count() + 1, MAX_AUTO_WORKERS))
worker_class = "sync"

# Loopback by default: only the proxy on the same machine should reach gunicorn. The
# container image sets CARA_BIND=0.0.0.0:8000 so that the proxy container can.
bind = os.environ.get("CARA_BIND", "127.0.0.1:8000")

# Requests only parse, query and render (image work runs in the job workers), so 30 s is
# generous; a worker stuck longer is killed and replaced. graceful_timeout lets in-flight
# requests finish on a restart or deploy. keepalive is short: the proxy keeps few upstream
# connections, and a sync worker is busy while it holds one open.
timeout = 30
graceful_timeout = 30
keepalive = 5

# Recycle each worker after a few thousand requests, at different times (jitter), so that a
# slow leak in a C extension cannot grow without bound and workers never restart together.
max_requests = 2000
max_requests_jitter = 200

# preload_app stays off: with it the master imports the app once and forks, saving memory,
# but the database engine and the Redis connection pools would be created before the fork and
# shared by every worker, and `kill -HUP` (a reload) would not pick up new code. Each worker
# importing the app itself costs a few seconds at start and some memory, and is always safe.
preload_app = False

# Access log to stdout (journald or `docker logs` keep it), error log to stderr. The format:
# client, "request line", status, bytes, duration in ms, referrer, user agent.
accesslog = "-"
errorlog = "-"
loglevel = "info"  # GUNICORN_CMD_ARGS="--log-level debug" overrides any setting here
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(f)s" "%(a)s"'

# Only the proxy may set X-Forwarded-Proto (gunicorn turns it into wsgi.url_scheme). The app
# itself decides which X-Forwarded-For hop to believe (CARA_PROXY_COUNT, werkzeug's ProxyFix).
# Loopback by default; set FORWARDED_ALLOW_IPS to the proxy's address when it is another
# machine or container (compose does: the proxy's address is not known in advance there).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The Server header: gunicorn 23 always sends `Server: gunicorn` (no version; the version is
# only in the WSGI environ's SERVER_SOFTWARE) and has no setting to drop it. The proxies in
# deploy/ hide it (nginx does not pass an upstream's Server; the Caddyfiles remove it).

# Worker heartbeats are files touched every second: /dev/shm keeps them off a slow or
# read-only disk (gunicorn's own advice for containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Empty prometheus-client's multiprocess folder (CARA_METRICS_DIR, docs/operations.md):
    files of workers from an earlier run would otherwise keep adding their counts."""
    folder = os.environ.get("CARA_METRICS_DIR")
    if folder:
        from cara.ops.metrics import reset_dir

        reset_dir(folder)
