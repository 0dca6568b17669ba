"""Images held from elsewhere reach the moderators (issue 15): the "From elsewhere" queue shows
our copy of each (to moderators only), Confirm AI makes them known AI images (hashes, local
features, our shared feed) and Clear shows them and allows their hashes."""

import io

import pytest
from PIL import Image

from cara.aifilter.signals import Outcome
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import AuditEntry, HashFeedEntry, KnownFeature, KnownHash, RemotePost
from cara.posting import screening
from tests.factories import generator_png, image_bytes, pixels_only


def _create(peer, attachments):
    note = {
        "id": f"{peer.base}/notes/1",
        "type": "Note",
        "attributedTo": peer.actor_id,
        "content": "<p>New work</p>",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "attachment": attachments,
    }
    return {
        "id": f"{note['id']}/activity",
        "type": "Create",
        "actor": peer.actor_id,
        "object": note,
    }


@pytest.fixture
def held_post(client, make_user, peer, follows_peer):
    """A remote post of a human picture and an AI one (a generator's PNG text): the second held."""
    follows_peer(make_user("ana"))
    make_user("mona", role="moderator")
    peer.files = {
        "/media/human.png": image_bytes(size=(400, 300)),
        "/media/ai.png": generator_png(),
    }
    attachments = [
        {"type": "Image", "mediaType": "image/png", "url": f"{peer.base}/media/{n}.png", "name": n}
        for n in ("human", "ai")
    ]
    assert peer.post_to(client, _create(peer, attachments)).status_code == 202
    post = db.session.query(RemotePost).one()
    assert [a["state"] for a in post.attachments] == ["shown", "held"]
    assert post.awaiting_review
    return post


def _ai_pixels() -> bytes:
    """The held image's pixels without its generator text: only a known hash can catch them."""
    return pixels_only(Image.open(io.BytesIO(generator_png())))


def _judge(folder, data: bytes):
    path = folder / "upload.png"
    path.write_bytes(data)
    return screening.judge_file(path)[1].decision


def test_a_held_image_from_elsewhere_waits_for_the_moderators(client, auth, held_post):
    held = held_post.attachments[1]
    assert (
        held["signals"][0]["name"] == "png-text"
        and "AUTOMATIC1111" in held["signals"][0]["evidence"]
    )
    copy = f"/moderation/remote/{held_post.id}/{held['file']}"
    # Never public, nor for members: only the moderators' route serves it.
    assert client.get(f"/federation/media/{held_post.id}/{held['file']}").status_code in (302, 404)
    auth.login("ana")
    assert client.get(f"/federation/media/{held_post.id}/{held['file']}").status_code == 404
    assert client.get(copy).status_code == 404
    assert client.get("/moderation?queue=remote").status_code == 404
    auth.logout()
    auth.login("mona")
    page = client.get("/moderation?queue=remote").get_data(as_text=True)
    assert "From elsewhere (1)" in page and f'id="review-remote-{held_post.id}"' in page
    assert f'src="{copy}"' in page and "AUTOMATIC1111" in page
    assert "New work" in page and "human" not in page.split(f'id="review-remote-{held_post.id}"')[1]
    image = client.get(copy)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.headers["Cache-Control"] == "private, no-store"
    assert client.get(f"/moderation/remote/{held_post.id}/nothing.jpeg").status_code == 404
    other = held_post.attachments[0]["file"]  # a shown image is not the queue's
    assert client.get(f"/moderation/remote/{held_post.id}/{other}").status_code == 404


def test_confirming_makes_them_known_ai_images(client, auth, held_post, tmp_path):
    assert _judge(tmp_path, _ai_pixels()) == Outcome.PUBLISH  # nothing knows these pixels yet
    auth.login("mona")
    confirm = f"/moderation/remote/{held_post.id}/confirm"
    assert client.post(confirm, data={"reason": ""}).status_code == 422  # a reason is required
    response = client.post(confirm, data={"reason": "Generator text", "next": "/moderation"})
    assert response.status_code == 303
    db.session.refresh(held_post)
    held = held_post.attachments[1]
    assert held["state"] == "rejected" and not held_post.awaiting_review
    with storage.remote_file(held_post.id, held["file"]) as path:
        assert path is None  # the AI image's file is gone
    assert db.session.query(KnownHash).filter_by(source="moderator", allow=False).count() > 0
    assert db.session.query(KnownFeature).filter_by(source="moderator").count() == 1
    [entry] = db.session.query(HashFeedEntry).filter_by(ref=f"r{held_post.id}-1").all()
    assert entry.op == "add" and entry.hashes and entry.features
    [log] = db.session.query(AuditEntry).filter_by(subject_kind="remote_post").all()
    assert (log.action, log.subject_id, log.reason) == (
        "confirm-ai",
        held_post.id,
        "Generator text",
    )
    # The same pixels, stripped of their generator text, are now refused here (a trusted match).
    assert _judge(tmp_path, _ai_pixels()) == Outcome.REJECT
    # Decided: nothing waits, and a second decision is refused.
    page = client.get("/moderation?queue=remote").get_data(as_text=True)
    assert "From elsewhere (0)" in page and "No images from elsewhere wait" in page
    assert client.post(confirm, data={"reason": "again"}).status_code == 409
    auth.logout()
    auth.login("ana")
    assert "held by the AI filter" in client.get("/federation").get_data(as_text=True)


def test_clearing_shows_them_and_allows_their_hashes(client, auth, held_post):
    auth.login("mona")
    assert client.post(f"/moderation/remote/{held_post.id}/clear", data={}).status_code == 303
    db.session.refresh(held_post)
    held = held_post.attachments[1]
    assert held["state"] == "shown" and not held_post.awaiting_review
    assert db.session.query(KnownHash).filter_by(allow=True).count() > 0
    assert db.session.query(KnownHash).filter_by(allow=False).count() == 0
    assert db.session.query(HashFeedEntry).count() == 0  # nothing shared for a cleared image
    [log] = db.session.query(AuditEntry).filter_by(subject_kind="remote_post").all()
    assert log.action == "clear"
    auth.logout()
    auth.login("ana")
    image = client.get(f"/federation/media/{held_post.id}/{held['file']}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
