"""The web layer: blueprints, htmx, templates, forms, assets and response headers."""

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
ERROR_FALLBACK = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong'
    "</title></head><body><main><h1>Something went wrong</h1><p>Please try again in a moment."
    '</p><p><a href="/">Go to the home page</a></p></main></body></html>'
)


def init_app(app: Flask) -> None:
    from cara.accounts import auth  # noqa: F401  (registers the session user loader)
    from cara.web import assets, helpers, limits, optout, security, templating
    from cara.web.routes import federation, register_blueprints

    security.init_app(app)
    assets.init_app(app)  # fingerprinted, precompressed static files; HTML compression
    helpers.init_app(app)  # the int URL converter, before any rule is added
    register_blueprints(app)
    app.register_blueprint(federation.bp)  # ActivityPub (docs/federation.md); 404 while off
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(429, limits.too_many_requests)
    templating.init_app(app)
    optout.init_app(app)  # after the blueprints: it attaches their rate limits


def _http_error(error: HTTPException):
    """Every HTTP error gets our page, in the layout, with a plain message and a way back; a
    view's own message (abort(403, "...")) is shown, Werkzeug's stock ones are replaced."""
    own = error.description if error.description != type(error).description else None
    try:
        return render_template("error.html", error=error, message=own), error.code
    except Exception:  # the layout needs the database: when that is what broke, a bare page
        log.exception("the error page failed")
        return ERROR_FALLBACK, error.code, {"Content-Type": "text/html; charset=utf-8"}
