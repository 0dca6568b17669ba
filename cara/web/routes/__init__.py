"""Blueprints, one per area."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from cara.web.routes import (
        admin,
        auth,
        feed,
        jobs,
        media,
        meta,
        moderation,
        notifications,
        onboarding,
        ops,
        pages,
        posts,
        profiles,
        search,
        settings,
        social,
    )

    for module in (auth, onboarding, feed, media, meta, posts, profiles, settings):
        app.register_blueprint(module.bp)
    for module in (social, notifications, search, jobs):  # feeds and the social layer
        app.register_blueprint(module.bp)
    app.register_blueprint(moderation.bp)  # review queue, known hashes, appeals
    app.register_blueprint(pages.bp)  # about, rules, terms, privacy, copyright
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(ops.bp)  # failed jobs; request ids, logs and metrics
