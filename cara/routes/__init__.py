"""Blueprints, one per area."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import auth, feed, media, meta, posts, profiles, settings

    for module in (auth, feed, media, meta, posts, profiles, settings):
        app.register_blueprint(module.bp)
