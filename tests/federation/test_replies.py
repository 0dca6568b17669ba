"""Remote replies to local posts, signed by a real peer on loopback: kept as remote comments,
shown among the post's comments (by audience), edited, deleted, and gone with their actor."""

import re

from cara.core.extensions import db
from cara.core.models import Post, RemoteActor, RemoteComment

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _reply(peer, post_id, n=1, content="<p>Lovely work!</p>", to=None, kind="Create"):
    note = {
        "id": f"{peer.actor_id}/notes/{n}",
        "type": "Note",
        "attributedTo": peer.actor_id,
        "inReplyTo": f"http://cara.test/ap/posts/{post_id}",
        "content": content,
        "published": "2026-12-01T10:00:00Z",
        "to": to if to is not None else [PUBLIC],
        "cc": [f"{peer.actor_id}/followers"],
    }
    return {
        "id": f"{note['id']}/{kind.lower()}",
        "type": kind,
        "actor": peer.actor_id,
        "object": note,
    }


def _direct(peer, post_id, content, to="http://cara.test/@ana"):
    """A reply addressed to one person here alone (no public, no collection)."""
    activity = _reply(peer, post_id, content=content, to=[to])
    activity["object"]["cc"] = []
    return activity


def _delete(peer, n=1):
    """Delete of the peer's Note n (a Tombstone)."""
    return {
        "id": f"{peer.actor_id}/notes/{n}/delete",
        "type": "Delete",
        "actor": peer.actor_id,
        "object": {"id": f"{peer.actor_id}/notes/{n}", "type": "Tombstone"},
    }


def _count(post) -> int:
    db.session.expire_all()
    return db.session.get(Post, post.id).comment_count


def test_a_public_reply_is_shown_counted_edited_and_deleted(client, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    evil = (
        '<p>Lovely <a href="https://x.example" onclick="steal()">work</a></p>'
        "<script>bad()</script><img src=x onerror=bad()>"
    )
    assert peer.post_to(client, _reply(peer, post.id, content=evil)).status_code == 202
    peer.post_to(client, _reply(peer, post.id, content=evil))  # delivered twice: kept once
    assert db.session.query(RemoteComment).count() == 1
    assert _count(post) == 1

    page = client.get(f"/posts/{post.id}").get_data(as_text=True)  # logged out
    assert "Comments (1)" in page
    assert f'href="/@bob@{peer.host}"' in page and "Bob" in page and peer.handle in page
    assert 'rel="nofollow noopener"' in page and "Lovely" in page
    assert "<script>bad" not in page and "onerror" not in page and "steal()" not in page

    edit = _reply(peer, post.id, content="<p>Lovely work, edited</p>", kind="Update")
    peer.post_to(client, edit)
    assert "Lovely work, edited" in client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert _count(post) == 1

    peer.post_to(client, _delete(peer))
    assert db.session.query(RemoteComment).count() == 0
    assert _count(post) == 0
    assert "Lovely" not in client.get(f"/posts/{post.id}").get_data(as_text=True)


def test_a_reply_to_the_artist_alone_is_theirs_only_and_not_counted(
    client, auth, make_user, make_post, peer
):
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _direct(peer, post.id, "<p>Just for you</p>"))
    assert db.session.query(RemoteComment).one().audience == "direct"
    assert _count(post) == 0
    assert "Just for you" not in client.get(f"/posts/{post.id}").get_data(as_text=True)
    auth.login("cyd")
    assert "Just for you" not in client.get(f"/posts/{post.id}").get_data(as_text=True)
    auth.logout()
    auth.login("ana")
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "Just for you" in page and "Sent to you alone." in page


def test_followers_only_posts_take_replies_from_accepted_followers_only(
    client, auth, make_user, make_post, peer, followed_by
):
    ana = make_user("ana")
    post = make_post(ana, visibility="followers")
    peer.post_to(client, _reply(peer, post.id, 1))
    assert db.session.query(RemoteComment).count() == 0
    followed_by(ana)
    peer.post_to(client, _reply(peer, post.id, 2, content="<p>From a follower</p>"))
    assert db.session.query(RemoteComment).count() == 1
    auth.login("ana")
    assert "From a follower" in client.get(f"/posts/{post.id}").get_data(as_text=True)


def test_deleting_the_actor_removes_their_replies(client, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id, 1))
    peer.post_to(client, _reply(peer, post.id, 2))
    assert _count(post) == 2
    gone = {"id": f"{peer.actor_id}#delete", "type": "Delete", "actor": peer.actor_id}
    peer.post_to(client, {**gone, "object": peer.actor_id})
    assert db.session.query(RemoteComment).count() == 0
    assert _count(post) == 0


def test_only_its_author_edits_or_deletes_a_reply(client, make_user, make_post, peer):
    from tests.federation.peer import Peer

    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id, content="<p>Mine</p>"))
    other = Peer("eve")
    try:
        forged = _reply(peer, post.id, content="<p>Forged</p>", kind="Update")
        forged = {**forged, "actor": other.actor_id}
        forged["object"] = {**forged["object"], "attributedTo": other.actor_id}
        other.post_to(client, forged)
        delete = {"id": f"{other.actor_id}/d", "type": "Delete", "actor": other.actor_id}
        other.post_to(client, {**delete, "object": f"{peer.actor_id}/notes/1"})
    finally:
        other.close()
    assert db.session.query(RemoteComment).one().content == "<p>Mine</p>"


def test_blocking_their_server_removes_their_replies(client, make_user, make_post, peer):
    from cara.federation import instances

    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id, 1))
    assert _count(post) == 1
    instances.block(peer.host, "spam")
    assert db.session.query(RemoteComment).count() == 0
    assert _count(post) == 0


def _with_icon(peer, data: bytes):
    """The peer's actor gets an icon served by the peer (its actor is fetched when it signs)."""
    peer.files["/avatar.png"] = data
    plain = peer.actor
    peer.actor = lambda: {**plain(), "icon": {"type": "Image", "url": f"{peer.base}/avatar.png"}}


def test_their_avatar_passes_the_pipeline_and_is_shown(client, make_user, make_post, peer):
    from tests.factories import image_bytes

    _with_icon(peer, image_bytes(size=(400, 400)))
    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id))
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    src = re.search(r'src="(/federation/avatars/\d+/[^"]+)"', page).group(1)
    assert peer.base not in page  # never hotlinked
    image = client.get(src)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.data[:2] == b"\xff\xd8" and image.data != peer.files["/avatar.png"]


def test_an_ai_avatar_is_held_and_not_shown(client, make_user, make_post, peer):
    from tests.factories import generator_png

    _with_icon(peer, generator_png())
    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id))
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "Lovely work!" in page and "/federation/avatars/" not in page
    assert db.session.query(RemoteActor).one().avatar["state"] == "held"
