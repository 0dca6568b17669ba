"""Abuse limits on requests: per account and per IP for each action, the 429 page, and how the
rate-limit storage is doing (docs/decisions.md, "Abuse limits")."""

import time

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse_many

from cara.core.extensions import limiter
from cara.web.htmx import notice

# action -> what the 429 page says; its limits are <ACTION>_RATE_LIMIT (per account) and
# <ACTION>_IP_RATE_LIMIT (per IP) in the config.
ACTIONS = {
    "upload": "You have uploaded a lot of images in a short time.",
    "comment": "You have written a lot of comments in a short time.",
    "follow": "You have followed a lot of accounts in a short time.",
    "report": "You have sent a lot of reports in a short time.",
    "job": "You have posted a lot of openings in a short time.",
}


def _account_key() -> str:
    """The signed-in account (logged out: the address, so the IP limit applies twice)."""
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return get_remote_address()


def uploaded_files() -> int:
    """What an upload costs: one per image sent (at least one per request)."""
    return max(1, len(request.files.getlist("images")))


def limited(action: str, cost=1):
    """Decorate a view with `action`'s per-account and per-IP limits (POST requests only).

    Views sharing an action share its counters (a new post and adding images both upload).
    """
    message = ACTIONS[action]
    keys = (("RATE_LIMIT", _account_key), ("IP_RATE_LIMIT", get_remote_address))

    def decorate(view):
        for suffix, key_func in keys:
            key = f"{action.upper()}_{suffix}"
            view = limiter.shared_limit(
                lambda key=key: current_app.config[key] or "",  # "" means no limit
                scope=key.lower(),
                key_func=key_func,
                methods=["POST"],
                cost=cost,
                error_message=message,
            )(view)
        return view

    return decorate


def wait(scope: str, limit: str, key: str, count: bool = False) -> int:
    """Seconds before `key` may act again in `scope` under `limit` ("10 per minute"; "": none),
    0 if it may now; with `count` this act is counted (when allowed). For limits on something
    known only inside the view (the server that signed an activity), beside the decorators'."""
    if not current_app.config["RATELIMIT_ENABLED"] or not limit:
        return 0
    strategy = limiter.limiter
    try:
        for item in parse_many(limit):
            allowed = strategy.hit(item, scope, key) if count else strategy.test(item, scope, key)
            if not allowed:
                reset_at, _ = strategy.get_window_stats(item, scope, key)
                return max(1, int(reset_at - time.time()))
    except Exception:  # as the limiter's own checks: trouble with its storage refuses no one
        current_app.logger.warning("rate-limit storage failed", exc_info=True)
    return 0


def too_many_requests(error):
    """The 429 page in the layout (for htmx, its message in the flash area), with Retry-After."""
    current = limiter.current_limit
    wait = max(1, current.reset_at - int(time.time())) if current else 60
    response = notice("too_many.html", "message", message=error.description, wait=_wait(wait))
    response.headers["Retry-After"] = str(wait)
    return response, 429


def _wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def storage_status() -> str:
    """How rate limits are counted: "ok", or degraded to this process's memory while the
    configured storage (Redis) is unreachable."""
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        return "ok"
    try:
        reachable = limiter.storage.check()
    except Exception:  # a health probe reports failures, it does not raise them
        reachable = False
    return "ok" if reachable else "degraded: counting in memory, storage unreachable"
