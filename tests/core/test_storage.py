"""Local storage and how media is served: cache headers follow visibility, visibility is in
every derivative name (issue 12, M1), nginx's X-Accel-Redirect, refused configurations."""

import pytest
from sqlalchemy import event

from cara import create_app
from cara.accounts import profiles
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import Post, PostState
from cara.posting import drafts, processing
from tests.factories import generator_png, login, make_user


@pytest.fixture
def artist(client):
    user = make_user("ana")
    login(client, "ana")
    return user


def names(post: Post) -> set[str]:
    db.session.refresh(post)
    return {r["name"] for m in post.media for r in m.renditions}


def url(post: Post) -> str:
    media = post.media[0]
    return f"/media/{media.id}/{media.renditions[0]['name']}"


def test_public_image_is_cached_publicly(client, artist, make_post):
    response = client.get(url(make_post(author=artist)))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize("state", ["draft", "pending", "held", "rejected"])
def test_unpublished_images_are_private_no_store(client, artist, make_post, state):
    post = make_post(author=artist, publish=False)
    post.state = PostState(state)  # as the pipeline or a moderator leaves it
    db.session.commit()
    response = client.get(url(post))  # the artist still sees their own image
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_held_by_the_filter_is_private_no_store(client, artist, make_post):
    post = make_post(author=artist, images=[generator_png()])
    assert post.state == PostState.HELD
    assert client.get(url(post)).headers["Cache-Control"] == "private, no-store"


def test_followers_only_and_private_account_images_are_private_no_store(client, artist, make_post):
    followers = make_post(author=artist, visibility="followers")
    assert client.get(url(followers)).headers["Cache-Control"] == "private, no-store"
    artist.is_private = True
    db.session.commit()
    public_post_of_private_account = make_post(author=artist)
    response = client.get(url(public_post_of_private_account))
    assert response.headers["Cache-Control"] == "private, no-store"


def test_switching_to_followers_only_renames_every_derivative(client, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]
    before, old_url = names(post), url(post)
    old_files = set(p.name for p in storage.derivative_dir(media.id).iterdir())
    response = client.post(
        f"/posts/{post.id}/edit", data={f"alt-{media.id}": "alt", "visibility": "followers"}
    )
    assert response.status_code == 303
    after = names(post)
    assert after and not before & after  # every URL changed
    assert client.get(old_url).status_code == 404  # and the old names are gone
    assert not old_files & {p.name for p in storage.derivative_dir(media.id).iterdir()}
    response = client.get(url(post))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"


def test_renaming_keeps_the_bytes(client, artist, make_post):
    post = make_post(author=artist)
    media = post.media[0]

    def kind(r):
        return r["fmt"], r["w"], r.get("sq", False)

    before = {kind(r): client.get(f"/media/{media.id}/{r['name']}").data for r in media.renditions}
    post.visibility = "followers"
    db.session.commit()
    processing.follow_visibility(post)
    db.session.refresh(media)
    for r in media.renditions:
        assert client.get(f"/media/{media.id}/{r['name']}").data == before[kind(r)]


def test_account_going_private_renames_and_back_again(client, artist, make_post):
    post = make_post(author=artist)
    public_names = names(post)
    values = {
        "is_private": True,
        "show_mature": artist.show_mature,
        "data_saver": artist.data_saver,
        "noindex": artist.noindex,
        "licence": artist.licence,
        "data_mining": artist.data_mining,
    }
    assert profiles.update_preferences(artist, values) == {}
    private_names = names(post)
    assert private_names and not public_names & private_names
    assert client.get(url(post)).headers["Cache-Control"] == "private, no-store"
    assert profiles.update_preferences(artist, {**values, "is_private": False}) == {}
    assert names(post) == public_names  # public again: the public names (the same bytes)
    assert client.get(url(post)).headers["Cache-Control"].startswith("public")


def test_publishing_renames_draft_derivatives(client, artist, make_post):
    draft = make_post(author=artist, publish=False)
    draft_names = names(draft)
    draft_url = url(draft)
    published = make_post(author=artist)  # the same image, uploaded and published
    assert published.state == PostState.PUBLISHED
    assert client.get(draft_url).headers["Cache-Control"] == "private, no-store"
    published_media = published.media[0]
    assert all(published_media.version in r["name"] for r in published_media.renditions)
    assert all(r.get("pub") for r in published_media.renditions)
    assert not any(r.get("pub") for m in draft.media for r in m.renditions)
    assert draft_names


def test_hidden_name_of_a_public_image_is_not_cached_publicly(client, artist, make_post):
    """A name made while the image was hidden never enters a shared cache: it would stay
    there when the image is hidden again under that same name."""
    post = make_post(author=artist, publish=False)
    post.state = PostState.PUBLISHED  # public now, its files not yet renamed
    db.session.commit()
    assert client.get(url(post)).headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("app_config", [{"MEDIA_SERVE": "accel"}])
def test_accel_redirect_hands_the_file_to_nginx_after_the_checks(client, artist, make_post, app):
    post = make_post(author=artist, visibility="followers")
    media = post.media[0]
    name = media.renditions[0]["name"]
    response = client.get(f"/media/{media.id}/{name}")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"/_protected_media/d/{media.id}/{name}"
    assert (storage.derivative_dir(media.id) / name).is_file()  # where nginx's alias points
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "noai" in response.headers["X-Robots-Tag"]
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert app.test_client().get(f"/media/{media.id}/{name}").status_code == 404  # policy first


@pytest.mark.parametrize(
    "settings",
    [
        {"STORAGE": "floppy"},
        {"MEDIA_SERVE": "cdn"},
        {"MEDIA_SERVE": "presigned"},  # needs S3
        {"STORAGE": "s3"},  # needs a bucket
        {"STORAGE": "s3", "S3_BUCKET": "b", "MEDIA_SERVE": "accel"},
        {"STORAGE": "s3", "S3_BUCKET": "b", "MEDIA_SERVE": "public-url"},  # needs its URL
    ],
)
def test_impossible_storage_settings_refuse_to_start(tmp_path, settings):
    with pytest.raises(RuntimeError):
        create_app({"MEDIA_DIR": str(tmp_path), "SECRET_KEY": "x" * 40, **settings})


def test_suspension_and_removal_take_the_public_names_away(client, artist, make_post):
    """A suspended artist's images and a removed post's are no longer public: new names,
    private, no-store; the old public URLs 404. Lifting the suspension gives them back."""
    from cara import moderation

    moderator = make_user("moe", role="moderator")
    post, other = make_post(author=artist), make_post(author=artist)
    public_url, public_names = url(post), names(post)
    moderation.suspend(artist, moderator, "Spam in every comment")
    assert not public_names & names(post)
    assert client.get(public_url).status_code == 404
    moderation.unsuspend(artist, moderator)
    assert names(post) == public_names
    other_url = url(other)
    moderation.remove(other, moderator, "Stolen art")
    assert client.get(other_url).status_code == 404
    db.session.refresh(other)
    assert not {r.get("pub") for m in other.media for r in m.renditions} - {None, False}


def test_a_post_goes_live_in_the_commit_that_names_its_public_images(artist, make_post):
    """No page may name files that are about to be deleted: publishing commits the state and
    the public names together (the files were copied before), then deletes the draft's."""
    draft = make_post(author=artist, publish=False)
    seen = []

    def record(session):
        seen.append((draft.state, all(r.get("pub") for m in draft.media for r in m.renditions)))

    event.listen(db.session, "before_commit", record)
    try:
        assert drafts.publish(draft, {"alt": {m.id: "alt" for m in draft.media}}) == {}
    finally:
        event.remove(db.session, "before_commit", record)
    assert draft.state == PostState.PUBLISHED
    assert (PostState.PUBLISHED, False) not in seen and (PostState.PUBLISHED, True) in seen


def test_an_avif_job_overtaken_by_publishing_keeps_the_public_names(
    app, artist, make_post, monkeypatch
):
    """The AVIF job encodes for the names it read, for seconds; when the post goes live
    meanwhile (its images renamed), its list must not replace the new one (CI saw the page
    name the draft's deleted files), and its files for the old names are removed."""
    monkeypatch.setattr(processing, "make_avif", lambda media_id: None)
    draft = make_post(author=artist, publish=False)
    monkeypatch.undo()
    worker_view = draft.media[0]  # this session read the draft's names, as the job's did
    draft_names = {r["name"] for r in worker_view.renditions}
    assert not any(r["fmt"] == "avif" for r in worker_view.renditions)
    with app.app_context():  # the web request: another session publishes
        post = db.session.get(Post, draft.id)
        assert drafts.publish(post, {"alt": {m.id: "alt" for m in post.media}}) == {}
        assert post.state == PostState.PUBLISHED
    processing.make_avif(worker_view.id)  # the job, with what its session read before
    db.session.expire_all()
    media = db.session.get(Post, draft.id).media[0]
    kept = {r["name"] for r in media.renditions}
    assert not kept & draft_names
    assert "avif" in {r["fmt"] for r in media.renditions}  # made for the public names
    on_disk = {p.name for p in storage.derivative_dir(media.id).iterdir()}
    assert kept == on_disk
