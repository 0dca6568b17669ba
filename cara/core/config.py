"""Configuration layers: defaults, then instance/config.py, then CARA_* environment variables."""

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

# Secrets shorter than this are refused in production.
MIN_SECRET_LENGTH = 32


class Defaults:
    """Values that make `make run` work on a fresh clone: SQLite, in-process jobs, local http."""

    SECRET_KEY: str | None = None
    PRODUCTION = False
    SQLALCHEMY_DATABASE_URI: str | None = None  # default: sqlite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL: str | None = None
    RATELIMIT_STORAGE_URI: str | None = None  # default: REDIS_URL if set, else memory
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute; 50 per hour"
    SIGNUP_RATE_LIMIT = "5 per minute; 30 per hour"
    MEDIA_DIR: str | None = None  # default: instance/media
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Remembers which accounts logged in on this browser (login throttling, docs/decisions.md).
    DEVICE_COOKIE_NAME = "cara_device"
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the session
    SITE_NAME = "cara"
    # Absolute URLs in images, mails and feeds. Required in production; in development the
    # server's own address, on the port in PORT (`PORT=8000 make run`), 5000 by default.
    BASE_URL: str | None = None
    # Reverse proxies in front of the app (nginx, Caddy: 1). Their X-Forwarded-For is trusted
    # for the client address that rate limits count by; 0 trusts nothing.
    PROXY_COUNT = 0
    # Password reset mail; when MAIL_SERVER is unset the link is written to the log.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 587
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = True
    MAIL_FROM = "cara@localhost"
    PASSWORD_RESET_MAX_AGE = 3600
    # Upload limits (enforced server-side).
    MAX_UPLOAD_BYTES = 20 * 1024 * 1024
    MAX_IMAGES_PER_POST = 10
    MAX_PIXELS = 50_000_000
    # Background jobs: "inline" runs them at once in the request (tests), "thread" in a
    # runner thread of this process; RQ is used whenever REDIS_URL is set.
    TASK_RUNNER = "thread"
    # A running job renews its lease every third of it; one not renewed is presumed dead.
    TASK_LEASE_SECONDS = 30
    # How often workers look for work whose lease ran out (a dead worker's, or a Redis outage's).
    TASK_SWEEP_SECONDS = 15
    # Optional ONNX classifier for the AI filter (docs/moderation.md): the model file and its
    # sidecar JSON (default: the model path with .json); relative paths are in instance/.
    CLASSIFIER_MODEL: str | None = None
    CLASSIFIER_SIDECAR: str | None = None
    # The second matching stage (local features, docs/filter.md): finds known AI images after
    # crops, rotations, frames and collages; ~33 KB of memory per known image in each worker.
    FILTER_LOCAL_FEATURES = True
    # AI opt-out enforcement (docs/ai-optout.md): 403 for the listed AI crawlers, 403 for the
    # largest image embedded on another site, no public image wider than MAX_PUBLIC_WIDTH, and
    # per-IP limits on what scrapers fetch most ("" turns a limit off).
    AI_CRAWLERS_BLOCK = True
    HOTLINK_PROTECTION = True
    MAX_PUBLIC_WIDTH = 2048
    MEDIA_RATE_LIMIT = "600 per minute; 10000 per hour"
    LISTING_RATE_LIMIT = "120 per minute; 2000 per hour"
    # Abuse limits (issue 12; docs/decisions.md "Abuse limits"). Each action has a limit per
    # account and a looser one per IP (people share addresses), Flask-Limiter syntax, "" for
    # none; uploads count images. Sign-ups are per IP (SIGNUP_RATE_LIMIT above).
    UPLOAD_RATE_LIMIT = "60 per hour; 300 per day"
    UPLOAD_IP_RATE_LIMIT = "150 per hour; 600 per day"
    COMMENT_RATE_LIMIT = "10 per minute; 300 per day"
    COMMENT_IP_RATE_LIMIT = "30 per minute; 1000 per day"
    FOLLOW_RATE_LIMIT = "30 per hour; 400 per day"
    FOLLOW_IP_RATE_LIMIT = "100 per hour; 1000 per day"
    REPORT_RATE_LIMIT = "10 per hour; 50 per day"
    REPORT_IP_RATE_LIMIT = "30 per hour; 150 per day"
    JOB_RATE_LIMIT = "5 per hour; 20 per day"
    JOB_IP_RATE_LIMIT = "15 per hour; 60 per day"
    STORAGE_QUOTA_BYTES = 2 * 1024**3  # originals per account; 0: no quota
    DRAFT_EXPIRY_DAYS = 30  # a draft untouched this long is deleted with its files; 0: never
    # While the rate-limit storage (Redis) is unreachable, count in this process's memory.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS: dict = {"socket_connect_timeout": 1, "socket_timeout": 1}

    # Security in production (docs/deploy.md, "Security"). HSTS is sent when PRODUCTION is on or
    # BASE_URL is https; HSTS_PRELOAD adds includeSubDomains and preload (hstspreload.org's
    # terms: only once every subdomain serves HTTPS). TRUSTED_HOSTS (Flask's): requests for
    # other hosts get 400; in production it defaults to BASE_URL's host.
    HSTS_MAX_AGE = 63_072_000  # two years, what the preload list asks for
    HSTS_PRELOAD = False
    TRUSTED_HOSTS: list[str] | None = None

    # Leaving with your data (docs/accounts.md): how long an export's download link lives,
    # how often an account may ask for a new one, and how long an email-change link is valid.
    EXPORT_EXPIRY_SECONDS = 7 * 24 * 3600
    EXPORT_COOLDOWN_SECONDS = 3600
    EMAIL_CHANGE_MAX_AGE = 24 * 3600

    # Media storage and serving (docs/media.md, docs/deploy.md): STORAGE "local" (MEDIA_DIR) or
    # "s3" (an S3-compatible bucket shared by every web and worker machine). MEDIA_SERVE: "app"
    # (the app sends the bytes), "accel" (local: nginx sends them after the app's checks, via
    # X-Accel-Redirect under MEDIA_ACCEL_PREFIX), "presigned" or "public-url" (s3: public
    # images are redirected to the bucket; others are always streamed by the app).
    STORAGE = "local"
    MEDIA_SERVE = "app"
    MEDIA_ACCEL_PREFIX = "/_protected_media/"
    S3_BUCKET: str | None = None
    S3_ENDPOINT_URL: str | None = None  # unset: AWS; e.g. http://127.0.0.1:9000 for MinIO
    S3_REGION = "us-east-1"
    S3_ACCESS_KEY_ID: str | None = None  # unset: boto3's own chain (env, ~/.aws, instance role)
    S3_SECRET_ACCESS_KEY: str | None = None
    S3_PREFIX = ""  # e.g. "cara/" to share a bucket
    S3_PUBLIC_URL: str | None = None  # public-url: the bucket's public base URL (or its CDN's)
    S3_PRESIGN_SECONDS = 3600

    # Admin area (docs/admin.md): defaults of the settings an admin changes in the database.
    SITE_DESCRIPTION = "A home for human-made art."
    CONTACT_EMAIL = ""  # shown on the site pages; empty: MAIL_FROM
    REGISTRATION = "open"  # open, approval, invite or closed
    CLASSIFIER_HOLD_THRESHOLD: float | None = None  # None: the sidecar's, else 0.9
    EMAIL_VERIFY_MAX_AGE = 7 * 24 * 3600  # how long a confirmation link works

    # Operations (docs/operations.md): logs as JSON lines or plain text ("auto": JSON when
    # PRODUCTION); the bearer token that may read /metrics (admins always may); the folder where
    # prometheus-client's multiprocess mode keeps each gunicorn worker's counts (unset: each
    # process counts alone, fine for one worker).
    LOG_FORMAT = "auto"
    METRICS_TOKEN: str | None = None
    METRICS_DIR: str | None = None

    # Sessions, two-factor authentication and login throttling (docs/accounts.md): a session
    # unused this many days ends; failed passwords per account (LOGIN_RATE_LIMIT counts them
    # per IP) and wrong two-factor codes per account, Flask-Limiter syntax ("" turns one off).
    SESSION_IDLE_DAYS = 30
    ACCOUNT_LOGIN_LIMIT = "10 per 15 minutes"
    TWO_FACTOR_LIMIT = "5 per 15 minutes"

    # ActivityPub federation (docs/federation.md): off until the admin turns it on.
    # FEDERATION_ALLOW_PRIVATE lets the fetcher reach loopback and private addresses over plain
    # http (two instances on one machine, in tests); it is refused in production.
    FEDERATION = False
    FEDERATION_ALLOW_PRIVATE = False
    FEDERATION_TIMEOUT = 10  # seconds, each outgoing request
    FEDERATION_MAX_BYTES = 1024 * 1024  # the largest JSON document fetched or accepted
    FEDERATION_SIGNATURE_SKEW = 300  # seconds a signed request's Date may be off
    FEDERATION_HASH_PULL_SECONDS = 900  # how often each subscribed AI-hash feed is pulled
    # How long the image URLs in a delivered followers-only Note work (cara.federation.capability).
    FEDERATION_MEDIA_SECONDS = 7 * 24 * 3600
    # The feed serves entries this many seconds old and older: a transaction that took its
    # id earlier but committed later is then not skipped by a subscriber's cursor.
    FEDERATION_HASH_FEED_SETTLE_SECONDS = 10
    # Activities accepted at the inboxes per sending server (the domain of the verified key,
    # however many addresses it sends from; a busy server uses its shared inbox); "": none.
    FEDERATION_INBOX_RATE_LIMIT = "300 per minute; 6000 per hour"
    # Inbox POSTs refused (unsigned, badly signed, not an activity) per sending address: past
    # it, a flood is turned away before any signature check or key fetch; "": none.
    FEDERATION_INBOX_REFUSED_RATE_LIMIT = "30 per minute; 300 per hour"
    # Authorized fetch (Mastodon's "secure mode"): GETs of actors, objects and collections as
    # ActivityPub must be signed by a server not blocked here (401 otherwise).
    FEDERATION_AUTHORIZED_FETCH = False


def _coerce(value: str):
    """Env values are strings; accept JSON literals (numbers, true/false, lists) too."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_config(app, test_config: dict | None = None) -> None:
    """Apply the layers in order, later ones winning."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)  # instance/config.py
    for key, value in os.environ.items():
        if key.startswith("CARA_"):
            app.config[key.removeprefix("CARA_")] = _coerce(value)
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if test_config:
        app.config.update(test_config)

    instance = Path(app.instance_path)
    cfg = app.config
    uri = cfg["SQLALCHEMY_DATABASE_URI"] or f"sqlite:///{instance / 'cara.sqlite'}"
    # Hosting providers hand out postgres:// URLs; SQLAlchemy wants a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            uri = "postgresql+psycopg://" + uri.removeprefix(prefix)
    cfg["SQLALCHEMY_DATABASE_URI"] = uri
    cfg["MEDIA_DIR"] = cfg["MEDIA_DIR"] or str(instance / "media")
    cfg["RATELIMIT_STORAGE_URI"] = cfg["RATELIMIT_STORAGE_URI"] or cfg["REDIS_URL"] or "memory://"
    # Upload requests carry up to MAX_IMAGES_PER_POST files, plus form fields.
    cfg.setdefault(
        "MAX_CONTENT_LENGTH", cfg["MAX_UPLOAD_BYTES"] * cfg["MAX_IMAGES_PER_POST"] + 1024 * 1024
    )
    if cfg["PRODUCTION"]:
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True
        secret = cfg["SECRET_KEY"] or ""
        if len(secret) < MIN_SECRET_LENGTH:
            raise RuntimeError(
                f"PRODUCTION is on but SECRET_KEY is missing or shorter than {MIN_SECRET_LENGTH} "
                "characters: set CARA_SECRET_KEY to a long random value."
            )
        if not cfg["BASE_URL"]:
            raise RuntimeError(
                "PRODUCTION is on but BASE_URL is not set: set CARA_BASE_URL to the site's "
                "public address (https://art.example); links in images, feeds and mails use it."
            )
        if cfg["TRUSTED_HOSTS"] is None:
            cfg["TRUSTED_HOSTS"] = [urlsplit(cfg["BASE_URL"]).hostname]
        if cfg["FEDERATION_ALLOW_PRIVATE"]:
            raise RuntimeError(
                "PRODUCTION is on but FEDERATION_ALLOW_PRIVATE is set: it lets other servers make "
                "this one fetch private and loopback addresses; it is for tests only."
            )
    if isinstance(cfg["TRUSTED_HOSTS"], str):  # CARA_TRUSTED_HOSTS=a.example,b.example
        cfg["TRUSTED_HOSTS"] = [h.strip() for h in cfg["TRUSTED_HOSTS"].split(",") if h.strip()]
    else:
        if not cfg["SECRET_KEY"]:
            cfg["SECRET_KEY"] = _instance_secret(instance)
        # The development server's own address, on the port it is started on.
        cfg["BASE_URL"] = cfg["BASE_URL"] or f"http://127.0.0.1:{os.environ.get('PORT', 5000)}"
    if cfg["BASE_URL"].startswith("https://"):
        _host_cookies(cfg)


def _host_cookies(cfg) -> None:
    """Over HTTPS, the __Host- prefix: the browser keeps the cookie only if it is Secure, for
    Path=/ and without Domain, so no subdomain or plain-http page can set or shadow it."""
    cfg["SESSION_COOKIE_SECURE"] = cfg["REMEMBER_COOKIE_SECURE"] = True
    cfg["SESSION_COOKIE_DOMAIN"] = cfg["REMEMBER_COOKIE_DOMAIN"] = None
    cfg["SESSION_COOKIE_PATH"] = cfg["REMEMBER_COOKIE_PATH"] = "/"
    for key, name in (
        ("SESSION_COOKIE_NAME", "session"),
        ("REMEMBER_COOKIE_NAME", "remember_token"),
        ("DEVICE_COOKIE_NAME", "cara_device"),
    ):
        name = cfg.get(key) or name
        cfg[key] = name if name.startswith("__Host-") else "__Host-" + name


def _instance_secret(instance: Path) -> str:
    """Read, or create on first run, a random secret kept in instance/secret_key (mode 0600)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret
