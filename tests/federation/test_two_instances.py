"""Two real cara servers on loopback: bob on B finds @alice@A through WebFinger and follows
her; A accepts; alice's new post reaches B's inbox (signed both ways) and shows on B with its
image, which B fetched, filtered and re-encoded; bob's like, repost and reply from B are
counted, shown and notified on A; a followers-only post reaches bob with its image and not
cyd, who does not follow alice."""

import re

import pytest

from tests.factories import GOOD, generator_png, image_bytes
from tests.federation.instances import Browser, Server, login, publish, running, wait_for


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    a = Server(tmp_path_factory.mktemp("a"))
    b = Server(tmp_path_factory.mktemp("b"))
    a.prepare("alice", password=GOOD)
    b.prepare("bob", "cyd", password=GOOD)
    with running(a, b):
        yield a, b


def test_follow_across_instances_and_receive_a_post(servers):
    a, b = servers
    alice, bob = login(a, "alice"), login(b, "bob")

    status, page = bob.post("/federation/follow", {"handle": f"@alice@{a.host}"})
    assert status == 200, page
    wait_for(
        lambda: "waiting for them to accept" not in bob.get("/federation")[1],
        "A's Accept to reach B",
    )
    assert f"@alice@{a.host}" in bob.get("/federation")[1]
    followers = alice.get("/@alice/ap/followers")[1]
    assert '"totalItems": 1' in followers

    # An AI image first: A's filter holds it, so it never leaves A.
    publish(alice, generator_png(), "Made by a machine", "A generated picture")
    publish(alice, image_bytes(size=(400, 300)), "Harbour at dawn #ink", "A harbour in blue ink")

    def arrived():
        page = bob.get("/federation")[1]
        return 'alt="A harbour in blue ink"' in page and page

    # The post arrives with its image, fetched by B, filtered and re-encoded there, and the
    # alt text that travelled with it.
    page = wait_for(arrived, "alice's post and its image to reach B")
    assert "Harbour at dawn" in page
    src = re.search(r'src="(/federation/media/[^"]+)"', page).group(1)
    status, _ = bob.get(src)
    assert status == 200
    assert f'src="{a.base}' not in page  # nothing of A's embedded (links only)
    assert "Made by a machine" not in page  # held on A, never sent
    assert '"totalItems": 1' in alice.get("/@alice/outbox")[1]  # of the two, one is live on A

    # Bob likes, reposts and replies through the forms on B; each activity is delivered to A,
    # signed, and A counts the like and repost, shows the reply on alice's post (to everyone:
    # it is public) with bob's name and handle, and tells alice of all three.
    remote_id = re.search(r'action="/federation/posts/(\d+)/like"', page).group(1)
    for action in ("like", "repost"):
        assert bob.post(f"/federation/posts/{remote_id}/{action}", {})[0] == 200
    reply = {"body": "Lovely harbour & boats"}
    assert bob.post(f"/federation/posts/{remote_id}/reply", reply)[0] == 200
    post_id = re.search(r"/ap/posts/(\d+)", alice.get("/@alice/outbox")[1]).group(1)

    def replied():
        # A logged-out visitor on A. Both in one page: the page reads the post and its replies
        # in separate statements (SQLite, no snapshot), so one may be read before the job
        # commits and the other after.
        shown = Browser(a).get(f"/posts/{post_id}")[1]
        return "Lovely harbour &amp; boats" in shown and "Comments (1)" in shown and shown

    shown = wait_for(replied, "bob's reply to reach A")
    assert f'href="/@bob@{b.host}"' in shown and f"@bob@{b.host}" in shown
    notes = wait_for(
        lambda: (n := alice.get("/notifications")[1]).count(f"(@bob@{b.host})") == 4 and n,
        "A to tell alice of bob's follow, like, repost and reply",
    )
    assert "followed you" in notes
    assert "liked" in notes and "reposted" in notes and "replied to" in notes

    # A followers-only post: its Note names the image by a capability URL, which B fetches
    # without a session, filters and re-encodes; bob, a follower, sees it, cyd on B does not.
    quiet = image_bytes(size=(400, 300), color=(20, 90, 160))
    publish(alice, quiet, "Only for my followers", "A quiet study", visibility="followers")

    def arrived_privately():
        page = bob.get("/federation")[1]
        return 'alt="A quiet study"' in page and page

    page = wait_for(arrived_privately, "the followers-only post and its image to reach B")
    src = re.search(r'<img src="(/federation/media/[^"]+)"[^>]*alt="A quiet study"', page)
    assert bob.get(src.group(1))[0] == 200
    assert "Only for my followers" not in login(b, "cyd").get("/federation")[1]

    # An unsigned POST to B's inbox is refused.
    status, _ = Browser(b).post("/inbox", {"type": "Create"})
    assert status == 401
