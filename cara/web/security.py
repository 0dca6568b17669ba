"""Response headers every page gets (a strict Content-Security-Policy, HSTS, cross-origin
isolation) and the Host check's exception for local health probes."""

from ipaddress import ip_address
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g
from werkzeug.exceptions import SecurityError

# No 'unsafe-inline' or 'unsafe-eval': htmx is configured by a <meta> tag, styles live in one
# stylesheet, and there is no inline script.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEALTHZ = "/healthz"
# The answer to a Host not in TRUSTED_HOSTS. Not our templated error page: with no trusted host
# there is no URL adapter, so the layout's links cannot be built.
UNTRUSTED_HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bad request</title></head>
<body><main><h1>Bad request</h1>
<p>This server does not serve the site named in the request's Host header.</p></main></body>
</html>
"""


def hsts(config) -> str | None:
    """The Strict-Transport-Security value, or None when the site is not served over HTTPS."""
    if not (config["PRODUCTION"] or config["BASE_URL"].startswith("https://")):
        return None
    value = f"max-age={int(config['HSTS_MAX_AGE'])}"
    return value + "; includeSubDomains; preload" if config["HSTS_PRELOAD"] else value


def resource_policy(value: str) -> None:
    """Let this response be loaded by other sites ("cross-origin") or only by ours
    ("same-site"); everything else stays "same-origin"."""
    g.resource_policy = value


def _headers(response):
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault(
        "Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    )
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Cross-Origin-Resource-Policy", g.get("resource_policy", "same-origin"))
    if value := hsts(current_app.config):
        h.setdefault("Strict-Transport-Security", value)
    # Every HTTP server writes its own Date (werkzeug's and gunicorn's do, unconditionally);
    # the one send_file's conditional handling adds would be a second.
    h.pop("Date", None)
    return response


def _untrusted_host(error: SecurityError):
    return Response(UNTRUSTED_HOST_PAGE, 400, mimetype="text/html")


def _local_healthcheck(wsgi_app, host: str):
    """Answer a probe of /healthz from this machine (a container's HEALTHCHECK, `curl
    127.0.0.1:8000/healthz`) whatever Host it sends, as if for BASE_URL's host: TRUSTED_HOSTS
    would refuse it. Requests through a proxy carry X-Forwarded-For and are left alone."""

    def app(environ, start_response):
        if (
            environ.get("PATH_INFO") == HEALTHZ
            and "HTTP_X_FORWARDED_FOR" not in environ
            and _loopback(environ.get("REMOTE_ADDR"))
        ):
            environ["HTTP_HOST"] = host
        return wsgi_app(environ, start_response)

    return app


def _loopback(address: str | None) -> bool:
    try:
        return ip_address(address or "").is_loopback
    except ValueError:
        return False


def init_app(app: Flask) -> None:
    app.after_request(_headers)
    app.register_error_handler(SecurityError, _untrusted_host)
    if app.config["TRUSTED_HOSTS"]:
        app.wsgi_app = _local_healthcheck(app.wsgi_app, urlsplit(app.config["BASE_URL"]).netloc)
