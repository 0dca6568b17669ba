"""The factory, configuration layers, database connections, health, headers and errors."""

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import text

from cara import create_app
from cara.core.config import load_config
from cara.core.extensions import db


def test_env_overrides_instance_config_and_defaults(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("SITE_NAME = 'from instance'\nMAX_PIXELS = 1\n")
    monkeypatch.setenv("CARA_MAX_PIXELS", "1234")
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6379/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)  # set by the PostgreSQL pass of the suite
    app = Flask("t", instance_path=str(tmp_path), instance_relative_config=True)
    load_config(app)
    assert app.config["SITE_NAME"] == "from instance"
    assert app.config["MAX_PIXELS"] == 1234  # env wins, parsed as a number
    assert app.config["REDIS_URL"] == "redis://example.invalid:6379/0"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://example.invalid:6379/0"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'cara.sqlite'}"


def test_secret_key_generated_once_into_instance(tmp_path):
    first = Flask("t", instance_path=str(tmp_path))
    load_config(first)
    second = Flask("t", instance_path=str(tmp_path))
    load_config(second)
    secret_file = tmp_path / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("secret", [None, "short"])
def test_production_refuses_missing_or_short_secret(tmp_path, secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"PRODUCTION": True, "SECRET_KEY": secret, "MEDIA_DIR": str(tmp_path)})


def test_production_cookies_are_secure(tmp_path):
    app = create_app({"PRODUCTION": True, "SECRET_KEY": "s" * 40, "MEDIA_DIR": str(tmp_path)})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


def test_postgres_urls_get_the_psycopg_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/cara")
    app = Flask("t", instance_path=str(tmp_path))
    load_config(app)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/cara"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only apply to SQLite")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_match_the_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], "models changed without a migration: flask --app app db migrate"


def test_healthz_reports_database_and_job_runner(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    checks = {"database": "ok", "jobs": "inline", "classifier": "not configured"}
    assert response.json == {"status": "ok", "checks": checks}


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


def test_htmx_script_is_deferred_when_installed(client, app):
    html = client.get("/").get_data(as_text=True)
    if app.jinja_env.globals["htmx_available"]:
        assert re.search(r'src="[^"]*vendor/htmx\.min\.js[^"]*" defer', html)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Not Found" in response.get_data(as_text=True)
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


def test_migrations_downgrade_to_base_and_back(tmp_path):
    from flask_migrate import downgrade, upgrade

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite'}",
            "MEDIA_DIR": str(tmp_path),
        }
    )
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "posts" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
