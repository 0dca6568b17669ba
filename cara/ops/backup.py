"""Backups: the database (SQLite's online backup API, or pg_dump) plus the media folder, with a
manifest of checksums; restore verifies every checksum before it touches anything."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from cara.core import storage
from cara.core.extensions import db

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA = "media"
DUMPS = {"sqlite": "database.sqlite", "postgresql": "database.dump"}


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    kind: str  # "sqlite" or "postgresql"
    revision: str | None  # the Alembic revision of the backed-up schema
    created_at: str
    files: list[dict]  # {"path", "size", "sha256"}, paths relative to the backup folder

    def as_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "created_at": self.created_at,
                "alembic_revision": self.revision,
                "database": self.kind,
                "files": self.files,
            },
            indent=2,
        )


def database_kind() -> str:
    name = db.engine.dialect.name
    if name not in DUMPS:
        raise BackupError(f"cannot back up a {name} database (SQLite and PostgreSQL only)")
    return name


def _libpq_url() -> str:
    """The database URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    url = make_url(db.engine.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        ) from None
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"{command[0]} failed: {exc.stderr.strip()[-2000:]}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def revision() -> str | None:
    if not inspect(db.engine).has_table("alembic_version"):
        return None
    return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def backup(dest: Path) -> Manifest:
    """Write the database, the media and manifest.json into `dest` (new or empty)."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    kind = database_kind()
    dump = dest / DUMPS[kind]
    rev = revision()
    db.session.remove()  # no transaction of ours holds the database while it is copied
    if kind == "sqlite":
        # The online backup API copies a consistent snapshot while the site keeps writing.
        source = sqlite3.connect(db.engine.url.database)
        target = sqlite3.connect(dump)
        try:
            with target:
                source.backup(target)
        finally:
            source.close()
            target.close()
    else:
        _run(
            ["pg_dump", "--format=custom", "--no-owner", "--no-acl", "-f", str(dump), _libpq_url()]
        )
    media = storage.media_root()
    if media.is_dir():
        shutil.copytree(media, dest / MEDIA)
    else:
        (dest / MEDIA).mkdir()
    files = [
        {"path": p.relative_to(dest).as_posix(), "size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(dest.rglob("*"))
        if p.is_file()
    ]
    manifest = Manifest(kind, rev, datetime.now(UTC).isoformat(timespec="seconds"), files)
    # Written last: a folder without a manifest is an unfinished backup, and restore refuses it.
    (dest / MANIFEST).write_text(manifest.as_json())
    return manifest


def read_manifest(src: Path) -> Manifest:
    """The backup's manifest, after checking every file it lists; BackupError if any differs."""
    try:
        raw = json.loads((src / MANIFEST).read_text())
        if raw["format"] != FORMAT_VERSION:
            raise BackupError(f"backup format {raw['format']} is not {FORMAT_VERSION}")
        manifest = Manifest(
            raw["database"], raw["alembic_revision"], raw["created_at"], raw["files"]
        )
    except FileNotFoundError:
        raise BackupError(f"{src / MANIFEST} is missing: not a finished backup") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{src / MANIFEST} is not a valid manifest ({exc!r})") from None
    damaged = []
    for entry in manifest.files:
        path = src / entry["path"]
        if not path.is_file():
            damaged.append(f"{entry['path']}: missing")
        elif path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            damaged.append(f"{entry['path']}: checksum mismatch")
    if DUMPS.get(manifest.kind) not in {e["path"] for e in manifest.files}:
        damaged.append(f"{DUMPS.get(manifest.kind, 'the database dump')}: not in the manifest")
    if damaged:
        listed = "; ".join(damaged[:10]) + (
            f"; and {len(damaged) - 10} more" if damaged[10:] else ""
        )
        raise BackupError(f"the backup is damaged, nothing was restored: {listed}")
    return manifest


def has_data() -> bool:
    """Whether any table of ours holds a row (an empty, migrated schema counts as empty)."""
    tables = set(inspect(db.engine).get_table_names())
    for table in db.metadata.sorted_tables:
        if (
            table.name in tables
            and db.session.execute(select(1).select_from(table).limit(1)).first()
        ):
            return True
    return False


def restore(src: Path, force: bool = False) -> Manifest:
    """Replace the database and the media with the backup in `src`.

    Refuses, touching nothing, a damaged backup, one of another database kind, or a target that
    holds data (unless `force`)."""
    manifest = read_manifest(src)
    kind = database_kind()
    if manifest.kind != kind:
        raise BackupError(f"the backup is of a {manifest.kind} database, this site uses {kind}")
    if not force and has_data():
        raise BackupError("the target database is not empty: use --force to replace it")
    db.session.remove()
    db.engine.dispose()
    dump = src / DUMPS[kind]
    if kind == "sqlite":
        source = sqlite3.connect(dump)
        target = sqlite3.connect(db.engine.url.database)
        try:
            with target:
                source.backup(target)  # replaces every page of the target
        finally:
            source.close()
            target.close()
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-acl",
              "--single-transaction", "-d", _libpq_url(), str(dump)])  # fmt: skip
    _restore_media(src / MEDIA, storage.media_root())
    return manifest


def _restore_media(source: Path, media: Path) -> None:
    """Copy beside the media folder, then swap, so a failed copy leaves the old one in place."""
    staging = media.with_name(media.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    old = media.with_name(media.name + ".old")
    if media.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(media, old)
    os.replace(staging, media)
    shutil.rmtree(old, ignore_errors=True)
