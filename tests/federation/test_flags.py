"""Reports about content elsewhere forwarded to its server: the reporter ticks "Also send an
anonymous copy", and a Flag from the instance actor, signed with the key its actor document
serves, reaches the peer's shared inbox (which verifies the signature)."""

from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import RemoteActor, RemoteComment, Report
from cara.federation import flags, instances
from tests.federation.test_replies import _reply

AP = {"Accept": "application/activity+json"}


def _trust_the_instance_actor(client, peer) -> dict:
    actor = client.get("/actor", headers=AP).json
    assert actor["type"] == "Application" and actor["id"] == "http://cara.test/actor"
    assert actor["inbox"] == "http://cara.test/inbox"
    peer.keys[actor["publicKey"]["id"]] = actor["publicKey"]["publicKeyPem"]
    return actor


def test_a_reported_reply_is_forwarded_when_asked(client, auth, make_user, make_post, peer):
    actor = _trust_the_instance_actor(client, peer)
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _reply(peer, post.id, content="<p>Scam</p>"))
    row = db.session.scalar(select(RemoteComment))
    auth.login("cyd")
    form = client.get(f"/remote-comments/{row.id}/report").get_data(as_text=True)
    assert f"Also send an anonymous copy to {peer.host}" in form

    client.post(f"/remote-comments/{row.id}/report", data={"reason": "spam", "details": "No"})
    assert peer.of_type("Flag") == []  # not ticked: nothing leaves
    db.session.query(Report).delete()
    db.session.commit()
    details = {"reason": "spam", "details": "A phishing link", "forward": "1"}
    assert client.post(f"/remote-comments/{row.id}/report", data=details).status_code == 303
    [flag] = peer.of_type("Flag")
    assert flag["actor"] == actor["id"]
    assert flag["object"] == [peer.actor_id, row.uri]
    assert flag["content"] == "A phishing link"
    assert "cyd" not in str(flag)  # anonymous
    assert peer.unverified == []
    client.post(f"/remote-comments/{row.id}/report", data=details)  # the same report again
    assert len(peer.of_type("Flag")) == 1
    assert db.session.scalar(select(Report)).subject_kind == "remote_comment"


def test_a_remote_profile_is_reported_and_forwarded(client, auth, make_user, make_post, peer):
    _trust_the_instance_actor(client, peer)
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _reply(peer, post.id))
    person = db.session.scalar(select(RemoteActor))
    auth.login("cyd")
    profile = client.get(f"/@bob@{peer.host}").get_data(as_text=True)
    assert f"/federation/actors/{person.id}/report" in profile
    details = {"reason": "harassment", "details": "Threats", "forward": "1"}
    answer = client.post(f"/federation/actors/{person.id}/report", data=details)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/@bob@{peer.host}"
    [flag] = peer.of_type("Flag")
    assert flag["object"] == [peer.actor_id] and flag["content"] == "Threats"
    report = db.session.scalar(select(Report))
    assert (report.subject_kind, report.subject_id) == ("remote_actor", person.id)
    assert client.post(f"/federation/actors/{person.id}/report", data={}).status_code == 422


def test_no_forwarding_offered_with_federation_off(app, client, auth, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _reply(peer, post.id))
    row = db.session.scalar(select(RemoteComment))
    app.config["FEDERATION"] = False
    auth.login("cyd")
    form = client.get(f"/remote-comments/{row.id}/report").get_data(as_text=True)
    assert "anonymous copy" not in form  # reporting still works, without forwarding
    details = {"reason": "spam", "details": "x", "forward": "1"}
    assert client.post(f"/remote-comments/{row.id}/report", data=details).status_code == 303
    assert peer.of_type("Flag") == []
    assert client.get(f"/federation/actors/{row.actor_id}/report").status_code == 404


# --- Flags in: reports from other servers about people and posts here ------------------------


def _as_instance_actor(peer) -> None:
    """The peer's actor is its server's instance actor, as Mastodon's Flags come from."""
    person = peer.actor
    peer.actor = lambda: {**person(), "type": "Application", "preferredUsername": peer.host}


def _flag(peer, *objects, n=1, content="Traced from my drawing"):
    return {
        "id": f"{peer.base}/flags/{n}",
        "type": "Flag",
        "actor": peer.actor_id,
        "object": list(objects),
        "content": content,
    }


def test_a_flag_from_another_server_is_a_report_in_the_queue(
    client, auth, make_user, make_post, peer
):
    _as_instance_actor(peer)
    ana = make_user("ana")
    post, other = make_post(ana, images=1), make_post(ana, images=1)
    make_user("maud", role="moderator")
    flag = _flag(peer, "http://cara.test/@ana", f"http://cara.test/ap/posts/{post.id}")
    assert peer.post_to(client, flag).status_code == 202
    assert peer.post_to(client, {**flag, "id": f"{peer.base}/flags/2"}).status_code == 202
    [report] = db.session.scalars(select(Report)).all()  # once while open
    assert (report.subject_kind, report.subject_id) == ("post", post.id)
    assert report.reporter_id is None and report.reporter_domain == peer.host
    assert "Traced from my drawing" in report.reason

    auth.login("maud")
    page = client.get("/moderation?queue=reports").get_data(as_text=True)
    assert f"reported by the server {peer.host}" in page
    assert f'href="/posts/{post.id}"' in page and "Traced from my drawing" in page
    assert f'href="/posts/{other.id}"' not in page
    # Closed by a moderator like any report (no one here to thank).
    answer = client.post(f"/moderation/reports/{report.id}/close", data={"action": "dismiss"})
    assert answer.status_code in (200, 303)
    db.session.refresh(report)
    assert report.status == "closed"


def test_a_flag_naming_only_an_account_reports_the_account(client, make_user, peer):
    _as_instance_actor(peer)
    ana = make_user("ana")
    flag = _flag(peer, "http://cara.test/@ana", "http://cara.test/ap/posts/999", content="")
    assert peer.post_to(client, flag).status_code == 202
    [report] = db.session.scalars(select(Report)).all()
    assert (report.subject_kind, report.subject_id) == ("user", ana.id)
    assert report.reporter_domain == peer.host and "No comment was sent." in report.reason


def test_a_blocked_servers_flags_are_ignored(client, make_user, make_post, peer):
    _as_instance_actor(peer)
    post = make_post(make_user("ana"), images=1)
    flag = _flag(peer, f"http://cara.test/ap/posts/{post.id}")
    instances.block(peer.host)
    assert peer.post_to(client, flag).status_code == 403
    # A Flag verified just before the block, handled by its job just after.
    queued = RemoteActor(uri=peer.actor_id, domain=peer.host)
    flags.received(queued, [post], [], "queued before the block")
    assert db.session.scalars(select(Report)).all() == []
