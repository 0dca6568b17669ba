"""Flask extensions, created unbound and initialised in the factory."""

import os

from flask import Flask
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    # Named constraints so Alembic migrations work the same on SQLite and Postgres.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# Database-specific search indexes made by migrations, unknown to the models (docs/social.md):
# the SQLite FTS5 table (and its shadow tables) and the Postgres GIN expression index.
SEARCH_INDEXES = ("posts_fts", "ix_posts_search")


def include_name(name, type_, parent_names) -> bool:
    """Alembic's filter: autogenerate and the models test leave the search indexes alone."""
    return not (name or "").startswith(SEARCH_INDEXES)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
limiter = Limiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    db.init_app(app)
    migrations = os.path.join(app.root_path, "..", "migrations")
    migrate.init_app(  # batch: SQLite ALTERs
        app, db, directory=migrations, render_as_batch=True, include_name=include_name
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    # Registered after Flask-SQLAlchemy's teardown, so it runs first (Flask runs them reversed).
    app.teardown_appcontext(_commit_reads)


# A transaction that only read ends with COMMIT rather than the ROLLBACK of Session.close():
# psycopg forgets its prepared statements on every rollback, so Postgres would plan every
# statement again on every request (0.75 ms for a feed's card query, twice its run time).
_ROLL_BACK = "cara.roll_back"


@event.listens_for(Engine, "begin")
def _transaction_begins(conn) -> None:
    conn.info[_ROLL_BACK] = False


@event.listens_for(Session, "after_begin")
def _session_connects(session, transaction, conn) -> None:
    session.info[_ROLL_BACK] = conn  # the connection whose statements decide


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    # Anything but a plain SELECT counts as a write (WITH may hide an UPDATE).
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[_ROLL_BACK] = True


@event.listens_for(Engine, "handle_error")
def _note_errors(context) -> None:
    # A statement that failed (even one the view caught) leaves the transaction to a rollback.
    if context.connection is not None:
        context.connection.info[_ROLL_BACK] = True


def _commit_reads(exc: BaseException | None) -> None:
    """End the app context's transaction with COMMIT when it ran nothing but SELECTs."""
    if exc is not None or not db.session.registry.has():
        return
    session = db.session()
    conn = session.info.pop(_ROLL_BACK, None)
    if conn is None or not session.in_transaction() or not session.is_active:
        return  # no connection was made: nothing to end
    if session.new or session.dirty or session.deleted:
        return
    if not conn.info.get(_ROLL_BACK, True):
        session.commit()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL, a busy timeout and foreign keys on every SQLite connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
