"""Media in S3, end to end against a real S3-compatible server (moto_server from PyPI, its own
process): upload, processing from the bucket, serving (streamed and presigned), renaming on a
change of visibility, deletion; never a bucket URL for an image that is not public."""

import urllib.request

import pytest

from cara.core import storage
from cara.core.extensions import db
from tests.factories import login, make_user
from tests.support import s3_client


@pytest.fixture
def app_config(s3_settings, request):
    return {**s3_settings, **getattr(request, "param", {})}


@pytest.fixture
def artist(client):
    user = make_user("ana")
    login(client, "ana")
    return user


def keys(app) -> set[str]:
    s3 = s3_client(app.config)
    listed = s3.list_objects_v2(Bucket=app.config["S3_BUCKET"]).get("Contents", [])
    return {obj["Key"] for obj in listed}


def first_image(client, post):
    """(media, name, response) for the post's first derivative."""
    media = post.media[0]
    name = media.renditions[0]["name"]
    return media, name, client.get(f"/media/{media.id}/{name}")


def test_upload_is_processed_from_the_bucket_served_and_deleted(client, artist, make_post, app):
    post = make_post(author=artist)
    assert post.state.value == "published"
    media = post.media[0]
    names = {r["name"] for r in media.renditions}
    stored = keys(app)
    assert f"orig/{media.original_path}" in stored
    assert {f"pub/{media.id}/{n}" for n in names} <= stored
    assert not any(k.startswith(f"d/{media.id}/") for k in stored)
    # Nothing on local disk: the worker read the original from the bucket, wrote there.
    assert not storage.derivative_dir(media.id).exists()
    assert not storage.original_path(media.original_path).exists()

    name = media.renditions[0]["name"]
    response = client.get(f"/media/{media.id}/{name}")
    assert response.status_code == 200
    obj = s3_client(app.config).get_object(
        Bucket=app.config["S3_BUCKET"], Key=f"pub/{media.id}/{name}"
    )
    assert response.data == obj["Body"].read() and response.data[:4] == b"RIFF"
    assert obj["CacheControl"] == "public, max-age=31536000, immutable"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    assert (
        client.get(f"/media/{media.id}/{name}", headers={"If-None-Match": etag}).status_code == 304
    )

    assert client.post(f"/posts/{post.id}/delete").status_code == 303
    assert not {k for k in keys(app) if f"/{media.id}/" in k or media.original_path in k}


@pytest.mark.parametrize("app_config", [{"MEDIA_SERVE": "presigned"}], indirect=True)
def test_presigned_urls_for_public_images_only(client, artist, make_post, app):
    media, name, response = first_image(client, make_post(author=artist))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert f"/pub/{media.id}/{name}" in location and "Signature=" in location
    assert response.headers["Cache-Control"] == "public, max-age=1800"
    with urllib.request.urlopen(location) as fetched:  # the bucket itself answers
        assert fetched.read()[:4] == b"RIFF"

    hidden = make_post(author=artist, visibility="followers")
    hidden_media, hidden_name, response = first_image(client, hidden)
    assert response.status_code == 200 and "Location" not in response.headers  # streamed
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.data[:4] == b"RIFF"
    stored = keys(app)
    assert f"d/{hidden_media.id}/{hidden_name}" in stored
    assert not any(k.startswith(f"pub/{hidden_media.id}/") for k in stored)
    assert not any(k.startswith("pub/") and "orig" in k for k in stored)


@pytest.mark.parametrize(
    "app_config",
    [{"MEDIA_SERVE": "public-url", "S3_PUBLIC_URL": "https://cdn.art.example"}],
    indirect=True,
)
def test_public_bucket_urls_and_a_switch_to_followers_only(client, artist, make_post, app):
    post = make_post(author=artist)
    media, name, response = first_image(client, post)
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://cdn.art.example/pub/{media.id}/{name}"

    edit = {f"alt-{media.id}": "alt", "visibility": "followers"}
    assert client.post(f"/posts/{post.id}/edit", data=edit).status_code == 303
    db.session.refresh(media)
    new_name = media.renditions[0]["name"]
    assert new_name != name
    stored = keys(app)
    assert not any(k.startswith(f"pub/{media.id}/") for k in stored)  # out of the public prefix
    assert {f"d/{media.id}/{r['name']}" for r in media.renditions} <= stored
    obj = s3_client(app.config).head_object(
        Bucket=app.config["S3_BUCKET"], Key=f"d/{media.id}/{new_name}"
    )
    assert obj["CacheControl"] == "private, no-store"
    assert client.get(f"/media/{media.id}/{name}").status_code == 404
    response = client.get(f"/media/{media.id}/{new_name}")
    assert response.status_code == 200 and "Location" not in response.headers
    assert app.test_client().get(f"/media/{media.id}/{new_name}").status_code == 404


def test_remote_images_live_in_the_bucket_privately(app, tmp_path):
    """A remote post's re-encoded image (federation) goes to the bucket under remote/, is
    streamed from it, and goes when the post does: web and workers on other machines see it."""
    image = tmp_path / "0-abc.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    with app.test_request_context():
        storage.save_remote(7, image)
        assert not image.exists()  # moved, not copied: nothing is left on the local disk
        assert "remote/7/0-abc.jpg" in keys(app)
        response = storage.send_remote(7, "0-abc.jpg", "image/jpeg")
        assert b"".join(response.response) == b"\xff\xd8 not really a jpeg"
        assert storage.send_remote(7, "other.jpg", "image/jpeg") is None
        assert storage.send_remote(7, "../0-abc.jpg", "image/jpeg") is None
        storage.delete_remote(7)
    assert not any(key.startswith("remote/") for key in keys(app))
