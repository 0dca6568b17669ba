"""Reports about content elsewhere forwarded to its server: the reporter ticks "Also send an
anonymous copy", and a Flag from the instance actor, signed with the key its actor document
serves, reaches the peer's shared inbox (which verifies the signature)."""

from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import RemoteActor, RemoteComment, Report
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
