"""`flask backup` and `flask restore` as a round trip on SQLite and PostgreSQL (real pg_dump and
pg_restore), and the refusals: a damaged backup, a database with data, a used folder."""

import json
import shutil
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from cara.core import storage
from cara.core.extensions import db
from cara.core.models import Media, Post, PostState, User
from cara.ops import backup
from tests import factories

pytestmark = pytest.mark.usefixtures("no_avif")


def wipe(app) -> None:
    """Lose everything: the database (schema too) and the media folder."""
    db.session.remove()
    db.engine.dispose()
    if db.engine.dialect.name == "sqlite":
        Path(db.engine.url.database).unlink()
    else:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    shutil.rmtree(app.config["MEDIA_DIR"], ignore_errors=True)


def cli(app, args: list[str]):
    """Run a flask command as an admin would: this test's session is done first (the command
    runs in an app context, and a session, of its own)."""
    db.session.remove()
    return app.test_cli_runner().invoke(args=args)


def derivative_files(post: Post) -> dict[str, bytes]:
    return {
        r["name"]: (storage.derivative_dir(m.id) / r["name"]).read_bytes()
        for m in post.media
        for r in m.renditions
    }


def test_round_trip(site, tmp_path):
    post = factories.make_post(None, "Ink", images=[factories.image_bytes(size=(400, 300))])
    assert post.state == PostState.PUBLISHED
    files, post_id = derivative_files(post), post.id
    original = storage.original_path(post.media[0].original_path).read_bytes()
    dest = tmp_path / "backup"

    result = cli(site, ["backup", str(dest)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["database"] == db.engine.dialect.name
    assert manifest["alembic_revision"] == backup.revision()
    listed = {f["path"] for f in manifest["files"]}
    assert backup.DUMPS[manifest["database"]] in listed
    assert {f"media/d/{post.media[0].id}/{name}" for name in files} <= listed

    wipe(site)
    result = cli(site, ["restore", str(dest)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    restored = db.session.get(Post, post_id)
    assert restored.caption == "Ink" and restored.state == PostState.PUBLISHED
    assert derivative_files(restored) == files
    assert storage.original_path(restored.media[0].original_path).read_bytes() == original
    # The restored database carries on: new rows get new ids, no sequence starts at 1 again.
    assert factories.make_post(restored.author, "Next", images=1).id > post_id


def test_a_damaged_backup_is_refused_and_nothing_is_touched(site, tmp_path):
    post = factories.make_post(None, "Ink", images=[factories.image_bytes(size=(400, 300))])
    post_id, media_id, name = post.id, post.media[0].id, post.media[0].renditions[0]["name"]
    before = derivative_files(post)
    dest = tmp_path / "backup"
    backup.backup(dest)
    damaged = dest / "media" / "d" / str(media_id) / name
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    factories.make_post(db.session.get(Post, post_id).author, "Made after the backup", images=1)

    result = cli(site, ["restore", "--force", str(dest)])
    assert result.exit_code == 1
    assert "damaged" in result.output and f"{name}: checksum mismatch" in result.output
    db.session.expire_all()
    assert db.session.query(Post).filter_by(caption="Made after the backup").count() == 1
    assert derivative_files(db.session.get(Post, post_id)) == before


def test_a_missing_file_or_manifest_is_refused(site, tmp_path):
    dest = tmp_path / "backup"
    backup.backup(dest)
    (dest / backup.DUMPS[db.engine.dialect.name]).unlink()
    result = cli(site, ["restore", "--force", str(dest)])
    assert result.exit_code == 1 and ": missing" in result.output
    (dest / "manifest.json").unlink()
    result = cli(site, ["restore", "--force", str(dest)])
    assert result.exit_code == 1 and "not a finished backup" in result.output


def test_a_database_with_data_needs_force(site, tmp_path):
    kept = factories.person("kept").username
    dest = tmp_path / "backup"
    backup.backup(dest)
    factories.person("made_later")

    result = cli(site, ["restore", str(dest)])
    assert result.exit_code == 1 and "not empty: use --force" in result.output
    assert db.session.query(User).count() == 2

    result = cli(site, ["restore", "--force", str(dest)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert [u.username for u in db.session.query(User)] == [kept]


def test_an_empty_migrated_database_is_a_valid_target(site, tmp_path):
    factories.person("kept")
    dest = tmp_path / "backup"
    backup.backup(dest)
    wipe(site)
    upgrade()  # the usual fresh install: migrated, no rows
    result = cli(site, ["restore", str(dest)])
    assert result.exit_code == 0, result.output
    assert db.session.query(User).one().username == "kept"


def test_backup_wants_a_new_folder(site, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("something")
    result = cli(site, ["backup", str(tmp_path / "used")])
    assert result.exit_code == 1 and "not empty" in result.output
    assert not (tmp_path / "used" / "manifest.json").exists()


def test_images_survive_in_media_rows(site, tmp_path):
    """Media rows keep their state and renditions through pg_dump/sqlite backup."""
    post = factories.make_post(None, "Ink", images=[factories.image_bytes(size=(400, 300))])
    rows = [(m.id, m.state, m.renditions, m.processed_at) for m in post.media]
    backup.backup(tmp_path / "b")
    wipe(site)
    backup.restore(tmp_path / "b")
    db.session.expire_all()
    assert [(m.id, m.state, m.renditions, m.processed_at) for m in db.session.query(Media)] == rows
