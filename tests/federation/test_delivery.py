"""Delivery out (Create, Update, Delete to followers' inboxes, followers-only never public,
retries with backoff, unreachable instances) and Notes in (sanitised, only from followed
actors)."""

from datetime import timedelta

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import Delivery, Instance, PostState, RemoteActor, RemotePost, utcnow
from cara.federation import delivery
from cara.posting import drafts
from tests.factories import generator_png, image_bytes

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def test_a_post_goes_to_followers_as_create_update_delete(make_user, make_post, peer, followed_by):
    ana = make_user("ana")
    followed_by(ana)
    post = make_post(ana, caption="Harbour #ink")
    tasks.sweep()  # inline runner: the sweep starts deliveries queued at commit
    [create] = peer.of_type("Create")
    assert create["actor"] == "http://cara.test/@ana"
    assert create["to"] == [PUBLIC]
    note = create["object"]
    assert note["id"] == f"http://cara.test/ap/posts/{post.id}"
    assert note["attachment"][0]["type"] == "Image"
    assert peer.inbox.endswith("/inbox") and not peer.unverified
    assert db.session.query(Delivery).filter_by(done=False).count() == 0

    errors = drafts.update(post, {"caption": "Harbour at dawn #ink", "alt": _alts(post)})
    assert errors == {}
    tasks.sweep()
    [update] = peer.of_type("Update")
    assert update["object"]["content"] == "<p>Harbour at dawn #ink</p>"

    drafts.delete(post)
    tasks.sweep()
    [gone] = peer.of_type("Delete")
    assert gone["object"] == {"id": note["id"], "type": "Tombstone"}


def _alts(post):
    return {m.id: m.alt_text or "An image" for m in post.media}


def test_followers_only_posts_are_never_addressed_publicly(make_user, make_post, peer, followed_by):
    ana = make_user("ana")
    followed_by(ana)
    make_post(ana, caption="For friends", visibility="followers")
    tasks.sweep()
    [create] = peer.of_type("Create")
    assert create["to"] == ["http://cara.test/@ana/ap/followers"]
    assert PUBLIC not in create["cc"] and PUBLIC not in create["object"]["cc"]
    assert PUBLIC not in create["object"]["to"]


def test_without_remote_followers_nothing_is_queued(make_user, make_post, peer):
    make_post(make_user("ana"))
    assert db.session.query(Delivery).count() == 0


def _attempt(make_user, peer, followed_by, status: int) -> Delivery:
    """One delivery to the peer, which answers `status`, attempted once."""
    ana = make_user("ana")
    followed_by(ana)
    peer.status = status
    [row] = delivery.queue(ana, [peer.inbox], {"type": "Create", "id": "x", "actor": "a"})
    db.session.commit()
    delivery.deliver(row.id)
    return row


def test_failures_back_off_and_mark_the_instance_unreachable(make_user, peer, followed_by):
    row = _attempt(make_user, peer, followed_by, 503)
    db.session.refresh(row)
    assert row.attempts == 1 and not row.done and row.error == "answered 503"
    assert row.next_attempt_at > utcnow() + timedelta(seconds=50)
    delivery.deliver(row.id)  # not due yet: no second attempt
    assert row.attempts == 1 and len(peer.received) == 1

    instance = db.session.get(Instance, peer.host)
    instance.failures = delivery.UNREACHABLE_AFTER - 1
    row.next_attempt_at = utcnow()
    db.session.commit()
    delivery.deliver(row.id)
    db.session.refresh(instance)
    assert instance.unreachable_until > utcnow()
    # While unreachable, a due delivery waits for the instance without an attempt.
    row.next_attempt_at = utcnow()
    db.session.commit()
    delivery.deliver(row.id)
    db.session.refresh(row)
    assert row.attempts == 2 and row.next_attempt_at == instance.unreachable_until

    peer.status = 202
    row.next_attempt_at = instance.unreachable_until = utcnow()
    db.session.commit()
    delivery.deliver(row.id)
    db.session.refresh(row)
    db.session.refresh(instance)
    assert row.done and instance.failures == 0


def test_a_refusing_inbox_is_not_retried(make_user, peer, followed_by):
    row = _attempt(make_user, peer, followed_by, 403)
    db.session.refresh(row)
    assert row.done and row.attempts == 1 and row.error == "answered 403"


def _note(peer, n=1, **fields):
    return {
        "id": f"{peer.actor_id}/notes/{n}",
        "type": "Note",
        "attributedTo": peer.actor_id,
        "to": [PUBLIC],
        "content": '<p>Hello <script>alert(1)</script><a href="https://x.example" onclick="x()">'
        "link</a></p>",
        "published": "2026-12-01T10:00:00Z",
        **fields,
    }


def _create(peer, note, kind="Create"):
    return {"id": f"{note['id']}/activity", "type": kind, "actor": peer.actor_id, "object": note}


def test_notes_from_followed_actors_are_stored_sanitised(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    assert peer.post_to(client, _create(peer, _note(peer))).status_code == 202
    assert db.session.query(RemotePost).count() == 0  # nobody here follows bob
    follows_peer(ana)
    peer.post_to(client, _create(peer, _note(peer)))
    stored = db.session.query(RemotePost).one()
    assert "<script>" not in stored.content and "onclick" not in stored.content
    assert 'href="https://x.example"' in stored.content and stored.public
    auth.login("ana")
    assert "Hello" in client.get("/federation").get_data(as_text=True)

    peer.post_to(client, _create(peer, _note(peer, content="<p>Edited</p>"), "Update"))
    db.session.refresh(stored)
    assert stored.content == "<p>Edited</p>"
    # Only its author may delete it.
    other = {"id": "x", "type": "Delete", "actor": peer.actor_id, "object": "http://else/n/1"}
    peer.post_to(client, other)
    assert db.session.query(RemotePost).count() == 1
    delete = {
        "id": "y",
        "type": "Delete",
        "actor": peer.actor_id,
        "object": {"id": stored.uri, "type": "Tombstone"},
    }
    peer.post_to(client, delete)
    assert db.session.query(RemotePost).count() == 0
    assert db.session.query(RemoteActor).count() == 1


def test_remote_images_pass_the_pipeline_and_the_filter(
    client, auth, make_user, peer, follows_peer
):
    follows_peer(make_user("ana"))
    human = image_bytes(size=(400, 300))
    peer.files = {"/media/human.png": human, "/media/ai.png": generator_png()}
    attachments = [
        {
            "type": "Image",
            "mediaType": "image/png",
            "url": f"{peer.base}/media/{name}.png",
            "name": f"A {name} picture",
        }
        for name in ("human", "ai")
    ]
    assert (
        peer.post_to(client, _create(peer, _note(peer, attachment=attachments))).status_code == 202
    )
    shown, held = db.session.query(RemotePost).one().attachments
    assert shown["state"] == "shown" and shown["name"] == "A human picture"
    assert held["state"] == "held"  # kept for the moderators (test_review.py), never served
    auth.login("ana")
    page = client.get("/federation").get_data(as_text=True)
    assert 'alt="A human picture"' in page and "held by the AI filter" in page
    assert f'src="{peer.base}' not in page  # nothing hotlinked
    post_id = db.session.query(RemotePost).one().id
    image = client.get(f"/federation/media/{post_id}/{shown['file']}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.data != human  # re-encoded, not the remote file
    assert client.get(f"/federation/media/{post_id}/nothing.jpeg").status_code == 404
    assert client.get(f"/federation/media/{post_id}/{held['file']}").status_code == 404
    auth.logout()
    assert client.get(f"/federation/media/{post_id}/{shown['file']}").status_code == 302


def test_a_followers_only_posts_images_reach_its_followers_servers_only(
    app, client, make_user, make_post, peer, followed_by
):
    """Its Note names each image by a capability URL: fetched without a session, private;
    a forged or expired one, or one named before a change of visibility, is a 404."""
    import time

    from cara.federation import capability

    ana = make_user("ana")
    followed_by(ana)
    post = make_post(ana, caption="For friends", visibility="followers", images=[image_bytes()])
    tasks.sweep()
    [create] = peer.of_type("Create")
    [image] = create["object"]["attachment"]
    path = image["url"].removeprefix("http://cara.test")
    assert path.startswith(f"/federation/files/{post.media[0].id}/")
    response = client.get(path)  # no session: a server fetching for the followers
    assert response.status_code == 200 and response.mimetype == image["mediaType"]
    assert response.headers["Cache-Control"] == "private, no-store"
    name = path.split("?")[0].rsplit("/", 1)[1]
    assert client.get(f"/media/{post.media[0].id}/{name}").status_code == 404  # needs a session
    assert client.get(path[:-4] + "0000").status_code == 404  # another signature
    with app.test_request_context():
        old = capability.url(post.media[0].id, name, now=time.time() - 8 * 24 * 3600)
    assert client.get(old.removeprefix("http://cara.test")).status_code == 404  # expired
    for hidden in ("removed", "suspended"):  # while its followers would not see it either
        if hidden == "removed":
            post.state = PostState.REMOVED
        else:
            post.state, ana.suspended_at = PostState.PUBLISHED, utcnow()
        db.session.commit()
        assert client.get(path).status_code == 404, hidden
    post.state, ana.suspended_at = PostState.PUBLISHED, None
    db.session.commit()
    assert client.get(path).status_code == 200
    form = {"caption": "For everyone", "alt": _alts(post), "visibility": "public"}
    assert drafts.update(post, form) == {}
    assert client.get(path).status_code == 404  # renamed: the URL ended with the old name
