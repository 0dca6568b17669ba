"""Fixtures: app, client, auth; factories make_user(), make_post(). Real services when present.

The database is SQLite in a temporary folder, or Postgres when DATABASE_URL is set (a fresh
database is created for the run). Migrations build the schema once per run; each test ends by
emptying every table. Redis tests use CARA_TEST_REDIS_URL (default redis://127.0.0.1:6379/15);
without Redis they are skipped, except under CI=true, where a missing service fails the run.
"""

import contextvars
import io
import os
import re

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from PIL import Image
from sqlalchemy import text

from cara import create_app
from cara.core.extensions import db
from tests.support import fresh_postgres

IN_CI = os.environ.get("CI") == "true"
REDIS_URL = os.environ.get("CARA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_service(name: str, reason: str):
    """Skip with a printed reason, or fail under CI where every service must be present."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


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
    app = create_app(_config(_database))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield
    if _database["drop"]:
        _database["drop"]()


def _config(database, **overrides):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
        "SQLALCHEMY_DATABASE_URI": database["uri"],
        "MEDIA_DIR": str(database["instance"] / "media"),
        "JOB_RUNNER": "inline",
        "REDIS_URL": None,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "WTF_CSRF_ENABLED": False,
        "BASE_URL": "http://cara.test",
        **overrides,
    }


@pytest.fixture
def app_config():
    """Override in a test module (or parametrize) to change the app's configuration."""
    return {}


class IsolatedClient(FlaskClient):
    """Each request runs as in production: its own app context, `g` and database session.

    The test's own session (in the fixture's app context) then sees the request's writes.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        response.get_data()  # buffer the body so a streamed file can be closed at once
        response.close()
        db.session.expire_all()
        return response


@pytest.fixture
def app(_database, _migrated, app_config, tmp_path):
    app = create_app(_config(_database, MEDIA_DIR=str(tmp_path / "media"), **app_config))
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables():
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture
def client(app):
    return app.test_client()


class Auth:
    """Log a test client in and out through the real forms."""

    def __init__(self, client):
        self.client = client

    def login(self, login="ana", password="correct horse battery"):
        return self.client.post("/login", data={"login": login, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def make_user(app):
    from cara.accounts import auth
    from cara.core.models import Role

    counter = iter(range(1, 10_000))

    def make(username=None, password="correct horse battery", role="member", **fields):
        username = username or f"artist{next(counter)}"
        user, errors = auth.register(username, f"{username}@example.com", password, role=Role(role))
        assert not errors, errors
        for key, value in fields.items():
            setattr(user, key, value)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_post(app, make_user):
    """A post through the real pipeline (jobs run inline in tests): upload, describe, publish."""
    from cara.imaging import Limits
    from cara.posting import drafts

    def make(author=None, images=None, caption="A study", publish=True, **form):
        author = author or make_user()
        uploads = [
            drafts.Upload(f"art{i}.png", data)
            for i, data in enumerate(images or [image_bytes(size=(400, 300))])
        ]
        post, errors = drafts.add_images(author, None, uploads, Limits(), max_images=10)
        assert not errors, errors
        if publish:
            alts = {m.id: f"Image {i + 1} of the study" for i, m in enumerate(post.media)}
            assert not drafts.publish(post, {"caption": caption, "alt": alts, **form})
        return post

    return make


def image_bytes(fmt="PNG", size=(64, 48), color=(200, 80, 40), **save) -> bytes:
    """A small real image built with Pillow, with some structure so hashes differ."""
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], 8):
        for y in range(0, size[1], 8):
            if (x // 8 + y // 8) % 2:
                img.putpixel((x, y), (color[2], color[0], color[1]))
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
