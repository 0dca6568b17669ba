"""Posting art: the two-step upload, processing, post pages, editing, deleting, portfolios."""

import io
import os
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from cara.core import storage, tasks
from cara.core.extensions import db
from cara.core.models import Media, MediaState, Post, PostState, utcnow
from cara.posting import processing
from tests.factories import image_bytes
from tests.support import AI_FILTER_FIXTURES

HUMAN = AI_FILTER_FIXTURES / "human"


def gps_jpeg(size=(800, 600)) -> bytes:
    img = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 16):
        img.putpixel((x, x % size[1]), (255, 255, 0))
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 0.0), "W", (0.0, 7.0, 0.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def upload(client, *files, url="/posts/new"):
    data = {"images": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(url, data=data, content_type="multipart/form-data")


@pytest.fixture
def artist(make_user, auth):
    user = make_user("ana", display_name="Ana Ink")
    auth.login()
    return user


def test_new_post_page_needs_login(client):
    response = client.get("/posts/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_upload_then_describe_then_publish(client, artist):
    files = [(f"piece{i}.png", image_bytes(size=(500 + i * 10, 400))) for i in range(3)]
    response = upload(client, *files)
    assert response.status_code == 303
    edit_url = response.headers["Location"]
    post = db.session.scalar(select(Post))
    assert post.state == PostState.DRAFT and len(post.media) == 3
    # Processing starts at upload: derivatives exist before publishing.
    assert all(m.state == MediaState.DONE and m.renditions for m in post.media)
    page = client.get(edit_url).get_data(as_text=True)
    assert page.count(">Alt text</label>") == 3 and "Caption" in page and "Add to portfolio" in page

    form = {f"alt-{m.id}": f"Ink study {m.position}" for m in post.media}
    form.update(caption="Three studies #ink @ana", tags="sketch, Ink", in_portfolio="on")
    response = client.post(edit_url, data=form)
    assert response.status_code == 303
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED and post.published_at is not None
    assert [t.name for t in post.tags] == ["ink", "sketch"]
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert 'href="/tags/ink">#ink</a>' in html and 'href="/@ana">@ana</a>' in html
    assert html.count("<picture") == 3 and 'alt="Ink study 0"' in html
    assert 'loading="lazy"' in html.split("<picture", 2)[2]  # lazy after the first image
    assert 'loading="lazy"' not in html.split("<picture", 2)[1]
    assert "srcset=" in html and 'width="' in html and 'height="' in html
    portfolio = client.get("/@ana").get_data(as_text=True)
    assert f'id="post-{post.id}"' in portfolio


def test_publish_requires_alt_text_and_keeps_input(client, artist, make_post):
    post = make_post(author=artist, publish=False)
    media = post.media[0]
    response = client.post(
        f"/posts/{post.id}/edit", data={f"alt-{media.id}": "  ", "caption": "My caption"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Describe this image" in html and "My caption" in html
    assert f'aria-describedby="alt-help-{media.id} alt-{media.id}-error"' in html
    db.session.refresh(post)
    assert post.state == PostState.DRAFT


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("caption", "x" * 2201, "2,200"),
        ("tags", " ".join(f"t{i}" for i in range(11)), "at most 10 tags"),
        ("visibility", "everyone", "public or followers"),
    ],
)
def test_describe_limits(client, artist, make_post, field, value, message):
    post = make_post(author=artist, publish=False)
    data = {f"alt-{post.media[0].id}": "ok", field: value}
    response = client.post(f"/posts/{post.id}/edit", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_alt_text_limit(client, artist, make_post):
    post = make_post(author=artist, publish=False)
    response = client.post(f"/posts/{post.id}/edit", data={f"alt-{post.media[0].id}": "a" * 1501})
    assert response.status_code == 422 and "1,500" in response.get_data(as_text=True)


def test_bad_files_are_refused_by_name_and_good_ones_kept(client, artist):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = upload(
        client, ("good.png", image_bytes(size=(300, 200))), ("evil.png", svg), ("empty.jpg", b"")
    )
    assert response.status_code == 303
    post = db.session.scalar(select(Post))
    assert [m.original_name for m in post.media] == ["good.png"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "evil.png" in page and "empty.jpg" in page


def test_only_bad_files_is_422_and_nothing_stored(client, artist, app):
    truncated = image_bytes("JPEG", size=(300, 300))[:-200]
    response = upload(client, ("cut.jpg", truncated), ("tiny.png", image_bytes(size=(8, 8))))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cut.jpg" in html and "tiny.png" in html
    assert db.session.scalar(select(Post)) is None
    assert not os.path.exists(os.path.join(app.config["MEDIA_DIR"], "orig")) or not os.listdir(
        os.path.join(app.config["MEDIA_DIR"], "orig")
    )


def test_no_file_is_422(client, artist):
    response = client.post("/posts/new", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose at least one image" in response.get_data(
        as_text=True
    )


def test_more_than_ten_images_refused(client, artist):
    files = [(f"{i}.png", image_bytes(size=(64 + i, 64))) for i in range(11)]
    response = upload(client, *files)
    post = db.session.scalar(select(Post))
    assert len(post.media) == 10
    assert "at most 10 images" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_same_image_twice_in_a_post_is_refused(client, artist):
    data = image_bytes(size=(200, 200))
    response = upload(client, ("a.png", data), ("b.png", data))
    post = db.session.scalar(select(Post))
    assert len(post.media) == 1
    assert "already in the post" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_originals_are_private_and_never_served(client, artist, make_post, app):
    post = make_post(author=artist)
    media = post.media[0]
    path = storage.original_path(media.original_path)
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert client.get(f"/media/{media.id}/{media.original_path}").status_code == 404
    assert client.get(f"/media/{media.id}/..%2Forig%2F{media.original_path}").status_code == 404


def test_no_gps_or_serial_in_any_derivative(client, artist, make_post):
    post = make_post(author=artist, images=[gps_jpeg()])
    media = post.media[0]
    assert media.renditions
    for r in media.renditions:
        response = client.get(f"/media/{media.id}/{r['name']}")
        assert response.status_code == 200
        img = Image.open(io.BytesIO(response.data))
        exif = img.getexif()
        assert 0x8825 not in exif and not exif.get_ifd(0x8825)
        assert b"SERIAL-12345" not in response.data and b"Camera Maker" not in response.data


def test_media_served_with_versioned_names_and_cache_headers(client, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]
    r = media.renditions[0]
    response = client.get(f"/media/{media.id}/{r['name']}")
    assert response.headers["Cache-Control"].startswith("public, max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == f"image/{r['fmt']}"
    assert media.version in r["name"]


def test_followers_only_media_is_private_and_checked(client, artist, make_post, make_user, app):
    post = make_post(author=artist, visibility="followers")
    media = post.media[0]
    url = f"/media/{media.id}/{media.renditions[0]['name']}"
    response = client.get(url)
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("private")
    stranger = app.test_client()
    make_user("zed")
    stranger.post("/login", data={"login": "zed", "password": "correct horse battery"})
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"/posts/{post.id}").status_code == 404
    assert app.test_client().get(url).status_code == 404


def test_edit_post(client, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]
    response = client.post(
        f"/posts/{post.id}/edit",
        data={f"alt-{media.id}": "New alt", "caption": "Edited", "tags": "new", "mature": "on"},
    )
    assert response.status_code == 303
    db.session.refresh(post)
    assert post.caption == "Edited" and post.mature and media.alt_text == "New alt"
    assert post.state == PostState.PUBLISHED


def test_others_cannot_edit_or_delete(app, artist, make_post, make_user):
    post = make_post(author=artist)
    make_user("zed")
    other = app.test_client()
    other.post("/login", data={"login": "zed", "password": "correct horse battery"})
    assert other.get(f"/posts/{post.id}/edit").status_code == 404
    assert other.post(f"/posts/{post.id}/delete").status_code == 404
    assert db.session.get(Post, post.id) is not None


def test_delete_removes_files(client, artist, make_post):
    post = make_post(author=artist)
    post_id, media = post.id, post.media[0]
    original = storage.original_path(media.original_path)
    derivatives = storage.derivative_dir(media.id)
    assert original.exists() and any(derivatives.iterdir())
    assert client.post(f"/posts/{post_id}/delete").status_code == 303
    assert db.session.get(Post, post_id) is None
    assert not original.exists() and not derivatives.exists()


def test_protected_option_rewrites_lossless_under_new_names(client, artist, make_post):
    post = make_post(author=artist, images=[image_bytes("JPEG", size=(700, 500))])
    media = post.media[0]
    old = {r["name"] for r in media.renditions}
    client.post(f"/posts/{post.id}/edit", data={f"alt-{media.id}": "alt", "protected": "on"})
    db.session.refresh(media)
    new = {r["name"] for r in media.renditions}
    assert not old & new
    webp = next(r for r in media.renditions if r["fmt"] == "webp")
    data = (storage.derivative_dir(media.id) / webp["name"]).read_bytes()
    assert b"VP8L" in data[:40]  # lossless WebP
    assert all(not (storage.derivative_dir(media.id) / n).exists() for n in old)


def test_processing_card_polls_and_has_refresh_link(client, artist, app):
    app.config["TASK_RUNNER"] = "inline"
    app.extensions["cara.runner"] = tasks.InlineRunner()
    # A runner that never runs: the post stays processing.
    app.extensions["cara.runner"].enqueue = lambda func, args, delay, low: None
    response = upload(client, ("a.png", image_bytes(size=(300, 300))))
    post = db.session.scalar(select(Post))
    media = post.media[0]
    client.post(response.headers["Location"], data={f"alt-{media.id}": "alt"})
    db.session.refresh(post)
    assert post.state == PostState.PENDING
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert 'data-hx-trigger="load delay:2s"' in html and ">Refresh</a>" in html
    poll = {"HX-Request": "true", "HX-Target": f"post-{post.id}-body"}
    fragment = client.get(f"/posts/{post.id}", headers=poll).get_data(as_text=True)
    assert fragment.strip().startswith(f'<div id="post-{post.id}-body"') and "<html" not in fragment
    assert 'data-hx-trigger="load delay:2s"' in fragment and "<img" not in fragment
    # The sweeper picks it up once its lease ends.
    media.lease_until = None
    db.session.commit()
    app.extensions["cara.runner"] = tasks.InlineRunner()
    assert tasks.sweep() == 1
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED
    # The next poll brings the images and the buttons, and asks for one last look (the files
    # are renamed just after the post goes public); that one asks for no further poll.
    fragment = client.get(f"/posts/{post.id}", headers=poll).get_data(as_text=True)
    assert 'alt="alt"' in fragment and "post-actions" in fragment
    assert f'data-hx-get="/posts/{post.id}?settled=1"' in fragment
    fragment = client.get(f"/posts/{post.id}?settled=1", headers=poll).get_data(as_text=True)
    assert 'alt="alt"' in fragment and 'data-hx-trigger="load' not in fragment


def test_failed_processing_shows_retry(client, artist, app, monkeypatch):

    def broken(media):
        raise OSError("disk on fire")

    monkeypatch.setattr(processing, "process", broken)
    response = upload(client, ("a.png", image_bytes(size=(300, 300))))
    post = db.session.scalar(select(Post))
    media = post.media[0]
    for _ in range(processing.MAX_ATTEMPTS - 1):  # inline runner: retries come from the sweeper
        media.lease_until = None
        db.session.commit()
        tasks.sweep()
    db.session.refresh(media)
    assert media.state == MediaState.FAILED and "disk on fire" in media.error
    client.post(response.headers["Location"], data={f"alt-{media.id}": "alt"})
    db.session.refresh(post)
    assert post.state == PostState.FAILED
    assert ">Retry</button>" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    monkeypatch.undo()
    assert client.post(f"/posts/{post.id}/retry").status_code == 303
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED


def test_task_twice_gives_same_files(app, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]
    folder = storage.derivative_dir(media.id)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    media.state = MediaState.PENDING
    db.session.commit()
    processing.process_media(media.id)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert before == after


def test_real_fixture_photos_publish(client, artist, make_post):
    images = [(HUMAN / name).read_bytes() for name in ("pillow_hopper.jpg", "skimage_coffee.png")]
    post = make_post(author=artist, images=images)
    assert post.state == PostState.PUBLISHED
    assert all(m.renditions for m in post.media)


def test_profile_portfolio_pin_and_reorder(client, artist, make_post):
    posts = [make_post(author=artist, caption=f"p{i}", in_portfolio=True) for i in range(3)]

    def order():
        html = client.get("/@ana").get_data(as_text=True)
        return [int(chunk.split('"')[0]) for chunk in html.split('<li id="post-')[1:]]

    newest_first = [p.id for p in reversed(posts)]
    assert order() == newest_first
    client.post(f"/posts/{posts[0].id}/pin")
    assert order()[0] == posts[0].id
    client.post(f"/posts/{newest_first[0]}/move", data={"direction": "later"})
    assert order() == [posts[0].id, newest_first[1], newest_first[0]]
    assert (
        client.post(f"/posts/{posts[1].id}/move", data={"direction": "sideways"}).status_code == 400
    )


def test_profile_posts_timeline_and_fragment(client, artist, make_post):
    make_post(author=artist, caption="first")
    html = client.get("/@ana/posts").get_data(as_text=True)
    assert "first" in html and 'aria-current="page">Posts' in html
    assert client.get("/@nobody").status_code == 404


def test_media_db_rows_cascade(app, artist, make_post):
    post = make_post(author=artist)
    media_id = post.media[0].id
    db.session.delete(post)
    db.session.commit()
    assert db.session.get(Media, media_id) is None


def test_square_crop_follows_the_chosen_focus(client, artist, make_post):
    # Left half red, right half blue: a left focus gives a red square, a right focus a blue one.
    img = Image.new("RGB", (900, 300), (220, 20, 20))
    img.paste((20, 20, 220), (450, 0, 900, 300))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    post = make_post(author=artist, images=[buf.getvalue()], in_portfolio=True)
    media = post.media[0]

    def square_colour():
        sq = next(r for r in media.renditions if r.get("sq"))
        assert sq["w"] == sq["h"]
        data = (storage.derivative_dir(media.id) / sq["name"]).read_bytes()
        return Image.open(io.BytesIO(data)).convert("RGB").resize((1, 1)).getpixel((0, 0))

    for focus, channel in (("left", 0), ("right", 2)):
        form = {f"alt-{media.id}": "a", f"crop-{media.id}": focus, "in_portfolio": "on"}
        client.post(f"/posts/{post.id}/edit", data=form)
        db.session.refresh(media)
        colour = square_colour()
        assert colour[channel] > 150 and colour[2 - channel] < 100, (focus, colour)
    assert "srcset=" in client.get("/@ana").get_data(as_text=True)


def test_avif_follows_in_a_second_job(artist, make_post, client):
    from cara.imaging import avif_supported

    assert avif_supported(), "the pinned Pillow writes AVIF"
    post = make_post(author=artist, images=[image_bytes("JPEG", size=(1400, 1000))])
    media = post.media[0]
    formats = {r["fmt"] for r in media.renditions}
    assert {"webp", "jpeg", "avif"} <= formats
    for r in media.renditions:
        assert (storage.derivative_dir(media.id) / r["name"]).exists()
    # AVIF stops at 960 px; the AVIF srcset goes on with WebP for wider screens.
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    avif = html.split('<source type="image/avif"', 1)[1].split(">", 1)[0]
    assert "-960.avif 960w" in avif and "-1280.webp 1280w" in avif and "1280.avif" not in avif


def test_avatar_is_processed_and_public(client, artist, app):
    data = {
        "display_name": "Ana",
        "bio": "",
        "links": "https://ana.example",
        "avatar": (io.BytesIO(image_bytes(size=(300, 300))), "me.png"),
    }
    response = client.post("/settings/profile", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    db.session.refresh(artist)
    avatar = db.session.get(Media, artist.avatar_media_id)
    assert avatar.state == MediaState.DONE and avatar.renditions
    url = f"/media/{avatar.id}/{avatar.renditions[0]['name']}"
    assert app.test_client().get(url).status_code == 200  # logged out: still visible
    html = app.test_client().get("/@ana").get_data(as_text=True)
    shown = [r["name"] for r in avatar.renditions if f"/media/{avatar.id}/{r['name']}" in html]
    assert shown, "the profile does not show the avatar"  # its square crop when there is one


def test_profile_links_must_be_web_addresses(client, artist):
    response = client.post("/settings/profile", data={"links": "javascript:alert(1)"})
    assert response.status_code == 422
    assert "is not a web address" in response.get_data(as_text=True)


def test_rights_change_rewrites_derivatives_with_new_xmp(client, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]
    old = {r["name"] for r in media.renditions}
    prefs = {"licence": "cc-by-nc-4.0", "data_mining": "DMI-PROHIBITED-GENAIMLTRAINING"}
    assert client.post("/settings/preferences", data=prefs).status_code == 303
    db.session.refresh(media)
    assert not old & {r["name"] for r in media.renditions}
    webp = next(r for r in media.renditions if r["fmt"] == "webp" and not r.get("sq"))
    with Image.open(storage.derivative_dir(media.id) / webp["name"]) as img:
        xmp = img.info["xmp"]
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert "creativecommons.org/licenses/by-nc/4.0" in xmp
    assert "DMI-PROHIBITED-GENAIMLTRAINING" in xmp and "Ana Ink" in xmp


def test_preferences_reject_unknown_choices(client, artist):
    response = client.post(
        "/settings/preferences", data={"licence": "steal-it", "data_mining": "x"}
    )
    assert response.status_code == 422


def test_going_public_approves_waiting_follow_requests(client, artist, make_user):
    from cara.core.models import Follow
    from cara.social import actions

    artist.is_private = True
    db.session.commit()
    fan = make_user("fan")
    actions.follow(fan, artist)
    assert db.session.get(Follow, (fan.id, artist.id)).pending
    prefs = {"licence": "all-rights-reserved", "data_mining": "DMI-PROHIBITED-AIMLTRAINING"}
    assert client.post("/settings/preferences", data=prefs).status_code == 303
    assert not db.session.get(Follow, (fan.id, artist.id)).pending
    html = client.get("/settings").get_data(as_text=True)
    assert 'href="/follow-requests"' in html and 'href="/blocks"' in html


def test_storage_quota_refuses_what_does_not_fit_and_names_the_quota(client, artist, app):
    first, second = image_bytes(size=(300, 200)), image_bytes(size=(320, 200), color=(9, 9, 9))
    app.config["STORAGE_QUOTA_BYTES"] = len(first) + len(second) // 2
    response = upload(client, ("first.png", first))
    post = db.session.scalar(select(Post))
    assert response.status_code == 303 and post.media[0].byte_size == len(first)
    response = upload(client, ("second.png", second))  # a new post: nothing fits, nothing stored
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    quota = f"{app.config['STORAGE_QUOTA_BYTES'] / 1024:,.1f} KB"
    assert f"second.png: not added, your storage quota of {quota} is full" in html
    assert db.session.scalar(select(func.count()).select_from(Media)) == 1
    # Adding to the draft is refused the same way; the draft keeps its image.
    response = client.post(
        f"/posts/{post.id}/images",
        data={"images": [(io.BytesIO(second), "second.png")]},
        content_type="multipart/form-data",
    )
    assert "your storage quota" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert len(db.session.get(Post, post.id).media) == 1


def test_drafts_expire_with_their_files(client, artist, app):
    app.config["DRAFT_EXPIRY_DAYS"] = 30
    upload(client, ("old.png", image_bytes(size=(300, 200))))
    upload(client, ("new.png", image_bytes(size=(310, 200))))
    old, new = db.session.scalars(select(Post).order_by(Post.id)).all()
    files = [
        storage.original_path(old.media[0].original_path),
        storage.derivative_dir(old.media[0].id),
    ]
    assert all(path.exists() for path in files)
    old.updated_at = utcnow() - timedelta(days=31)
    new.updated_at = utcnow() - timedelta(days=29)
    db.session.commit()
    assert tasks.sweep() >= 1
    assert [p.id for p in db.session.scalars(select(Post))] == [new.id]
    assert not any(path.exists() for path in files)
    app.config["DRAFT_EXPIRY_DAYS"] = 0  # never
    new.updated_at = utcnow() - timedelta(days=400)
    db.session.commit()
    tasks.sweep()
    assert db.session.get(Post, new.id) is not None
