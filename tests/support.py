"""Shared test helpers that need no app: where the real fixture images live."""

import csv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Real images in the repository: sources and licences in its README.md and MANIFEST.csv.
AI_FILTER_FIXTURES = REPO / "tests" / "fixtures" / "ai-filter"


def fixture_manifest() -> list[dict[str, str]]:
    """Rows of MANIFEST.csv (file, label, signal, source, license, note)."""
    with open(AI_FILTER_FIXTURES / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))


def fresh_postgres(url: str, prefix: str):
    """Create a new database next to the one `url` names; return (its URL, a drop function).

    Tests and benchmarks use it so they never touch the database DATABASE_URL points at.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgres://", "postgresql://", 1)).set(
        drivername="postgresql+psycopg"
    )
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return parsed.set(database=name).render_as_string(hide_password=False), drop
