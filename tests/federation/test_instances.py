"""Instance blocks (defederation) and account deletion reaching other servers."""

from click.testing import CliRunner

from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import Delivery, RemoteActor, RemoteFollow
from cara.federation import delivery, follows


def test_a_blocked_server_is_cut_off(app, client, make_user, peer):
    ana = make_user("ana")
    peer.trust(ana)
    assert peer.post_to(client, peer.follow()).status_code == 202
    assert db.session.query(RemoteFollow).count() == 1
    [row] = delivery.queue(ana, [peer.inbox], {"type": "Create", "id": "x", "actor": "a"})
    db.session.commit()
    row_id = row.id

    result = CliRunner().invoke(app.cli, ["federation", "block", peer.host, "--reason", "spam"])
    assert result.exit_code == 0, result.output
    assert "removed 1" in result.output
    assert db.session.query(RemoteActor).count() == 0
    assert db.session.query(RemoteFollow).count() == 0
    # Nothing comes in...
    assert peer.post_to(client, peer.follow()).status_code == 403
    # ...nothing is fetched...
    _, error = follows.follow(ana, peer.handle)
    assert "blocked" in error
    # ...and nothing goes out.
    received = len(peer.received)
    delivery.deliver(row_id)
    assert db.session.get(Delivery, row_id).done and len(peer.received) == received

    assert CliRunner().invoke(app.cli, ["federation", "unblock", peer.host]).exit_code == 0
    assert peer.post_to(client, peer.follow()).status_code == 202


def test_a_deleted_account_is_deleted_elsewhere(client, auth, make_user, peer, followed_by):
    followed_by(make_user("ana"))
    auth.login("ana")
    response = client.post("/settings/delete", data={"password": "correct horse battery"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    tasks.sweep()
    [gone] = peer.of_type("Delete")
    assert gone["object"] == "http://cara.test/@ana" == gone["actor"]
