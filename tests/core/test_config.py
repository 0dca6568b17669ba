"""Configuration layers: instance config, environment, secrets, production settings."""

import pytest
from flask import Flask

from cara import create_app
from cara.core.config import load_config


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
    app = create_app(
        {
            "PRODUCTION": True,
            "SECRET_KEY": "s" * 40,
            "MEDIA_DIR": str(tmp_path),
            "BASE_URL": "https://art.example",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


def test_postgres_urls_get_the_psycopg_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/cara")
    app = Flask("t", instance_path=str(tmp_path))
    load_config(app)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/cara"
