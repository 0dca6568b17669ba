"""Fixtures: a federating app (loopback peers allowed) and a peer server."""

import pytest

from cara.core.extensions import db
from cara.core.models import RemoteFollow
from cara.federation import actors, documents, keys
from tests.federation.peer import Peer


@pytest.fixture
def app_config():
    return {"FEDERATION": True, "FEDERATION_ALLOW_PRIVATE": True}


@pytest.fixture
def peer(app):
    """A remote server with its actor `bob`, which trusts `peer.trust(user)`'s keys."""
    server = Peer()

    def trust(user):
        server.keys[documents.key_id(user)] = keys.key_for(user).public_pem

    server.trust = trust
    yield server
    server.close()


def _accepted(peer, user, inbound: bool):
    peer.trust(user)
    actor = actors.by_uri(peer.actor_id)
    uri = peer.follow()["id"] if inbound else documents.follow_url(1)
    db.session.add(
        RemoteFollow(
            user_id=user.id, actor_id=actor.id, inbound=inbound, pending=False, activity_uri=uri
        )
    )
    db.session.commit()
    return actor


@pytest.fixture
def followed_by(peer):
    """followed_by(user): the peer's actor follows `user` (accepted) and trusts their key."""
    return lambda user: _accepted(peer, user, inbound=True)


@pytest.fixture
def follows_peer(peer):
    """follows_peer(user): `user` follows the peer's actor (accepted)."""
    return lambda user: _accepted(peer, user, inbound=False)
