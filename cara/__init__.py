"""cara: a self-hostable home for human-made art.

Importing `cara` (or a pure package such as `cara.imaging` or `cara.aifilter`) loads nothing
else: the web stack is imported by `create_app` only.
"""


def create_app(test_config: dict | None = None):
    """Application factory: config layers, extensions, jobs, the web layer, CLI."""
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from cara import cli, web
    from cara.core import extensions, storage, tasks
    from cara.core.config import load_config
    from cara.ops import logs, metrics
    from cara.web.routes.ops import log_fields

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
    logs.configure(app.config, log_fields)
    metrics.init_app(app)

    extensions.init_app(app)
    storage.init_app(app)
    tasks.init_app(app)
    web.init_app(app)
    cli.register_cli(app)
    return app
