"""Remote profiles (/@name@server) and search resolving an address, against a real peer on
loopback: looked up by WebFinger, a Follow button, their posts as the viewer may see them."""

from urllib.parse import quote

from cara.core.extensions import db
from cara.core.models import RemoteActor, RemoteFollow, RemotePost
from tests.federation.test_delivery import _create, _note


def _page(peer) -> str:
    return f"/@{peer.username}@{quote(peer.host, safe=':')}"


def test_a_remote_profile_is_found_followed_and_shows_what_the_viewer_may_see(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    make_user("cyd")
    peer.trust(ana)
    assert client.get(_page(peer)).status_code == 302  # signed in only (it fetches)
    auth.login("ana")
    page = client.get(_page(peer)).get_data(as_text=True)
    assert peer.handle in page and 'value="profile"' in page  # looked up; a Follow button
    assert f"/users/{peer.username}" in peer.signed_gets
    assert db.session.query(RemoteActor).count() == 1

    answer = client.post("/federation/follow", data={"handle": peer.handle, "back": "profile"})
    assert answer.status_code == 303 and answer.location.endswith(_page(peer))
    assert "waiting for them to accept" in client.get(_page(peer)).get_data(as_text=True)
    assert len(peer.of_type("Follow")) == 1
    db.session.query(RemoteFollow).delete()
    db.session.commit()

    follows_peer(ana)
    peer.post_to(client, _create(peer, _note(peer, 1, content="<p>For everyone</p>")))
    only = _note(peer, 2, content="<p>For followers</p>", to=[f"{peer.actor_id}/followers"])
    peer.post_to(client, _create(peer, only))
    assert db.session.query(RemotePost).count() == 2
    page = client.get(_page(peer)).get_data(as_text=True)
    assert "For everyone" in page and "For followers" in page and "Unfollow" in page
    auth.logout()
    auth.login("cyd")  # follows nobody: the public post only, and the Follow button
    page = client.get(_page(peer)).get_data(as_text=True)
    assert "For everyone" in page and "For followers" not in page and 'value="profile"' in page


def test_search_sends_an_address_to_its_profile(client, auth, make_user, peer):
    make_user("ana")
    auth.login("ana")
    answer = client.get("/search", query_string={"q": peer.handle})
    assert answer.status_code == 303 and answer.location.endswith(_page(peer))
    assert client.get("/search", query_string={"q": "ana@example.org"}).status_code == 200
    local = client.get("/@ana@cara.test")
    assert local.status_code == 303 and local.location.endswith("/@ana")


def test_an_address_nobody_answers_for_is_a_404(client, auth, make_user):
    make_user("ana")
    auth.login("ana")
    answer = client.get("/@nobody@127.0.0.1:9")
    assert answer.status_code == 404 and "Could not find @nobody@127.0.0.1:9" in answer.get_data(
        as_text=True
    )


def test_the_following_feed_interleaves_posts_from_elsewhere_by_time(
    client, auth, make_user, make_post, peer, follows_peer
):
    """Local and remote posts in one order, paged across both (a page may end on either);
    a muted person's posts leave, and none come while federation is off."""
    from datetime import timedelta

    from cara.core.models import Follow, RemoteBlock, utcnow
    from cara.social import feeds

    ana, bea = make_user("ana"), make_user("bea")
    follows_peer(ana)
    db.session.add(Follow(follower_id=ana.id, followee_id=bea.id, pending=False))
    now = utcnow()
    for hours in (1, 3, 5):
        post = make_post(bea, caption=f"Near {hours}")
        post.published_at = now - timedelta(hours=hours)
    db.session.commit()
    for hours in (2, 4, 6):
        when = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        note = _note(peer, hours, content=f"<p>Far {hours}</p>", published=when)
        peer.post_to(client, _create(peer, note))
    auth.login("ana")
    page = client.get("/following").get_data(as_text=True)
    order = [page.index(f"{kind} {h}") for h, kind in enumerate(["Near", "Far"] * 3, 1)]
    assert order == sorted(order), "newest first, local and remote mixed"
    assert f'href="{_page(peer)}"' in page  # the name links to their profile here

    seen = []  # two at a time: every cursor lands on a local or a remote entry in turn
    cursor = None
    while True:
        got = feeds.following(ana, cursor, limit=2, elsewhere=_source(ana))
        seen += [kind for kind, _ in got.entries]
        if not (cursor := got.next_cursor):
            break
    assert seen == [feeds.LOCAL, feeds.ELSEWHERE] * 3

    actor = db.session.query(RemoteActor).one()
    db.session.add(RemoteBlock(user_id=ana.id, actor_id=actor.id, kind="mute"))
    db.session.commit()
    assert "Far 2" not in client.get("/following").get_data(as_text=True)


def test_no_posts_from_elsewhere_in_the_feed_while_federation_is_off(
    app, client, auth, make_user, peer, follows_peer
):
    follows_peer(make_user("ana"))
    peer.post_to(client, _create(peer, _note(peer, 1, content="<p>Sketch from afar</p>")))
    auth.login("ana")
    assert "Sketch from afar" in client.get("/following").get_data(as_text=True)
    app.config["FEDERATION"] = False
    assert "Sketch from afar" not in client.get("/following").get_data(as_text=True)


def _source(user):
    from cara.federation import inbox

    return inbox.following_source(user)
