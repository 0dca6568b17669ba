"""A small ActivityPub peer on loopback for the tests: a real HTTP server with its own key,
serving an actor and WebFinger, and keeping what its inbox receives (signatures checked)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cara.federation import signatures


class Peer:
    """`bob` at http://127.0.0.1:PORT/users/bob; `received` lists the verified activities."""

    def __init__(self, username: str = "bob"):
        self.username = username
        self.public_pem, self.private_pem = signatures.new_keypair()
        self.received: list[dict] = []
        self.signed_gets: list[str] = []  # paths fetched with a valid signature
        self.get_signers: list[str] = []  # the keyId of each GET ("" unsigned)
        self.unverified: list[str] = []  # why a POST to the inbox failed its signature check
        self.status = 202  # what the inbox answers
        self.files: dict[str, bytes] = {}  # path -> bytes served (images)
        self.keys: dict[str, str] = {}  # keyId -> public PEM of the senders it trusts
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"
        self.actor_id = f"{self.base}/users/{username}"
        self.key_id = f"{self.actor_id}#main-key"
        self.inbox = f"{self.actor_id}/inbox"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def handle(self) -> str:
        return f"@{self.username}@{self.host}"

    def actor(self) -> dict:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor_id,
            "type": "Person",
            "preferredUsername": self.username,
            "name": self.username.title(),
            "inbox": self.inbox,
            "outbox": f"{self.actor_id}/outbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {
                "id": self.key_id,
                "owner": self.actor_id,
                "publicKeyPem": self.public_pem,
            },
        }

    def signed(self, path: str, activity: dict, host: str = "localhost") -> tuple[bytes, dict]:
        """A body and headers as this peer would POST them to `path` on `host`."""
        body = json.dumps(activity).encode()
        headers = signatures.sign("POST", host, path, self.key_id, self.private_pem, body)
        headers["Content-Type"] = "application/activity+json"
        return body, headers

    def follow(self, n: int = 1, target: str = "http://cara.test/@ana") -> dict:
        """A Follow activity by this peer's actor."""
        return {
            "id": f"{self.actor_id}/follows/{n}",
            "type": "Follow",
            "actor": self.actor_id,
            "object": target,
        }

    def post_to(self, client, activity: dict, path: str = "/inbox"):
        """POST `activity`, signed, to an inbox of the app behind the Flask test `client`."""
        body, headers = self.signed(path, activity)
        return client.post(path, data=body, headers=headers)

    def of_type(self, kind: str) -> list[dict]:
        return [a for a in self.received if a.get("type") == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, doc=None):
                body = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                params = signatures.parse(headers["signature"]) if "signature" in headers else {}
                # Signed (authorized fetch) by a key it was told to trust: checked. Another key
                # (the instance actor's, on key fetches) is served as to anyone, as a server
                # not in secure mode does.
                peer.get_signers.append(params.get("keyId", ""))
                pem = peer.keys.get(params.get("keyId", ""))
                if pem is not None:
                    try:
                        signatures.verify(params, "GET", self.path, headers, b"", pem, 300)
                        peer.signed_gets.append(self.path)
                    except signatures.SignatureError as error:
                        peer.unverified.append(str(error))
                        return self._send(401)
                if url.path in peer.files:
                    data = peer.files[url.path]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                if url.path == f"/users/{peer.username}":
                    return self._send(200, peer.actor())
                if url.path == "/.well-known/webfinger":
                    resource = parse_qs(url.query).get("resource", [""])[0]
                    if resource != f"acct:{peer.username}@{peer.host}":
                        return self._send(404)
                    link = {"rel": "self", "type": "application/activity+json"}
                    return self._send(
                        200, {"subject": resource, "links": [{**link, "href": peer.actor_id}]}
                    )
                self._send(404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    params = signatures.parse(headers.get("signature"))
                    pem = peer.keys.get(params["keyId"]) or _fetch_key(params["keyId"])
                    signatures.verify(params, "POST", self.path, headers, body, pem, 300)
                except (signatures.SignatureError, OSError, ValueError, KeyError) as error:
                    peer.unverified.append(str(error))
                    return self._send(401)
                peer.received.append(json.loads(body))
                self._send(peer.status)

        return Handler


def _fetch_key(key_id: str) -> str:
    """The sender's public key, from its actor document (plain urllib: loopback only)."""
    from urllib.request import Request, urlopen

    request = Request(key_id.partition("#")[0], headers={"Accept": "application/activity+json"})
    with urlopen(request, timeout=5) as answer:  # noqa: S310 (a loopback test server)
        return json.load(answer)["publicKey"]["publicKeyPem"]
