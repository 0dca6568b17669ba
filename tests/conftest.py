"""Fixtures: app, client, auth, make_user, make_post, no_avif. Real services when present.

Only fixtures live here; the helpers they wrap are in tests/factories.py (and tests/support.py
for what needs no app), which is where tests import helpers from.

The database is SQLite in a temporary folder, or Postgres when DATABASE_URL is set (a fresh
database is created for the run). Migrations build the schema once per run; each test ends by
emptying every table. Redis tests use CARA_TEST_REDIS_URL (default redis://127.0.0.1:6379/15);
without Redis they are skipped, except under CI=true, where a missing service fails the run.
"""

import os

import pytest
from flask_migrate import upgrade

from cara import create_app
from cara.core.extensions import db
from cara.core.models import PostState
from tests import factories
from tests.support import MATRIX_FIGURES, fresh_postgres, smtp_server


@pytest.fixture(scope="session")
def _database(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):  # a fresh database for this run, dropped at the end
        uri, drop = fresh_postgres(base, "cara_test")
    else:
        uri, drop = f"sqlite:///{instance / 'test.sqlite'}", None
    return {"uri": uri, "instance": instance, "drop": drop}


@pytest.fixture(scope="session")
def _migrated(_database):
    app = create_app(factories.app_settings(_database))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield
    if _database["drop"]:
        _database["drop"]()


@pytest.fixture
def app_config():
    """Override in a test module (or parametrize) to change the app's configuration."""
    return {}


@pytest.fixture
def app(_database, _migrated, app_config, tmp_path):
    settings = factories.app_settings(_database, MEDIA_DIR=str(tmp_path / "media"), **app_config)
    app = create_app(settings)
    app.test_client_class = factories.IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        factories.empty_tables()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(client):
    """auth.login(username="ana", password=...) and auth.logout() for `client`."""
    return factories.Auth(client)


@pytest.fixture
def make_user(app):
    """factories.make_user: an account through sign-up."""
    return factories.make_user


@pytest.fixture
def make_post(app):
    """factories.make_post through the real pipeline (jobs run inline in tests): upload,
    describe, publish. make_post(author=None, images=None, caption="A study", publish=True,
    **form); `images` are files' bytes, one small PNG when None."""

    def make(author=None, images=None, caption="A study", publish=True, **form):
        images = images or [factories.image_bytes(size=(400, 300))]
        state = PostState.PUBLISHED if publish else PostState.DRAFT
        return factories.make_post(author, caption, images=images, state=state, **form)

    return make


@pytest.fixture
def no_avif(monkeypatch):
    """Skip the AVIF follow-up job: it is most of the encode time and plays no part in the
    filter (tests/test_media.py covers it). The filter and moderation modules use it."""
    from cara.posting import processing

    monkeypatch.setattr(processing, "make_avif", lambda media_id: None)


@pytest.fixture
def smtp(app):
    """A real local SMTP server the app mails through; yields its Inbox (tests/support.py)."""
    with smtp_server() as inbox:
        app.config.update(MAIL_SERVER=inbox.host, MAIL_PORT=inbox.port, MAIL_USE_TLS=False)
        yield inbox


def pytest_terminal_summary(terminalreporter, config):
    """The figures of the proofs that print them (tests/web/test_authorization_matrix.py)."""
    if figures := config.stash.get(MATRIX_FIGURES, None):
        terminalreporter.write_line(figures)
