"""Shared AI-hash lists between two real cara servers (issue 15): a moderator on A confirms
an AI image; an admin on B subscribes to A's signed feed through the admin page; B's worker
pulls it (the first pull, then the periodic sweep for what A confirms later); the same
pixels uploaded on B are then rejected (trusted list) or held (untrusted), and unsubscribing
removes A's entries. Real HTTP both ways, A's real signature, B's real filter."""

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from cara.federation import hashfeed
from cara.federation.signatures import new_keypair, sign_bytes
from tests.factories import GOOD, canvas, generator_png, pixels_only
from tests.federation.instances import Server, login, publish, running, wait_for
from tests.support import REPO


def _set_roles(server: Server, **roles: str) -> None:
    path = server.env["CARA_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        for name, role in roles.items():
            con.execute("UPDATE users SET role = ? WHERE username = ?", (role, name))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    a = Server(tmp_path_factory.mktemp("a"))
    b = Server(tmp_path_factory.mktemp("b"))
    a.env["CARA_FEDERATION_HASH_FEED_SETTLE_SECONDS"] = "1"
    b.env["CARA_TASK_SWEEP_SECONDS"] = "1"  # the worker's sweep, often
    b.env["CARA_FEDERATION_HASH_PULL_SECONDS"] = "2"  # each subscription pulled this often
    a.prepare("alice", "mia", password=GOOD)
    b.prepare("bob", "ada", password=GOOD)
    _set_roles(a, mia="moderator")
    _set_roles(b, ada="admin")
    with running(a, b):
        yield a, b


def _processed(browser, post_id: int) -> str:
    def done():
        page = browser.get(f"/posts/{post_id}")[1]
        return f'id="post-{post_id}-status"' not in page and page

    return wait_for(done, f"post {post_id} to be processed")


def _outcome(browser, post_id: int) -> str:
    page = _processed(browser, post_id)
    if "Not published" in page:
        return "rejected" if "(signal: known-hash)" in page else "rejected otherwise"
    if "Held for review" in page:
        return "held" if "(signal: known-hash-untrusted)" in page else "held otherwise"
    return "published"


def _confirm_ai_on_a(alice, mia, seed: int) -> int:
    """alice posts a generated picture; A's filter holds it; mia confirms it as AI."""
    post_id = publish(alice, generator_png(seed=seed), f"Castle {seed}", "A castle")
    assert "Held for review" in _processed(alice, post_id)
    status, page = mia.post(f"/moderation/posts/{post_id}/confirm", {"reason": "generator"})
    assert status == 200, page
    return post_id


def _shared_hashes(ada) -> int | None:
    page = ada.get("/admin/hash-lists")[1]
    found = re.search(r"matches (?:rejected|held)</td>\s*<td[^>]*>(\d+)</td>", page)
    return int(found.group(1)) if found else None


def _upload_on_b(bob, seed: int) -> str:
    """The same pixels as A's confirmed picture, without its metadata: only a hash can tell."""
    post_id = publish(bob, pixels_only(canvas(seed=seed)), f"Mine {seed}", "A castle")
    return _outcome(bob, post_id)


def test_b_pulls_a_s_confirmed_hashes_and_acts_on_the_list_s_trust(servers):
    a, b = servers
    alice, mia = login(a, "alice"), login(a, "mia")
    bob, ada = login(b, "bob"), login(b, "ada")

    _confirm_ai_on_a(alice, mia, seed=11)
    assert _upload_on_b(bob, 11) == "published"  # B knows nothing of A's list yet

    # ada subscribes to A's list, trusted; the first pull stores A's entry.
    status, page = ada.post("/admin/hash-lists", {"address": a.base, "trusted": "y"})
    assert status == 200 and f"Subscribed to {a.base}/federation/hashes" in page, page
    first = wait_for(lambda: _shared_hashes(ada), "B's first pull of A's list")
    assert first > 40  # one image's variants
    assert _upload_on_b(bob, 11) == "rejected"

    # What A confirms later reaches B by the worker's periodic sweep, after the cursor.
    _confirm_ai_on_a(alice, mia, seed=12)
    wait_for(lambda: _shared_hashes(ada) > first, "B's sweep to pull A's new entry")
    assert _upload_on_b(bob, 12) == "rejected"

    # Unsubscribing removes A's entries: the pictures pass again on B.
    status, page = ada.post("/admin/hash-lists/1/delete", {})
    assert status == 200 and "hashes removed" in page, page
    assert _shared_hashes(ada) is None
    assert _upload_on_b(bob, 11) == "published"

    # Subscribed again as untrusted: a match holds the upload for B's moderators instead.
    status, page = ada.post("/admin/hash-lists", {"address": a.base})
    assert status == 200, page
    wait_for(lambda: (_shared_hashes(ada) or 0) > first, "B's pull of A's whole list")
    assert _upload_on_b(bob, 12) == "held"
    assert "Untrusted: matches held" in ada.get("/admin/hash-lists")[1]


def _flask(server: Server, *args: str, status: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "hashes", *args],
        cwd=REPO,
        env={**server.env, "CARA_TASK_RUNNER": "inline"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == status, done.stdout + done.stderr
    return done.stdout + (done.stderr if status else "")


NEWEST = "WHERE id = (SELECT max(id) FROM instance_keys)"  # the instance's current key


def _cli_hashes(server: Server) -> int:
    found = re.search(r"\t(\d+) hashes\t", _flask(server, "subscriptions"))
    return int(found.group(1)) if found else 0


def test_the_commands_subscribe_pull_a_retraction_and_unsubscribe(servers, tmp_path):
    a, _ = servers
    alice, mia = login(a, "alice"), login(a, "mia")
    c = Server(tmp_path)  # a third instance, driven from the command line only
    c.prepare(password=GOOD)
    c.log.close()
    post_id = _confirm_ai_on_a(alice, mia, seed=21)

    out = _flask(c, "subscribe", a.base)
    assert f"Subscribed to {a.base}/federation/hashes (trusted)" in out
    before = _cli_hashes(c)
    assert before > 40

    # The key was pinned when subscribing: pages A signs with another key are refused.
    a_db = a.env["CARA_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(a_db) as con:
        pinned = con.execute(
            f"SELECT public_pem, private_pem FROM instance_keys {NEWEST}"
        ).fetchone()
        con.execute(
            f"UPDATE instance_keys SET public_pem = ?, private_pem = ? {NEWEST}", new_keypair()
        )
    try:
        assert "signature did not verify" in _flask(c, "pull", status=1)
    finally:
        with sqlite3.connect(a_db) as con:
            con.execute(
                f"UPDATE instance_keys SET public_pem = ?, private_pem = ? {NEWEST}", pinned
            )
    assert "0 hashes added" in _flask(c, "pull")

    # A's moderator reverses the decision: the next pull drops that picture's rows.
    status, page = mia.post(f"/moderation/posts/{post_id}/clear", {"reason": "layers shown"})
    assert status == 200, page
    time.sleep(1.2)  # A's feed serves entries once they are a second old (settle time)
    assert "0 hashes added" in _flask(c, "pull")
    after = _cli_hashes(c)
    assert 0 <= after < before

    assert "is now untrusted" in _flask(c, "trust", a.base, "--untrusted")
    assert "\tuntrusted\t" in _flask(c, "subscriptions")

    out = _flask(c, "unsubscribe", a.base)
    assert f"removed {after} hashes" in out
    assert _flask(c, "subscriptions") == ""


@pytest.fixture(scope="module")
def c_server(servers, tmp_path_factory):
    """A third instance with an admin, pulling only when asked (or every 15 minutes)."""
    c = Server(tmp_path_factory.mktemp("c"))
    c.prepare("cleo", password=GOOD)
    _set_roles(c, cleo="admin")
    with running(c):
        yield c


def _subscribed(cleo, a: Server) -> int:
    """C's subscription to A's list (made, and pulled once, if it is not there yet)."""
    page = cleo.get("/admin/hash-lists")[1]
    if f"{a.base}/federation/hashes" not in page:
        status, page = cleo.post("/admin/hash-lists", {"address": a.base, "trusted": "y"})
        assert status == 200, page
        wait_for(lambda: _shared_hashes(cleo), "C's first pull of A's list")
    return int(re.search(r'action="/admin/hash-lists/(\d+)/pull"', page).group(1))


def _pull_now(browser, sub_id: int) -> str:
    status, page = browser.post(f"/admin/hash-lists/{sub_id}/pull", {})
    assert status == 200, page
    return page


def _flash(page: str) -> str:
    return re.search(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', page).group(1)


def test_pull_now_pulls_in_the_request_and_the_page_shows_each_pull_s_outcome(servers, c_server):
    a, _ = servers
    alice, mia, cleo = login(a, "alice"), login(a, "mia"), login(c_server, "cleo")
    sub_id = _subscribed(cleo, a)

    _confirm_ai_on_a(alice, mia, seed=31)
    time.sleep(1.2)  # A serves entries once they are a second old
    page = _pull_now(cleo, sub_id)
    added = int(re.search(r"Pulled \S+: (\d+) hashes added", _flash(page)).group(1))
    assert added > 40  # the new picture's variants, pulled in the request
    assert f"{added} hashes added</td>" in page  # the last pull, kept on the subscription
    assert (
        "Pulled" in _flash(_pull_now(cleo, sub_id))
        and "0 hashes added</td>" in cleo.get("/admin/hash-lists")[1]
    )

    # A list whose server is down: the pull fails, the error is shown and kept.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = c_server.env["CARA_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        down = con.execute(
            "INSERT INTO hash_subscriptions (url, trusted, key_id, public_pem, cursor, error,"
            " last_pull_count, created_at) VALUES (?, 0, '', '', '', '', 0, '2026-01-01 00:00:00')",
            (f"http://127.0.0.1:{port}/federation/hashes",),
        ).lastrowid
    page = _pull_now(cleo, down)
    assert f"failed: could not connect to 127.0.0.1:{port}" in _flash(page)
    assert f"Error: could not connect to 127.0.0.1:{port}" in cleo.get("/admin/hash-lists")[1]


def _db(server: Server) -> str:
    return server.env["CARA_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def _pinned(c: Server, sub_id: int) -> str:
    with sqlite3.connect(_db(c)) as con:
        sql = "SELECT public_pem FROM hash_subscriptions WHERE id = ?"
        return con.execute(sql, (sub_id,)).fetchone()[0]


def test_a_rotated_key_is_re_pinned_only_when_the_pinned_key_announced_it(servers, c_server):
    a, _ = servers
    alice, mia, cleo = login(a, "alice"), login(a, "mia"), login(c_server, "cleo")
    sub_id = _subscribed(cleo, a)
    old = _pinned(c_server, sub_id)

    # A rotates its key: its key document now carries the new key and "new key X" signed by
    # the old one. C's next pull fails to verify with the pinned key, reads the statement,
    # re-pins and stores what A confirmed since.
    assert "New feed key" in _flask(a, "rotate-key")
    key_doc = json.loads(urllib.request.urlopen(f"{a.base}/federation/hashes/key").read())
    assert key_doc["publicKeyPem"] != old and len(key_doc["rotations"]) == 1
    _confirm_ai_on_a(alice, mia, seed=41)
    time.sleep(1.2)
    flash = _flash(_pull_now(cleo, sub_id))
    assert re.search(r"Pulled \S+: \d{2,} hashes added", flash), flash
    assert _pinned(c_server, sub_id) == key_doc["publicKeyPem"]
    assert "repin-hashes" in cleo.get("/moderation?queue=log")[1]

    # An impostor key (A's database given a key whose announcement the pinned key did not
    # sign): C refuses, keeps its pin and shows why.
    pinned = _pinned(c_server, sub_id)
    forged_public, forged_private = new_keypair()
    stranger_public, stranger_private = new_keypair()
    statement = {
        "type": "cara-key-rotation",
        "instance": a.base + "/",
        "previous": hashfeed.key_digest(pinned),
        "publicKeyPem": forged_public,
        "created": "2026-12-03T08:00:00+00:00",
    }
    rotation = {
        "statement": statement,
        "signature": sign_bytes(stranger_private, hashfeed.canonical(statement)),
    }
    with sqlite3.connect(_db(a)) as con:
        forged_id = con.execute(
            "INSERT INTO instance_keys (public_pem, private_pem, rotation, created_at)"
            " VALUES (?, ?, ?, '2026-12-03 08:00:00')",
            (forged_public, forged_private, json.dumps(rotation)),
        ).lastrowid
    try:
        flash = _flash(_pull_now(cleo, sub_id))
        assert "failed: signature did not verify with the pinned key" in flash, flash
        assert "announces no new key signed by it" in cleo.get("/admin/hash-lists")[1]
        assert _pinned(c_server, sub_id) == pinned
    finally:
        with sqlite3.connect(_db(a)) as con:
            con.execute("DELETE FROM instance_keys WHERE id = ?", (forged_id,))
    assert "Pulled" in _flash(_pull_now(cleo, sub_id))  # A's real key verifies again
