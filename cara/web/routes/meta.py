"""Machine-facing routes: health check, metrics; the AI opt-out signals (robots.txt, ai.txt,
TDMRep)."""

import hmac
import json

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import text as sql

from cara import optout
from cara.core import tasks, text
from cara.core.extensions import db
from cara.core.policy import can_admin
from cara.ops import metrics
from cara.posting import screening
from cara.web import limits

bp = Blueprint("meta", __name__)

HOUR = 3600


def _file(body: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={HOUR}"
    return response


@bp.get("/robots.txt")
def robots_txt():
    return _file(optout.robots_txt(), "text/plain")


@bp.get("/ai.txt")
def ai_txt():
    return _file(optout.ai_txt(), "text/plain")


@bp.get("/.well-known/tdmrep.json")
def tdmrep():
    return _file(json.dumps(optout.tdmrep(optout.policy_url()), indent=2), "application/json")


@bp.get(optout.POLICY_PATH)
def tdm_policy():
    policy = optout.tdm_policy(text.site_url(), current_app.config["SITE_NAME"])
    return _file(json.dumps(policy, indent=2), "application/ld+json")


@bp.get("/about/ai")
def about_ai():
    return render_template("meta/about_ai.html")


@bp.get("/healthz")
def healthz():
    checks = {"database": _check(lambda: db.session.execute(sql("SELECT 1")))}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _check(lambda: tasks.redis_connection().ping())
    checks["jobs"] = tasks.runner_status()
    checks["rate_limits"] = limits.storage_status()
    # Queue depth is information, not a verdict: a backlog is slow, not broken.
    try:
        queues = tasks.queue_depths()
    except RedisError:  # the redis check above says so
        queues = {}
    # The AI classifier is optional: "not configured" is healthy, a broken one is not.
    checks["classifier"] = screening.classifier_status()
    healthy = ("ok", "inline", "thread", "not configured")
    failing = {name for name, c in checks.items() if c not in healthy and not c.startswith("rq")}
    # Without Redis the site still serves: jobs wait in the database, limits count in memory.
    status = "error" if failing - {"redis", "rate_limits"} else "degraded" if failing else "ok"
    body = {"status": status, "checks": checks, "queues": queues}
    return jsonify(body), 503 if status == "error" else 200


@bp.get("/metrics")
def prometheus():
    """Prometheus text: for admins, or with `Authorization: Bearer <METRICS_TOKEN>`."""
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = bool(token) and hmac.compare_digest(given.encode(), str(token).encode())
    if not (allowed or can_admin(current_user)):
        abort(404)
    body, content_type = metrics.exposition()
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return f"error: {type(exc).__name__}"
    return "ok"
