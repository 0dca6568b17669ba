"""cara: a self-hostable home for human-made art."""

import logging
import os

from flask import Flask, render_template
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import load_config
from .extensions import csrf, db, limiter, login_manager, migrate
from .extensions import htmx as htmx_ext  # `cara.htmx` is a module of its own


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: config layers, extensions, blueprints, CLI."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    load_config(app, test_config)
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    logging.basicConfig(level=logging.INFO)

    db.init_app(app)
    migrations = os.path.join(app.root_path, "..", "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True)  # batch: SQLite ALTERs
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx_ext.init_app(app)
    limiter.init_app(app)

    from . import assets, auth, optout, security, tasks, templating  # noqa: F401  (auth: the user loader)
    from .cli import register_cli
    from .routes import register_blueprints

    security.init_app(app)
    assets.init_app(app)  # fingerprinted, precompressed static files; HTML compression
    tasks.init_app(app)
    register_blueprints(app)
    optout.init_app(app)  # after the blueprints: it attaches their rate limits
    register_cli(app)
    app.register_error_handler(HTTPException, _http_error)
    templating.init_app(app)
    return app


def _http_error(error: HTTPException):
    """Every HTTP error gets our page, in the layout, with a plain message."""
    return render_template("error.html", error=error), error.code


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL, a busy timeout and foreign keys on every SQLite connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
