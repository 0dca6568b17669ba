"""The profile banner: uploaded in Edit profile, processed like other media (validated,
metadata stripped, banner-sized derivatives), screened by the AI filter (a held banner is not
shown), removable; shown by the profile header within the profile's own visibility."""

import io

import pytest
from PIL import Image, ImageDraw

from cara.core.extensions import db
from cara.core.models import Media, MediaState, Role, User, utcnow
from cara.core.storage import rendition_file
from tests.factories import generator_png, login, person


@pytest.fixture
def ana(app, no_avif):
    return person("ana")


def wide_png(comment: str = "") -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if comment:
        info.add_text("Comment", comment)
    # Wider than the largest banner rendition, small in bytes (a big upload would be
    # spooled to a temporary file by the test client).
    img = Image.linear_gradient("L").resize((2400, 800)).convert("RGB")
    ImageDraw.Draw(img).ellipse((300, 100, 900, 700), fill=(200, 60, 40))
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    assert len(buf.getvalue()) < 400_000
    return buf.getvalue()


def upload_banner(client, data: bytes, name="banner.png"):
    form = {"display_name": "Ana", "banner": (io.BytesIO(data), name)}
    return client.post("/settings/profile", data=form, content_type="multipart/form-data")


def banner_of(username: str) -> Media | None:
    user = db.session.scalar(db.select(User).where(User.username == username))
    return db.session.get(Media, user.banner_media_id) if user.banner_media_id else None


def shown_in(html: str, media: Media) -> bool:
    return f"/media/{media.id}/" in html


def test_a_banner_is_processed_stripped_and_shown_in_the_header(app, client, ana):
    login(client, "ana")
    assert "av-banner" in client.get("/@ana").get_data(as_text=True)  # the colour band
    assert upload_banner(client, wide_png("secret-location")).status_code == 303
    banner = banner_of("ana")
    assert banner.state == MediaState.DONE
    widths = sorted(r["w"] for r in banner.renditions if r["fmt"] == "webp")
    assert widths == [640, 1280, 1920] and not any(r.get("sq") for r in banner.renditions)
    for r in banner.renditions:
        with rendition_file(banner.id, r) as path:
            assert b"secret-location" not in path.read_bytes()
            with Image.open(path) as img:
                assert img.width == r["w"]
    assert banner.verdict is not None  # screened by the filter, like a post's image
    anon = app.test_client()
    html = anon.get("/@ana").get_data(as_text=True)
    assert 'id="profile-banner"' in html and shown_in(html, banner)
    assert "av-banner" not in html
    r = next(r for r in banner.renditions if r["fmt"] == "webp")
    assert anon.get(f"/media/{banner.id}/{r['name']}").status_code == 200
    settings = client.get("/settings").get_data(as_text=True)
    assert "Your banner is shown" in settings and "Remove banner" in settings


def test_a_replaced_banner_is_deleted_and_remove_brings_back_the_colour_band(client, ana):
    login(client, "ana")
    upload_banner(client, wide_png())
    first = banner_of("ana").id
    upload_banner(client, wide_png("second"))
    assert db.session.get(Media, first) is None
    second = banner_of("ana").id
    removed = client.post("/settings/banner/remove")
    assert removed.headers["Location"] == "/settings#profile-heading"
    assert banner_of("ana") is None and db.session.get(Media, second) is None
    html = client.get("/@ana").get_data(as_text=True)
    assert 'id="profile-banner"' not in html and "av-banner" in html
    assert "Remove banner" not in client.get("/settings").get_data(as_text=True)


def test_a_banner_the_ai_filter_holds_is_not_shown(app, client, ana):
    login(client, "ana")
    assert upload_banner(client, generator_png()).status_code == 303
    banner = banner_of("ana")
    assert banner.state == MediaState.DONE and banner.verdict.decision == "hold"
    for viewer in (client, app.test_client()):  # the artist and a visitor
        html = viewer.get("/@ana").get_data(as_text=True)
        assert not shown_in(html, banner) and "av-banner" in html
    r = banner.renditions[0]
    assert client.get(f"/media/{banner.id}/{r['name']}").status_code == 404
    assert "The AI filter held your banner" in client.get("/settings").get_data(as_text=True)


def test_a_bad_banner_upload_is_refused_with_a_message(client, ana):
    login(client, "ana")
    response = upload_banner(client, b"not an image at all", "banner.png")
    assert response.status_code == 422
    assert 'id="banner-error"' in response.get_data(as_text=True)
    assert banner_of("ana") is None


def test_the_banner_follows_the_profile_policy(app, client, ana):
    """A private profile's header (and banner) is public; a suspended account's banner is
    hidden from all but moderators, like what it posted; a blocked viewer sees neither."""
    login(client, "ana")
    upload_banner(client, wide_png())
    banner = banner_of("ana")
    r = next(r for r in banner.renditions if r["fmt"] == "webp")
    url = f"/media/{banner.id}/{r['name']}"
    ana = db.session.scalar(db.select(User).where(User.username == "ana"))
    ana.is_private = True
    db.session.commit()
    anon = app.test_client()
    assert shown_in(anon.get("/@ana").get_data(as_text=True), banner)
    ana.suspended_at = utcnow()
    db.session.commit()
    assert not shown_in(anon.get("/@ana").get_data(as_text=True), banner)
    assert anon.get(url).status_code == 404
    person("moira", role=Role.MODERATOR)
    moderator = app.test_client()
    login(moderator, "moira")
    assert shown_in(moderator.get("/@ana").get_data(as_text=True), banner)


def _xmp(media_id: int, rendition: dict) -> str:
    with rendition_file(media_id, rendition) as path, Image.open(path) as img:
        xmp = img.info.get("xmp") or b""
    return xmp.decode() if isinstance(xmp, bytes) else xmp


def test_a_banner_carries_the_artists_rights_and_follows_a_change_of_them(client, ana):
    """Like a post's images, every banner derivative embeds the rights (creator, licence, the
    AI-training reservation, the profile as its web statement), written again when they change."""
    login(client, "ana")
    upload_banner(client, wide_png())
    banner = banner_of("ana")
    for r in banner.renditions:
        xmp = _xmp(banner.id, r)
        assert "Not licensed for AI training" in xmp and "Ana" in xmp, r["name"]
        assert "/@ana" in xmp
    old = {r["name"] for r in banner.renditions}
    prefs = {"licence": "cc-by-nc-4.0", "data_mining": "DMI-PROHIBITED-GENAIMLTRAINING"}
    assert client.post("/settings/preferences", data=prefs).status_code == 303
    db.session.refresh(banner)
    assert banner.state == MediaState.DONE and not old & {r["name"] for r in banner.renditions}
    webp = next(r for r in banner.renditions if r["fmt"] == "webp")
    xmp = _xmp(banner.id, webp)
    assert "creativecommons.org/licenses/by-nc/4.0" in xmp
    assert "DMI-PROHIBITED-GENAIMLTRAINING" in xmp
