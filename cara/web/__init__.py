"""The web layer: blueprints, htmx, templates, forms, assets and response headers."""

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException


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
    """Every HTTP error gets our page, in the layout, with a plain message."""
    return render_template("error.html", error=error), error.code
