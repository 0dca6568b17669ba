"""Local blocks and mutes of people elsewhere, with a real signed peer: set from their profile
page's forms; a block refuses their replies, likes, reposts, follows and mentions and hides what
they said before from the blocker; a mute hides them from the muter only."""

from cara.core.extensions import db
from cara.core.models import Notification, Post, RemoteComment, RemoteFollow
from tests.federation.test_reactions import _activity
from tests.federation.test_replies import _reply


def _profile(client, peer) -> str:
    return client.get(f"/@bob@{peer.host}").get_data(as_text=True)


def _action(client, peer, action):
    from cara.federation import actors

    actor = actors.by_uri(peer.actor_id)
    response = client.post(f"/federation/actors/{actor.id}/{action}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/@bob@{peer.host}")


def test_a_block_refuses_and_hides_them(client, auth, make_user, make_post, peer, followed_by):
    ana = make_user("ana")
    post = make_post(ana)
    followed_by(ana)
    peer.post_to(client, _reply(peer, post.id, 1, content="<p>Before the block</p>"))
    auth.login("ana")
    assert "Before the block" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert 'action="/federation/actors/' in _profile(client, peer)  # the Block form

    _action(client, peer, "block")
    assert "You blocked them" in _profile(client, peer)
    assert db.session.query(RemoteFollow).filter_by(inbound=True).count() == 0  # theirs ended
    assert "Before the block" not in client.get(f"/posts/{post.id}").get_data(as_text=True)
    auth.logout()
    assert "Before the block" in client.get(f"/posts/{post.id}").get_data(as_text=True)

    peer.post_to(client, _reply(peer, post.id, 2, content="<p>After the block</p>"))
    peer.post_to(client, _activity(peer, "Like", post.id))
    peer.post_to(client, _activity(peer, "Announce", post.id))
    mention = _reply(peer, 0, 3, content="<p>@ana hi</p>")
    del mention["object"]["inReplyTo"]
    mention["object"]["tag"] = [{"type": "Mention", "href": "http://cara.test/@ana"}]
    peer.post_to(client, mention)
    peer.post_to(client, peer.follow(2), "/@ana/inbox")
    db.session.expire_all()
    assert db.session.query(RemoteComment).count() == 1  # the one from before
    post = db.session.get(Post, post.id)
    assert (post.like_count, post.repost_count) == (0, 0)
    assert db.session.query(RemoteFollow).count() == 0
    assert peer.of_type("Reject")[-1]["object"]["id"] == f"{peer.actor_id}/follows/2"
    kinds = [n.kind for n in db.session.query(Notification).filter_by(user_id=ana.id)]
    assert kinds == ["comment"]  # the reply from before the block only

    auth.login("ana")
    _action(client, peer, "unblock")
    assert "You blocked them" not in _profile(client, peer)
    assert "Before the block" in client.get(f"/posts/{post.id}").get_data(as_text=True)


def test_a_mute_hides_them_from_the_muter_only(client, auth, make_user, make_post, peer):
    ana, cyd = make_user("ana"), make_user("cyd")
    post, own = make_post(ana), make_post(cyd)
    auth.login("cyd")
    _profile(client, peer)  # looked up, so the actor is known here
    _action(client, peer, "mute")
    assert "Unmute" in _profile(client, peer)
    peer.post_to(client, _reply(peer, post.id, 1, content="<p>Muted words</p>"))
    peer.post_to(client, _activity(peer, "Like", own.id))
    db.session.expire_all()
    assert db.session.get(Post, own.id).like_count == 1  # taken, but cyd is not told
    assert db.session.query(Notification).filter_by(user_id=cyd.id).count() == 0
    assert "Muted words" not in client.get(f"/posts/{post.id}").get_data(as_text=True)
    auth.logout()
    assert "Muted words" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    auth.login("cyd")
    _action(client, peer, "unmute")
    assert "Muted words" in client.get(f"/posts/{post.id}").get_data(as_text=True)
