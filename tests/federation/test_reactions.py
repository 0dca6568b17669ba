"""Remote likes and reposts of local posts: counted, undone, and only where the policy allows."""

from cara.core.extensions import db
from cara.core.models import RemoteReaction


def _activity(peer, kind, post_id, n=1):
    return {
        "id": f"{peer.actor_id}/{kind.lower()}s/{n}",
        "type": kind,
        "actor": peer.actor_id,
        "object": f"http://cara.test/ap/posts/{post_id}",
    }


def test_likes_and_reposts_are_counted_and_undone(client, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    like, announce = _activity(peer, "Like", post.id), _activity(peer, "Announce", post.id)
    for activity in (like, like, announce):  # a repeated Like counts once
        assert peer.post_to(client, activity).status_code == 202
    db.session.refresh(post)
    assert (post.like_count, post.repost_count) == (1, 1)
    undo = {"id": f"{peer.actor_id}/undo/1", "type": "Undo", "actor": peer.actor_id, "object": like}
    peer.post_to(client, undo)
    db.session.refresh(post)
    assert (post.like_count, post.repost_count) == (0, 1)
    assert db.session.query(RemoteReaction).count() == 1


def test_followers_only_posts_take_likes_from_followers_only(
    client, make_user, make_post, peer, followed_by
):
    ana = make_user("ana")
    post = make_post(ana, visibility="followers")
    peer.post_to(client, _activity(peer, "Like", post.id))
    peer.post_to(client, _activity(peer, "Announce", post.id))
    db.session.refresh(post)
    assert (post.like_count, post.repost_count) == (0, 0)
    followed_by(ana)
    peer.post_to(client, _activity(peer, "Like", post.id, 2))
    peer.post_to(client, _activity(peer, "Announce", post.id, 2))  # never reposted
    db.session.refresh(post)
    assert (post.like_count, post.repost_count) == (1, 0)


def test_likes_of_things_that_are_not_posts_here_are_ignored(client, make_user, peer):
    make_user("ana")
    for target in (
        "http://cara.test/ap/posts/999",
        "http://cara.test/ap/posts/x",
        "http://elsewhere.example/notes/1",
    ):
        activity = {**_activity(peer, "Like", 0), "object": target}
        assert peer.post_to(client, activity).status_code == 202
    assert db.session.query(RemoteReaction).count() == 0


def test_people_elsewhere_who_liked_are_listed_with_the_local_likers(
    client, make_user, make_post, peer
):
    from cara.core.models import Like, RemoteActor, RemoteBlock
    from tests.factories import login

    ana, cyd = make_user("ana"), make_user("cyd")
    post = make_post(ana)
    path = f"/posts/{post.id}/likes"
    assert "Nobody yet" in client.get(path).get_data(as_text=True)
    peer.post_to(client, _activity(peer, "Like", post.id))
    db.session.add(Like(user_id=cyd.id, post_id=post.id))
    db.session.commit()
    page = client.get(path).get_data(as_text=True)
    assert "Nobody yet" not in page
    assert peer.handle in page and f"/@{peer.username}@{peer.host}" in page
    assert "@cyd" in page
    assert peer.handle not in client.get(f"{path}?before=x").get_data(as_text=True)
    reposts = f"/posts/{post.id}/reposts"
    assert peer.handle not in client.get(reposts).get_data(as_text=True)
    peer.post_to(client, _activity(peer, "Announce", post.id))
    assert peer.handle in client.get(reposts).get_data(as_text=True)
    actor = db.session.query(RemoteActor).one()
    db.session.add(RemoteBlock(user_id=cyd.id, actor_id=actor.id, kind="block"))
    db.session.commit()
    login(client, "cyd")
    assert peer.handle not in client.get(path).get_data(as_text=True)  # blocked by the viewer


def test_a_deleted_actor_s_likes_and_reposts_stop_counting(client, make_user, make_post, peer):
    from cara.federation import instances

    post = make_post(make_user("ana"))
    other = make_post(make_user("cyd"))
    for target in (post, other):
        peer.post_to(client, _activity(peer, "Like", target.id, target.id))
        peer.post_to(client, _activity(peer, "Announce", target.id, target.id))
    gone = {"id": f"{peer.actor_id}#delete", "type": "Delete", "actor": peer.actor_id}
    peer.post_to(client, {**gone, "object": peer.actor_id})
    for target in (post, other):
        db.session.refresh(target)
        assert (target.like_count, target.repost_count) == (0, 0)
    assert db.session.query(RemoteReaction).count() == 0

    # An instance block takes its people's likes and reposts out of the counts too.
    peer.post_to(client, _activity(peer, "Like", post.id, 9))
    db.session.refresh(post)
    assert post.like_count == 1
    instances.block(peer.host)
    db.session.refresh(post)
    assert (post.like_count, post.repost_count) == (0, 0)
