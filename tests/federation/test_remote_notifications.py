"""Notifications about people on other servers, from a real signed peer: likes, reposts,
replies and mentions, shown on the notifications page with the remote person's name."""

from cara.core.extensions import db
from cara.core.models import Notification, RemoteFollow
from tests.federation.test_reactions import _activity
from tests.federation.test_replies import PUBLIC, _reply


def _kinds(user) -> list[str]:
    db.session.expire_all()
    rows = db.session.query(Notification).filter_by(user_id=user.id).order_by(Notification.id)
    return [n.kind for n in rows]


def test_remote_likes_reposts_and_replies_notify_the_artist(
    client, auth, make_user, make_post, peer
):
    ana = make_user("ana")
    post = make_post(ana, caption="Harbour at dawn")
    like = _activity(peer, "Like", post.id)
    for activity in (like, like, _activity(peer, "Announce", post.id)):
        peer.post_to(client, activity)
    peer.post_to(client, _reply(peer, post.id, content="<p>Lovely &amp; calm</p>"))
    assert _kinds(ana) == ["like", "repost", "comment"]
    assert all(n.remote_actor_id and n.actor_id is None for n in db.session.query(Notification))

    auth.login("ana")
    page = client.get("/notifications").get_data(as_text=True)
    link = f'<a href="/@bob@{peer.host}">Bob</a> <span class="handle">({peer.handle})</span>'
    assert page.count(link) == 3
    assert "liked" in page and "reposted" in page
    assert "replied to" in page and "“Lovely &amp; calm”" in page

    undo = {"id": f"{peer.actor_id}/undo/1", "type": "Undo", "actor": peer.actor_id}
    peer.post_to(client, {**undo, "object": like})
    assert _kinds(ana) == ["repost", "comment"]


def test_remote_mentions_notify_those_named_and_addressed(client, auth, make_user, make_post, peer):
    ana, cyd, dee = make_user("ana"), make_user("cyd"), make_user("dee")
    post = make_post(ana, caption="Harbour at dawn")
    mention = [{"type": "Mention", "href": "http://cara.test/@cyd", "name": "@cyd@cara.test"}]
    reply = _reply(peer, post.id, content="<p>@cyd look at this</p>")
    reply["object"]["tag"] = mention
    peer.post_to(client, reply)
    peer.post_to(client, reply)  # delivered twice: told once
    assert _kinds(ana) == ["comment"] and _kinds(cyd) == ["mention"]

    # A Note of theirs that replies to nothing here, public, naming dee: she is told.
    note = _reply(peer, 0, n=2, content="<p>Hello @dee</p>")
    del note["object"]["inReplyTo"]
    note["object"]["tag"] = [{"type": "Mention", "href": "http://cara.test/@dee"}]
    peer.post_to(client, note)
    # One addressed to someone else alone does not tell dee, though it names her.
    private = _reply(peer, 0, n=3, content="<p>About @dee</p>", to=["http://cara.test/@ana"])
    private["object"]["cc"] = []
    del private["object"]["inReplyTo"]
    private["object"]["tag"] = [{"type": "Mention", "href": "http://cara.test/@dee"}]
    peer.post_to(client, private)
    assert _kinds(dee) == ["mention"]

    auth.login("cyd")
    page = client.get("/notifications").get_data(as_text=True)
    assert "mentioned you" in page and f'href="/posts/{post.id}"' in page
    auth.logout()
    auth.login("dee")
    page = client.get("/notifications").get_data(as_text=True)
    assert "mentioned you in a post on another server: “Hello @dee”" in page
    assert PUBLIC  # the public address the notes above carry


def test_remote_follows_notify_with_the_handle(client, auth, make_user, peer):
    ana = make_user("ana")
    peer.trust(ana)
    follow = peer.follow()
    peer.post_to(client, follow)
    peer.post_to(client, follow)  # delivered twice: told once
    assert _kinds(ana) == ["follow"]
    auth.login("ana")
    page = client.get("/notifications").get_data(as_text=True)
    link = f'<a href="/@bob@{peer.host}">Bob</a> <span class="handle">({peer.handle})</span>'
    assert f"{link} followed you." in page
    undo = {"id": f"{peer.actor_id}/undo/9", "type": "Undo", "actor": peer.actor_id}
    peer.post_to(client, {**undo, "object": follow})
    assert _kinds(ana) == []  # unread, and undone: withdrawn


def test_remote_follow_requests_notify_a_private_account(client, auth, make_user, peer):
    ana = make_user("ana", is_private=True)
    peer.trust(ana)
    peer.post_to(client, peer.follow())
    assert _kinds(ana) == ["follow_request"]
    auth.login("ana")
    page = client.get("/notifications").get_data(as_text=True)
    assert f"({peer.handle})</span> asked to follow you." in page
    assert '<a href="/federation">Review follow requests</a>' in page
    request_id = db.session.query(RemoteFollow).one().id
    assert client.post(f"/federation/requests/{request_id}/approve").status_code == 303
    assert _kinds(ana) == ["follow"]  # the request became a follower

    peer.post_to(client, peer.follow(2))  # a request asked again and then rejected
    db.session.query(RemoteFollow).one().pending = True
    db.session.commit()
    assert client.post(f"/federation/requests/{request_id}/reject").status_code == 303
    assert _kinds(ana) == ["follow"]  # the follow told before stays; no request left
