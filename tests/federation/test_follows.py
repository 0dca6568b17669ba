"""Follows across servers, with a real peer on loopback: inbound Follow -> Accept (private
accounts approve or reject), Undo; outbound Follow found by WebFinger, then Accept."""

from cara.core.extensions import db
from cara.core.models import RemoteFollow
from cara.federation import follows


def test_a_remote_follow_of_a_public_account_is_accepted(client, make_user, peer):
    ana = make_user("ana")
    peer.trust(ana)
    assert peer.post_to(client, peer.follow(), "/@ana/inbox").status_code == 202
    follow = db.session.query(RemoteFollow).one()
    assert follow.inbound and not follow.pending
    [accept] = peer.of_type("Accept")
    assert accept["actor"] == "http://cara.test/@ana"
    assert accept["object"]["id"] == f"{peer.actor_id}/follows/1"
    assert accept["object"]["type"] == "Follow"
    assert client.get("/@ana/ap/followers").get_json()["totalItems"] == 1

    undo = {
        "id": f"{peer.actor_id}/undo/1",
        "type": "Undo",
        "actor": peer.actor_id,
        "object": peer.follow(),
    }
    assert peer.post_to(client, undo).status_code == 202
    assert db.session.query(RemoteFollow).count() == 0


def test_a_private_account_approves_or_rejects(client, auth, make_user, peer):
    ana = make_user("ana", is_private=True)
    peer.trust(ana)
    peer.post_to(client, peer.follow())
    [request] = follows.requests(ana)
    assert request.pending and not peer.received  # nothing said until she decides
    auth.login("ana")
    page = client.get("/federation").get_data(as_text=True)
    assert peer.handle in page
    assert client.post(f"/federation/requests/{request.id}/approve").status_code == 303
    assert not db.session.get(RemoteFollow, request.id).pending
    assert [a["type"] for a in peer.received] == ["Accept"]

    # Another request, rejected.
    db.session.delete(db.session.get(RemoteFollow, request.id))
    db.session.commit()
    peer.post_to(client, peer.follow(2))
    [request] = follows.requests(ana)
    request_id = request.id
    assert client.post(f"/federation/requests/{request_id}/reject").status_code == 303
    assert db.session.query(RemoteFollow).count() == 0
    assert peer.of_type("Reject")[0]["object"]["id"] == f"{peer.actor_id}/follows/2"
    assert client.post(f"/federation/requests/{request_id}/approve").status_code == 404


def test_following_someone_elsewhere(client, auth, make_user, peer):
    ana = make_user("ana")
    peer.trust(ana)
    auth.login("ana")
    response = client.post("/federation/follow", data={"handle": peer.handle})
    assert response.status_code == 303
    assert f"/users/{peer.username}" in peer.signed_gets  # the actor fetched with a signature
    [sent] = peer.of_type("Follow")
    assert sent["actor"] == "http://cara.test/@ana"
    assert sent["object"] == peer.actor_id
    follow = db.session.query(RemoteFollow).one()
    assert not follow.inbound and follow.pending
    assert "waiting for them to accept" in client.get("/federation").get_data(as_text=True)

    accept = {
        "id": f"{peer.actor_id}/accepts/1",
        "type": "Accept",
        "actor": peer.actor_id,
        "object": sent,
    }
    assert peer.post_to(client, accept).status_code == 202
    db.session.refresh(follow)
    assert not follow.pending
    assert client.get("/@ana/ap/following").get_json()["totalItems"] == 1

    assert client.post(f"/federation/unfollow/{follow.actor_id}").status_code == 303
    [undo] = peer.of_type("Undo")
    assert undo["object"]["id"] == sent["id"]
    assert db.session.query(RemoteFollow).count() == 0


def test_an_unknown_address_is_a_clear_message(client, auth, make_user, peer):
    make_user("ana")
    auth.login("ana")
    missing = client.post("/federation/follow", data={"handle": f"@nobody@{peer.host}"})
    assert missing.status_code == 422
    assert "Could not find" in missing.get_data(as_text=True)
    assert client.post("/federation/follow", data={"handle": "not a handle"}).status_code == 400


ODD = [
    {"type": "Accept", "object": 5},
    {"type": "Reject", "object": {"id": ["x"]}},
    {"type": "Undo", "object": {"type": "Follow", "id": 3, "object": {}}},
    {"type": "Undo", "object": {"type": "Like", "object": None}},
    {"type": "Follow", "object": ["http://cara.test/@ana"]},
    {"type": "Create", "object": {"type": "Note", "id": 1, "attributedTo": None}},
    {"type": "Update", "object": {"type": "Person", "inbox": 7}},
    {"type": "Delete", "object": None},
    {"type": "Like", "id": "l", "object": "http://cara.test/ap/posts/99999999999999999999"},
    {"type": "Move", "object": "x"},
]


def test_odd_activities_are_ignored_without_errors(client, make_user, peer):
    make_user("ana")
    for activity in ODD:
        activity = {"id": f"{peer.actor_id}/odd", "actor": peer.actor_id, **activity}
        assert peer.post_to(client, activity).status_code == 202, activity
    assert db.session.query(RemoteFollow).count() == 0


def test_a_signed_body_that_is_not_an_activity_is_400(client, make_user, peer):
    from cara.federation import signatures

    for body in (b"[]", b"not json", b'{"type": 5}', b'{"actor": "x"}'):
        headers = signatures.sign(
            "POST", "localhost", "/inbox", peer.key_id, peer.private_pem, body
        )
        assert client.post("/inbox", data=body, headers=headers).status_code == 400, body
