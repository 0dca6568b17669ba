"""A limited (silenced) server, as Mastodon limits them: its people reach only those who
follow them here. Their replies, mentions and likes notify only their followers, their follows
wait for an answer, and their profiles say the server is limited, their posts behind it for
those who do not follow them."""

from cara.core.extensions import db
from cara.core.models import RemoteFollow, RemotePost
from cara.federation import instances
from tests.federation.test_delivery import _create, _note
from tests.federation.test_reactions import _activity
from tests.federation.test_remote_notifications import _kinds
from tests.federation.test_replies import _reply


def test_a_limited_servers_people_notify_only_their_followers(
    client, make_user, make_post, peer, follows_peer
):
    ana, cyd = make_user("ana"), make_user("cyd")
    follows_peer(cyd)
    post = make_post(ana, caption="Harbour at dawn")
    assert instances.limit(peer.host, "spam waves")
    reply = _reply(peer, post.id, content="<p>@cyd look at this</p>")
    reply["object"]["tag"] = [{"type": "Mention", "href": "http://cara.test/@cyd"}]
    peer.post_to(client, reply)
    peer.post_to(client, _activity(peer, "Like", post.id))
    assert _kinds(ana) == []  # ana does not follow bob: not told
    assert _kinds(cyd) == ["mention"]  # cyd does

    instances.unlimit(peer.host)
    peer.post_to(client, _activity(peer, "Announce", post.id))
    assert _kinds(ana) == ["repost"]


def test_a_limited_servers_follows_wait_for_an_answer(client, make_user, peer):
    ana = make_user("ana")  # a public account: a follow is accepted at once, elsewhere
    instances.limit(peer.host)
    assert peer.post_to(client, peer.follow()).status_code == 202
    follow = db.session.query(RemoteFollow).one()
    assert follow.pending and not peer.of_type("Accept")
    assert _kinds(ana) == ["follow_request"]  # told: the request waits for her


def test_a_limited_servers_profiles_say_so_and_hold_posts_for_non_followers(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    make_user("cyd")
    follows_peer(ana)
    peer.post_to(client, _create(peer, _note(peer, content="<p>Sea study</p>")))
    assert db.session.query(RemotePost).count() == 1
    instances.limit(peer.host)
    profile = f"/@bob@{peer.host}"

    auth.login("cyd")  # does not follow bob
    page = client.get(profile).get_data(as_text=True)
    assert f"{peer.host} is limited by the admins of this site" in page
    assert "Sea study" not in page
    assert f'href="{profile}?show=posts"' in page
    assert "Sea study" in client.get(f"{profile}?show=posts").get_data(as_text=True)
    auth.logout()

    auth.login("ana")  # follows bob: his posts reach her, on his profile and in her feed
    page = client.get(profile).get_data(as_text=True)
    assert "is limited by the admins" in page and "Sea study" in page
    assert "show=posts" not in page
    assert "Sea study" in client.get("/following").get_data(as_text=True)
