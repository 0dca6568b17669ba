"""The database: SQLite connection settings, migrations against the models and back."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import DBAPIError

from cara import create_app
from cara.core.extensions import SEARCH_INDEXES, db, include_name
from cara.core.models import Setting, Tag


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only apply to SQLite")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_match_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], "models changed without a migration: flask --app app db migrate"


def test_the_search_indexes_exist_beside_the_models(app):
    """The full-text indexes are the migrations' alone: the models (and so the diff above,
    through include_name) do not know them, but the database must hold them."""
    inspector = db.inspect(db.engine)
    if db.engine.dialect.name == "postgresql":
        names = {i["name"] for i in inspector.get_indexes("posts")}
    else:
        names = set(inspector.get_table_names())
        with db.engine.connect() as conn:
            triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            assert {"posts_fts_insert", "posts_fts_update", "posts_fts_delete"} <= set(
                triggers.scalars()
            )
    assert set(SEARCH_INDEXES) & names
    assert not any(name.startswith(SEARCH_INDEXES) for name in db.metadata.tables)


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


def test_a_context_that_only_read_commits_and_one_that_wrote_rolls_back(app):
    """Reads end with COMMIT (psycopg keeps its prepared statements; a ROLLBACK drops them);
    anything written and not committed is still rolled back, as is a context that failed."""
    ends = []
    event.listen(db.engine, "commit", lambda conn: ends.append("commit"))
    event.listen(db.engine, "rollback", lambda conn: ends.append("rollback"))

    def ended(work) -> list:
        ends.clear()
        with app.app_context():
            work()
        return list(ends)

    assert ended(lambda: db.session.execute(select(Tag.id)).all()) == ["commit"]
    assert ended(lambda: None) == []  # no query, no transaction
    assert ended(lambda: (db.session.add(Tag(name="flushed")), db.session.flush())) == ["rollback"]
    assert ended(lambda: db.session.add(Tag(name="pending"))) == []  # never sent
    core_write = insert(Setting).values(key="site_name", value='"x"')
    assert ended(lambda: db.session.execute(core_write)) == ["rollback"]

    def caught_failure():
        db.session.execute(select(Tag.id)).all()
        with pytest.raises(DBAPIError):
            db.session.execute(text("SELECT nothing FROM no_such_table"))

    assert ended(caught_failure) == ["rollback"]
    ends.clear()
    with pytest.raises(RuntimeError), app.app_context():
        db.session.execute(select(Tag.id)).all()
        raise RuntimeError("the view failed")
    assert ends == ["rollback"]
    assert db.session.scalars(select(Tag.name)).all() == []
    assert db.session.scalars(select(Setting.key)).all() == []
