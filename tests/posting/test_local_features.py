"""The second matching stage in the pipeline: a known AI image is caught again after a crop, a
rotation, a frame or a collage, where pHash and PDQ miss it (issue 14)."""

import io

import pytest
from PIL import Image, ImageOps
from sqlalchemy import func, select

from cara.core.extensions import db
from cara.core.models import KnownFeature, KnownHash, PostState
from cara.posting import known
from tests.support import AI_FILTER_FIXTURES

KNOWN = AI_FILTER_FIXTURES / "human/skimage_coffee.png"  # stands in for a confirmed AI image
OTHER = AI_FILTER_FIXTURES / "human/skimage_motorcycle_left.png"


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _centre_crop(img: Image.Image, fraction: float) -> Image.Image:
    w, h = img.size
    dx, dy = int(w * fraction / 2), int(h * fraction / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def _collage(known_img: Image.Image, other: Image.Image) -> Image.Image:
    tile = (400, 270)
    sheet = Image.new("RGB", (820, 560), "white")
    for i, img in enumerate([known_img, other, other.rotate(180), ImageOps.mirror(other)]):
        sheet.paste(img.convert("RGB").resize(tile), (10 + (i % 2) * 410, 10 + (i // 2) * 280))
    return sheet


TRANSFORMS = {
    "centre crop 30%": lambda img, other: _centre_crop(img, 0.30),
    "rotated 10 degrees": lambda img, other: img.rotate(10, expand=True, fillcolor="white"),
    "rotated 90 degrees": lambda img, other: img.rotate(90, expand=True),
    "decorative frame": lambda img, other: ImageOps.expand(img, border=60, fill=(120, 20, 60)),
    "2x2 collage": _collage,
}


@pytest.fixture
def registered(app):
    app.test_cli_runner().invoke(args=["hashes", "add", str(KNOWN), "--note", "test image"])
    assert db.session.scalar(select(func.count(KnownFeature.id))) == 1


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transformed_known_image_is_rejected(registered, make_post, name):
    with Image.open(KNOWN) as img, Image.open(OTHER) as other:
        data = _jpeg(TRANSFORMS[name](img.convert("RGB"), other.convert("RGB")))
    post = make_post(images=[data])
    assert post.state == PostState.REJECTED, name
    assert any(s["name"] == "known-hash" for s in post.media[0].verdict.signals)


@pytest.mark.parametrize("name", ["centre crop 30%", "rotated 10 degrees", "2x2 collage"])
def test_the_second_stage_is_what_catches_them(app, registered, make_post, name):
    """Its evidence names it; without it the same copies are published (pHash/PDQ miss)."""
    with Image.open(KNOWN) as img, Image.open(OTHER) as other:
        data = _jpeg(TRANSFORMS[name](img.convert("RGB"), other.convert("RGB")))
    caught = make_post(images=[data])
    assert any(
        "cropped, rotated or framed" in s["evidence"] for s in caught.media[0].verdict.signals
    )
    app.config["FILTER_LOCAL_FEATURES"] = False
    assert make_post(images=[data]).state == PostState.PUBLISHED


def test_a_different_picture_is_published(registered, make_post):
    with Image.open(OTHER) as other:
        post = make_post(images=[_jpeg(other)])
    assert post.state == PostState.PUBLISHED


def test_an_untrusted_registration_only_holds(app, make_post):
    app.test_cli_runner().invoke(args=["hashes", "add", "--untrusted", str(KNOWN)])
    with Image.open(KNOWN) as img:
        post = make_post(images=[_jpeg(img.convert("RGB").rotate(5, expand=True))])
    assert post.state == PostState.HELD


def test_confirming_a_post_stores_its_features_and_clearing_removes_them(app, make_post, make_user):
    moderator = make_user(role="moderator")
    with Image.open(KNOWN) as img:
        post = make_post(images=[_jpeg(img)])
    known.list_image(post.media[0], source="moderator", who=moderator)
    db.session.commit()
    assert db.session.scalar(select(func.count(KnownFeature.id))) == 1
    known.allow_image(post.media[0], who=moderator)
    db.session.commit()
    assert db.session.scalar(select(func.count(KnownFeature.id))) == 0


def test_a_version_2_hash_list_carries_the_second_stage_to_another_site(
    app, registered, make_post, tmp_path
):
    """Export as JSON (version 2: hashes and features), empty the tables, import: a rotated
    copy that only the second stage catches is rejected again. A CSV list carries no features."""
    runner = app.test_cli_runner()
    path = tmp_path / "list.json"
    assert runner.invoke(args=["hashes", "export", str(path)]).exit_code == 0
    assert '"version": 2' in path.read_text() and '"features"' in path.read_text()
    db.session.execute(KnownFeature.__table__.delete())
    db.session.execute(KnownHash.__table__.delete())
    db.session.commit()
    with Image.open(KNOWN) as img:
        data = _jpeg(img.convert("RGB").rotate(10, expand=True, fillcolor="white"))
    assert make_post(images=[data]).state == PostState.PUBLISHED
    result = runner.invoke(args=["hashes", "import", str(path), "--note", "peer"])
    assert result.exit_code == 0, result.output
    (row,) = db.session.scalars(select(KnownFeature))
    assert row.source == "import" and row.note.startswith("peer; admin")
    post = make_post(images=[data])
    assert post.state == PostState.REJECTED
    assert any("cropped, rotated" in s["evidence"] for s in post.media[0].verdict.signals)
    csv_path = tmp_path / "list.csv"
    assert runner.invoke(args=["hashes", "export", str(csv_path)]).exit_code == 0
    assert "features" not in csv_path.read_text().splitlines()[0]


def test_reindex_backfills_the_features_of_images_confirmed_before_the_second_stage(app, make_post):
    from cara import moderation
    from cara.core import storage
    from cara.core.models import HashFeedEntry, Role
    from tests.factories import person

    mona = person("mona", role=Role.MODERATOR)
    fixture = AI_FILTER_FIXTURES / "ai"
    app.config["FILTER_LOCAL_FEATURES"] = False  # as before the second stage existed
    lcm, turbo = (
        make_post(images=[(fixture / name).read_bytes()])
        for name in ("comfy_lcm_basic_example.png", "comfy_sdxlturbo_example.png")
    )
    for post in (lcm, turbo):
        assert post.state == PostState.HELD  # their ComfyUI metadata
        moderation.confirm_ai(post, mona, "ComfyUI workflow")
    cli = app.test_cli_runner()
    added = cli.invoke(args=["hashes", "add", str(fixture / "comfy_lora.png")])
    assert added.exit_code == 0, added.output
    gone = turbo.media[0]
    storage.delete_media_files(gone.id, gone.original_path)  # its files are lost
    assert db.session.scalar(select(func.count(KnownFeature.id))) == 0
    app.config["FILTER_LOCAL_FEATURES"] = True

    with Image.open(fixture / "comfy_lcm_basic_example.png") as img:
        cropped = _jpeg(_centre_crop(img.convert("RGB"), 0.30))
    assert make_post(images=[cropped]).state == PostState.PUBLISHED  # pHash/PDQ miss it

    result = cli.invoke(args=["filter", "reindex"])
    assert result.exit_code == 0, result.output
    assert "1 added, 2 skipped (no original), 0 already present" in result.output
    [row] = db.session.scalars(select(KnownFeature)).all()
    assert (row.media_id, row.trusted, row.source) == (lcm.media[0].id, True, "moderator")
    # This process's index (a worker's) follows: the crop is now caught by the second stage.
    caught = make_post(images=[cropped])
    assert caught.state == PostState.REJECTED
    assert "cropped, rotated or framed" in caught.media[0].verdict.signals[0]["evidence"]
    # Published again with its features, so subscribers receive them too.
    entry = db.session.scalar(
        select(HashFeedEntry).where(HashFeedEntry.ref == f"m{lcm.media[0].id}")
    )
    assert entry.op == "add" and entry.features == row.data

    again = cli.invoke(args=["filter", "reindex"])
    assert "0 added, 2 skipped (no original), 1 already present" in again.output
    assert db.session.scalar(select(func.count(KnownFeature.id))) == 1
    app.config["FILTER_LOCAL_FEATURES"] = False
    off = cli.invoke(args=["filter", "reindex"])
    assert off.exit_code == 1 and "the second stage is off" in off.output
