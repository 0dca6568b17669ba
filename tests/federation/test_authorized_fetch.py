"""Authorized fetch (CARA_FEDERATION_AUTHORIZED_FETCH, Mastodon's secure mode): actors,
objects and collections are served as ActivityPub only to GETs signed by a server not blocked
here; what must stay open (the instance actor, WebFinger, NodeInfo, the pages) stays open.
And what cara fetches is signed, key fetches by its instance actor."""

import pytest

from cara.federation import instances, signatures

AP = "application/activity+json"
SECURE = {"FEDERATION": True, "FEDERATION_ALLOW_PRIVATE": True, "FEDERATION_AUTHORIZED_FETCH": True}


def _get(client, path, peer=None, signed_path=None):
    """GET `path` as ActivityPub, signed by `peer` (over `signed_path`, if another) or not."""
    headers = {"Accept": AP}
    if peer is not None:
        key = signatures.sign(
            "GET", "localhost", signed_path or path, peer.key_id, peer.private_pem
        )
        headers.update(key)
    return client.get(path, headers=headers)


@pytest.mark.parametrize("app_config", [SECURE])
def test_documents_need_a_signature_from_a_server_not_blocked(
    client, make_user, make_post, peer, app_config
):
    ana = make_user("ana")
    post = make_post(ana, images=1)
    documents = ["/@ana", "/@ana/outbox", "/@ana/ap/followers", f"/ap/posts/{post.id}"]
    for path in documents:
        refused = _get(client, path)
        assert refused.status_code == 401, path
        assert refused.mimetype == "application/json" and "sign" in refused.json["error"]
        answer = _get(client, path, peer)
        assert answer.status_code == 200 and answer.mimetype == AP, path
    assert _get(client, "/@ana", peer, signed_path="/@ana/outbox").status_code == 401
    # Open to anyone still: what a server needs before it can sign, and the pages.
    for path in ("/actor", "/.well-known/webfinger?resource=acct:ana@cara.test", "/nodeinfo/2.1"):
        assert client.get(path, headers={"Accept": AP}).status_code == 200, path
    assert client.get("/@ana").status_code == 200  # the profile page, for browsers

    instances.block(peer.host)
    assert _get(client, "/@ana", peer).status_code == 401


def test_off_by_default(client, make_user):
    make_user("ana")
    assert _get(client, "/@ana").status_code == 200


def test_key_fetches_are_signed_by_the_instance_actor(client, make_user, peer):
    make_user("ana")
    assert peer.post_to(client, peer.follow()).status_code == 202  # its key, fetched
    assert "http://cara.test/actor#main-key" in peer.get_signers
    assert "" not in peer.get_signers  # nothing fetched unsigned
