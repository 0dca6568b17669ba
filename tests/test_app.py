"""The factory: health, headers, errors and proxies of the app create_app builds."""

import re

from cara import create_app


def test_healthz_reports_database_and_job_runner(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    checks = {"database": "ok", "jobs": "inline", "classifier": "not configured"}
    checks |= {"rate_limits": "ok"}
    assert response.json == {"status": "ok", "checks": checks, "queues": {}}


def test_healthz_reports_a_broken_database(tmp_path):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{bad}", "MEDIA_DIR": str(tmp_path)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["checks"]["database"].startswith("error")


def test_pages_have_strict_csp_landmarks_and_skip_link(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    for landmark in ("<header", '<nav aria-label="Main"', '<main id="main"', "<footer"):
        assert landmark in html
    assert 'href="#main">Skip to content' in html
    assert '"allowEval":false' in html and '"includeIndicatorStyles":false' in html
    assert "<style" not in html and " style=" not in html and "<script>" not in html


def test_htmx_script_is_deferred(client, app):
    html = client.get("/").get_data(as_text=True)
    assert app.jinja_env.globals["htmx_available"], "`make setup` installs htmx"
    assert re.search(r'src="[^"]*vendor/htmx\.min\.js[^"]*" defer', html)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    assert "<main" in response.get_data(as_text=True)


def test_oversized_request_is_413_not_500(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/login", data={"login": "x" * 5000, "password": "y"})
    assert response.status_code == 413


def test_proxy_count_trusts_forwarded_client_address(tmp_path):
    app = create_app({"PROXY_COUNT": 1, "MEDIA_DIR": str(tmp_path), "TESTING": True})

    @app.get("/whoami")
    def whoami():
        from flask import request

        return request.remote_addr

    headers = {"X-Forwarded-For": "203.0.113.9"}
    assert app.test_client().get("/whoami", headers=headers).text == "203.0.113.9"
