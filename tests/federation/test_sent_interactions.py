"""The likes, reposts and replies sent from here: their ids dereference to what was sent while
it stands, and a reply can be edited (Update{Note}) or deleted (Delete{Tombstone}), delivered
to a real peer that verifies the signatures."""

from cara.core.extensions import db
from cara.core.models import RemoteInteraction
from tests.federation.test_interactions import _received, _remote_post

AP = {"Accept": "application/activity+json"}


def _get(client, url):
    return client.get(url.removeprefix("http://cara.test"), headers=AP)


def test_the_ids_of_likes_reposts_and_replies_dereference(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana)
    auth.login("ana")
    client.post(f"/federation/posts/{post.id}/like")
    client.post(f"/federation/posts/{post.id}/repost")
    client.post(f"/federation/posts/{post.id}/reply", data={"body": "Lovely light"})
    [like], [announce], [create] = (_received(peer, k) for k in ("Like", "Announce", "Create"))
    auth.logout()  # anyone may fetch them, as the receiving servers do

    answer = _get(client, like["id"])
    assert answer.status_code == 200 and answer.mimetype == "application/activity+json"
    assert answer.json == like
    assert _get(client, announce["id"]).json == announce
    note = _get(client, create["object"]["id"]).json
    assert {k: note[k] for k in ("id", "type", "inReplyTo", "content", "to")} == {
        k: create["object"][k] for k in ("id", "type", "inReplyTo", "content", "to")
    }
    assert "Accept" in answer.headers["Vary"]  # once undone or deleted: test_tombstones.py


def test_likes_and_replies_of_followers_only_posts_are_not_served(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana, to=[f"{peer.actor_id}/followers"])
    auth.login("ana")
    client.post(f"/federation/posts/{post.id}/like")
    client.post(f"/federation/posts/{post.id}/reply", data={"body": "Just for you"})
    [like], [create] = _received(peer, "Like"), _received(peer, "Create")
    assert _get(client, like["id"]).status_code == 404
    assert _get(client, create["object"]["id"]).status_code == 404


def test_a_reply_sent_is_edited_and_deleted(client, auth, make_user, peer, follows_peer):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana)
    make_user("cyd")
    auth.login("ana")
    client.post(f"/federation/posts/{post.id}/reply", data={"body": "Lovely lihgt"})
    row = db.session.query(RemoteInteraction).one()
    page = client.get("/federation").get_data(as_text=True)
    assert f'action="/federation/replies/{row.id}/edit"' in page
    assert f'action="/federation/replies/{row.id}/delete"' in page
    assert client.post(f"/federation/replies/{row.id}/edit", data={"body": ""}).status_code == 422

    answer = client.post(
        f"/federation/replies/{row.id}/edit", data={"body": "Lovely light", "next": "/federation"}
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/federation"
    [create], [update] = _received(peer, "Create"), _received(peer, "Update")
    assert update["object"]["id"] == create["object"]["id"]
    assert "<p>Lovely light</p>" in update["object"]["content"] and update["object"]["updated"]
    assert update["id"] != create["id"] and update["to"] == create["to"]
    assert "Lovely light" in _get(client, create["object"]["id"]).json["content"]
    page = client.get("/federation").get_data(as_text=True)
    assert "You replied: Lovely light" in page and "(edited)" in page
    auth.logout()

    auth.login("cyd")  # not hers: nothing to edit or delete
    assert client.post(f"/federation/replies/{row.id}/delete").status_code == 404
    auth.logout()

    auth.login("ana")
    assert client.post(f"/federation/replies/{row.id}/delete").status_code == 303
    [delete] = _received(peer, "Delete")
    assert delete["object"] == {"id": create["object"]["id"], "type": "Tombstone"}
    assert delete["actor"] == "http://cara.test/@ana"
    assert _get(client, create["object"]["id"]).status_code == 410
    assert "Lovely light" not in client.get("/federation").get_data(as_text=True)
    assert db.session.query(RemoteInteraction).count() == 0
