"""Local people liking, reposting and replying to remote posts, through the forms on
/federation: the activities reach a real peer, signed (it verifies them), and Undo takes a
like or repost back."""

from cara.core.extensions import db
from cara.core.models import RemoteInteraction, RemotePost
from tests.federation.test_delivery import _create, _note


def _received(peer, kind):
    return [a for a in peer.received if a["type"] == kind]


def _remote_post(client, peer, follows_peer, ana, **fields):
    follows_peer(ana)
    peer.post_to(client, _create(peer, _note(peer, **fields)))
    return db.session.query(RemotePost).one()


def test_like_repost_and_reply_out(client, auth, make_user, peer, follows_peer):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana)
    auth.login("ana")
    page = client.get("/federation").get_data(as_text=True)
    assert f'action="/federation/posts/{post.id}/like"' in page
    assert f'action="/federation/posts/{post.id}/reply"' in page

    for action in ("like", "like", "repost"):  # a second like sends nothing more
        back = {"next": "/federation"}
        response = client.post(f"/federation/posts/{post.id}/{action}", data=back)
        assert response.status_code == 303 and response.headers["Location"] == "/federation"
    [like], [announce] = _received(peer, "Like"), _received(peer, "Announce")
    assert like["actor"] == "http://cara.test/@ana" and like["object"] == post.uri
    assert announce["object"] == post.uri and announce["to"] == [
        "https://www.w3.org/ns/activitystreams#Public"
    ]
    page = client.get("/federation").get_data(as_text=True)
    assert f'action="/federation/posts/{post.id}/unlike"' in page

    client.post(f"/federation/posts/{post.id}/unlike")
    [undo] = _received(peer, "Undo")
    assert undo["object"]["id"] == like["id"] and undo["object"]["type"] == "Like"

    body = "So calm <b>here</b>\n\nand there"
    client.post(f"/federation/posts/{post.id}/reply", data={"body": body})
    [create] = _received(peer, "Create")
    note = create["object"]
    assert note["inReplyTo"] == post.uri and note["attributedTo"] == "http://cara.test/@ana"
    assert "<p>So calm &lt;b&gt;here&lt;/b&gt;</p><p>and there</p>" in note["content"]
    assert note["tag"][0] == {"type": "Mention", "href": peer.actor_id, "name": peer.handle}
    assert "So calm &lt;b&gt;here&lt;/b&gt;" in client.get("/federation").get_data(as_text=True)
    assert client.post(f"/federation/posts/{post.id}/reply", data={"body": " "}).status_code == 422
    kinds = sorted(r.kind for r in db.session.query(RemoteInteraction))
    assert kinds == ["announce", "reply"]


def test_followers_only_and_blocked(client, auth, make_user, peer, follows_peer):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana, to=[f"{peer.actor_id}/followers"])
    assert not post.public
    auth.login("ana")
    assert client.post(f"/federation/posts/{post.id}/repost").status_code == 403
    assert client.post(f"/federation/posts/{post.id}/like").status_code == 303
    client.post(f"/federation/actors/{post.actor_id}/block")  # ends her follow of them too
    assert client.post(f"/federation/posts/{post.id}/reply", data={"body": "x"}).status_code == 404
    assert client.post(f"/federation/posts/{post.id}/like").status_code == 404
    assert _received(peer, "Announce") == [] and _received(peer, "Create") == []
