"""What was served over ActivityPub and is gone answers 410 Gone with a Tombstone (as
Mastodon's ids do): deleted public posts, undone likes and reposts, deleted replies sent out,
deleted accounts' actors. Ids never served stay 404."""

from cara.accounts import lifecycle
from cara.core.extensions import db
from cara.core.models import User, utcnow
from cara.posting import drafts
from tests.factories import GOOD
from tests.federation.test_interactions import _received, _remote_post

AP = {"Accept": "application/activity+json"}


def _get(client, url):
    return client.get(url.removeprefix("http://cara.test"), headers=AP)


def _gone(answer, url: str, former: str) -> None:
    assert answer.status_code == 410, answer.status_code
    assert answer.mimetype == "application/activity+json"
    doc = answer.json
    assert doc["type"] == "Tombstone" and doc["formerType"] == former
    assert doc["id"] == "http://cara.test" + url.removeprefix("http://cara.test")
    assert doc["deleted"].endswith("Z") and "@context" in doc


def test_a_deleted_public_post_answers_410_and_an_unknown_id_404(client, make_user, make_post):
    ana = make_user("ana")
    post = make_post(ana, images=1)
    hidden = make_post(ana, images=1, visibility="followers")
    url, hidden_url = f"/ap/posts/{post.id}", f"/ap/posts/{hidden.id}"
    assert _get(client, url).status_code == 200
    drafts.delete(post)
    drafts.delete(hidden)
    _gone(_get(client, url), url, "Note")
    assert _get(client, hidden_url).status_code == 404  # never served: nothing to say
    assert _get(client, "/ap/posts/999").status_code == 404


def test_undone_likes_and_reposts_and_deleted_replies_answer_410(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana)
    auth.login("ana")
    for action in ("like", "repost"):
        client.post(f"/federation/posts/{post.id}/{action}")
    client.post(f"/federation/posts/{post.id}/reply", data={"body": "Lovely light"})
    [like], [announce], [create] = (_received(peer, k) for k in ("Like", "Announce", "Create"))
    client.post(f"/federation/posts/{post.id}/unlike")
    client.post(f"/federation/posts/{post.id}/unrepost")
    reply_id = int(create["object"]["id"].rsplit("/", 1)[1])
    client.post(f"/federation/replies/{reply_id}/delete")
    auth.logout()
    _gone(_get(client, like["id"]), like["id"], "Like")
    _gone(_get(client, announce["id"]), announce["id"], "Announce")
    _gone(_get(client, create["object"]["id"]), create["object"]["id"], "Note")
    assert _get(client, "/ap/interactions/999").status_code == 404


def test_an_undone_like_of_a_followers_only_post_stays_404(
    client, auth, make_user, peer, follows_peer
):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana, to=[f"{peer.actor_id}/followers"])
    auth.login("ana")
    client.post(f"/federation/posts/{post.id}/like")
    [like] = _received(peer, "Like")
    client.post(f"/federation/posts/{post.id}/unlike")
    assert _get(client, like["id"]).status_code == 404


def test_a_deleted_accounts_actor_and_posts_answer_410(client, make_user, make_post):
    ana = make_user("ana")
    make_user("bob", suspended_at=utcnow())
    post = make_post(ana, images=1)
    url = f"/ap/posts/{post.id}"
    ana.deleted_at = utcnow()  # deleted, not purged yet
    db.session.commit()
    _gone(_get(client, "/@ana"), "/@ana", "Person")
    _gone(_get(client, url), url, "Note")
    ana.deleted_at = None
    db.session.commit()
    lifecycle.delete_account(db.session.get(User, ana.id), GOOD)  # purged (jobs run inline)
    assert db.session.get(User, ana.id).purged_at is not None
    _gone(_get(client, "/@ana"), "/@ana", "Person")
    _gone(_get(client, url), url, "Note")
    assert _get(client, "/@bob").status_code == 404  # suspended: it may come back
    assert _get(client, "/@nobody").status_code == 404


def test_a_deleted_accounts_likes_answer_410(client, auth, make_user, peer, follows_peer):
    ana = make_user("ana")
    post = _remote_post(client, peer, follows_peer, ana)
    auth.login("ana")
    client.post(f"/federation/posts/{post.id}/like")
    [like] = _received(peer, "Like")
    auth.logout()
    assert _get(client, like["id"]).status_code == 200
    ana.deleted_at = utcnow()
    db.session.commit()
    _gone(_get(client, like["id"]), like["id"], "Like")
