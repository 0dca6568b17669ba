"""Fixtures: a federating app (loopback peers allowed) and a peer server."""

import pytest

from cara.federation import documents, keys
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
