"""Configuration layers: defaults, then instance/config.py, then CARA_* environment variables."""

import json
import os
import secrets
from pathlib import Path

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
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the session
    SITE_NAME = "cara"
    BASE_URL = "http://127.0.0.1:5000"  # absolute URLs in images, mails and feeds
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
    TASK_LEASE_SECONDS = 300  # a job holding an image longer is presumed dead and re-run
    # Optional ONNX classifier for the AI filter (docs/moderation.md): the model file and its
    # sidecar JSON (default: the model path with .json); relative paths are in instance/.
    CLASSIFIER_MODEL: str | None = None
    CLASSIFIER_SIDECAR: str | None = None
    # AI opt-out enforcement (docs/ai-optout.md): 403 for the listed AI crawlers, 403 for the
    # largest image embedded on another site, no public image wider than MAX_PUBLIC_WIDTH, and
    # per-IP limits on what scrapers fetch most ("" turns a limit off).
    AI_CRAWLERS_BLOCK = True
    HOTLINK_PROTECTION = True
    MAX_PUBLIC_WIDTH = 2048
    MEDIA_RATE_LIMIT = "600 per minute; 10000 per hour"
    LISTING_RATE_LIMIT = "120 per minute; 2000 per hour"
    # Sessions, two-factor authentication and login throttling (docs/accounts.md): a session
    # unused this many days ends; failed passwords per account (LOGIN_RATE_LIMIT counts them
    # per IP) and wrong two-factor codes per account, Flask-Limiter syntax ("" turns one off).
    SESSION_IDLE_DAYS = 30
    ACCOUNT_LOGIN_LIMIT = "10 per 15 minutes"
    TWO_FACTOR_LIMIT = "5 per 15 minutes"


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
    elif not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(instance)


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
