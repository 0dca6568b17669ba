"""The admins' filter commands: `hashes add`, `filter check` and `filter evaluate` (issue 14)."""

import csv
import io
import re

from PIL import Image
from sqlalchemy import func, select

from cara.core.extensions import db
from cara.core.models import KnownHash, PostState
from cara.posting import known
from tests.factories import canvas, sqlite_app
from tests.support import AI_FILTER_FIXTURES


def _save(img: Image.Image, path, fmt="PNG", **save):
    img.save(path, fmt, **save)
    return path


def test_hashes_add_registers_files_as_known_ai(app, make_post, tmp_path):
    picture = canvas(size=(640, 480), seed=7)
    listed = _save(picture, tmp_path / "generated.png")
    result = app.test_cli_runner().invoke(args=["hashes", "add", str(listed), "--note", "batch 1"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(select(KnownHash)).all()
    assert rows and all(r.source == "admin" and r.trusted and r.note == "batch 1" for r in rows)
    # A re-upload, resized and recompressed, is rejected like a moderator-confirmed image.
    buf = io.BytesIO()
    picture.resize((480, 360)).save(buf, "JPEG", quality=70)
    post = make_post(images=[buf.getvalue()])
    assert post.state == PostState.REJECTED
    assert "registered by an admin" in post.media[0].verdict.signals[0]["evidence"]


def test_hashes_add_untrusted_only_holds(app, make_post, tmp_path):
    picture = canvas(size=(640, 480), seed=8)
    listed = _save(picture, tmp_path / "maybe.png")
    result = app.test_cli_runner().invoke(args=["hashes", "add", "--untrusted", str(listed)])
    assert result.exit_code == 0 and "untrusted" in result.output
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    assert make_post(images=[buf.getvalue()]).state == PostState.HELD


def test_hashes_add_refuses_a_file_that_is_not_an_image_and_adds_nothing(app, tmp_path):
    good = _save(canvas(size=(300, 200), seed=9), tmp_path / "good.png")
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    result = app.test_cli_runner().invoke(args=["hashes", "add", str(good), str(bad)])
    assert result.exit_code != 0 and "not a decodable image" in result.output
    assert db.session.scalar(select(func.count(KnownHash.id))) == 0


def test_a_truncated_jpeg_is_still_hashed_for_the_admin_commands(app, tmp_path):
    buf = io.BytesIO()
    canvas(size=(800, 600), seed=10).save(buf, "JPEG", quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    assert known.list_file(cut) > 0  # Pillow decodes what the cut file holds
    result = app.test_cli_runner().invoke(args=["filter", "check", str(cut)])
    assert result.exit_code == 0 and "not a decodable image" not in result.output
    assert "known-hash" in result.output


def test_filter_evaluate_on_the_fixtures(app, tmp_path):
    labels = AI_FILTER_FIXTURES / "MANIFEST.csv"
    result = app.test_cli_runner().invoke(
        args=["filter", "evaluate", str(AI_FILTER_FIXTURES), "--labels", str(labels)]
    )
    assert result.exit_code == 0, result.output
    with labels.open(newline="") as f:
        rows = list(csv.DictReader(f))
    n_ai = sum(r["label"] == "ai" for r in rows)
    n_human = len(rows) - n_ai
    lines = result.output.splitlines()
    ai_row = next(line.split() for line in lines if line.strip().startswith("ai files"))
    human_row = next(line.split() for line in lines if line.strip().startswith("human files"))
    assert int(ai_row[2]) + int(ai_row[3]) == n_ai
    assert human_row[2:] == ["0", str(n_human)]  # no human fixture is held
    assert "c2pa" in result.output and "misclassified:" in result.output
    # Every AI fixture that the filter misses is listed with the reason.
    missed = int(ai_row[3])
    listed = [line for line in lines if ": ai file, decision publish" in line]
    assert len(listed) == missed


def test_filter_evaluate_with_one_kind_of_file_says_n_a_for_the_other(app, tmp_path):
    labels = AI_FILTER_FIXTURES / "MANIFEST.csv"
    with labels.open(newline="") as f:
        ai_only = [r for r in csv.DictReader(f) if r["label"] == "ai"][:2]
    only = tmp_path / "ai-only.csv"
    only.write_text("file,label\n" + "".join(f"{r['file']},ai\n" for r in ai_only))
    result = app.test_cli_runner().invoke(
        args=["filter", "evaluate", str(AI_FILTER_FIXTURES), "--labels", str(only)]
    )
    assert result.exit_code == 0, result.output
    assert "human art published: n/a" in result.output and "nan" not in result.output
    assert re.search(r"AI caught: [01]\.\d{3}", result.output)


def test_filter_evaluate_names_a_bad_label_file(app, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nnothing-here.png,ai\n")
    result = app.test_cli_runner().invoke(
        args=["filter", "evaluate", str(tmp_path), "--labels", str(labels)]
    )
    assert result.exit_code != 0 and "labels.csv:2: no file" in result.output


def test_commands_on_a_database_never_migrated_say_so_in_one_line(tmp_path):
    app = sqlite_app(tmp_path)
    labels = str(AI_FILTER_FIXTURES / "MANIFEST.csv")
    commands = [
        ["filter", "evaluate", str(AI_FILTER_FIXTURES), "--labels", labels],
        ["filter", "check", str(AI_FILTER_FIXTURES / "ai" / "c2pars_firefly.png")],
        ["hashes", "subscriptions"],
        ["hashes", "export", "-"],
        ["hashes", "add", str(AI_FILTER_FIXTURES / "ai" / "c2pars_firefly.png")],
        ["sweep"],
    ]
    with app.app_context():
        runner = app.test_cli_runner()
        for args in commands:
            result = runner.invoke(args=args)
            assert result.exit_code == 1, (args, result.output)
            assert result.output == (
                "Error: the database is not migrated: run `flask --app app db upgrade`\n"
            ), args
            assert isinstance(result.exception, SystemExit)  # not a crash
        # Help needs no database.
        assert runner.invoke(args=["filter", "evaluate", "--help"]).exit_code == 0
        db.engine.dispose()


def test_commands_on_a_database_behind_the_code_say_so(tmp_path):
    from flask_migrate import upgrade

    app = sqlite_app(tmp_path)
    with app.app_context():
        upgrade(revision="a3b9d2e4f610")  # before the shared hash lists
        result = app.test_cli_runner().invoke(args=["hashes", "subscriptions"])
        assert result.exit_code == 1
        assert "the database is behind this code (revision a3b9d2e4f610)" in result.output
        upgrade()
        result = app.test_cli_runner().invoke(args=["hashes", "subscriptions"])
        assert result.exit_code == 0, result.output
        db.engine.dispose()
