"""Fixtures: `site`, an app of its own on SQLite or on a fresh PostgreSQL database (both are
tested whatever DATABASE_URL says: backup and restore differ per database)."""

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy.exc import OperationalError

from cara import create_app
from cara.core.extensions import db
from tests import factories
from tests.support import fresh_postgres, require_service

POSTGRES = os.environ.get("CARA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path):
    """A migrated app (inline jobs) on its own database, in its app context."""
    drop = None
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'site.sqlite'}"
    else:
        try:
            uri, drop = fresh_postgres(POSTGRES, "cara_ops")
        except OperationalError as exc:
            require_service("PostgreSQL", f"{POSTGRES}: {exc}")
    instance = tmp_path / "instance"
    instance.mkdir()
    app = create_app(factories.app_settings({"uri": uri, "instance": instance}))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()
    if drop:
        drop()
