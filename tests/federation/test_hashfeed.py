"""The published AI-hash feed (docs/hash-lists.md, "The shared feed"): what a moderator's
confirm and clear put in it, its signature, and what a subscriber refuses. Pulling from a real
second server is tests/federation/test_shared_hash_lists.py."""

import base64
import copy

import pytest

from cara import moderation
from cara.aifilter import features, hashindex
from cara.core.extensions import db
from cara.core.models import HashFeedEntry, HashSubscription, KnownFeature, KnownHash, Role
from cara.federation import hashfeed, instances
from cara.posting import known
from tests import factories
from tests.factories import canvas, generator_png, login, person

pytestmark = pytest.mark.usefixtures("no_avif")


@pytest.fixture
def app_config():
    return {"FEDERATION": True, "FEDERATION_HASH_FEED_SETTLE_SECONDS": 0}


@pytest.fixture
def mona(app):
    return person("mona", role=Role.MODERATOR)


def _key(client) -> str:
    return client.get("/federation/hashes/key").get_json()["publicKeyPem"]


def test_a_confirmed_image_is_published_signed_and_a_clear_retracts_it(
    app, client, make_post, mona
):
    base = app.config["BASE_URL"].rstrip("/")
    post = make_post(author=person("ana"), images=[generator_png(seed=4)])
    empty = client.get("/federation/hashes").get_json()
    assert empty["entries"] == [] and empty["next"] == ""

    moderation.confirm_ai(post, mona, "generator metadata and the same style")
    doc = client.get("/federation/hashes").get_json()
    assert doc["format"] == "cara-hash-feed" and doc["version"] == 1
    assert doc["instance"] == base + "/" and doc["after"] == ""
    [entry] = doc["entries"]
    assert entry["op"] == "add" and entry["ref"] == f"m{post.media[0].id}"
    rows = db.session.scalars(db.select(KnownHash).where(KnownHash.media_id.is_not(None))).all()
    assert {(h["phash"], h["pdq"], h["variant"]) for h in entry["hashes"]} == {
        (r.phash, r.pdq, r.variant) for r in rows
    }
    assert len(entry["hashes"]) > 40
    # The local features travel too (list format version 2), and the moderator's reason not.
    blob = base64.b64decode(entry["features"][0]["data"])
    assert blob == db.session.scalar(db.select(KnownFeature.data))
    assert len(features.deserialize(blob)) > 0
    assert "same style" not in client.get("/federation/hashes").get_data(as_text=True)

    # Signed by the instance's key over the canonical page; the page after it is empty.
    key = _key(client)
    feed = base + "/federation/hashes"
    hashfeed.verify(doc, key, feed, "")
    assert doc["signature"]["keyId"] == base + "/federation/hashes/key"
    later = client.get(f"/federation/hashes?after={doc['next']}").get_json()
    assert later["entries"] == [] and later["after"] == doc["next"]
    hashfeed.verify(later, key, feed, doc["next"])

    # A moderator reverses the decision: the feed says remove, and the add is gone from it,
    # so a new subscriber never gets the cleared picture's hashes.
    moderation.clear(post, mona, "the artist showed the layers")
    db.session.commit()
    doc = client.get("/federation/hashes").get_json()
    assert [(e["op"], e["ref"]) for e in doc["entries"]] == [("remove", entry["ref"])]
    assert "hashes" not in doc["entries"][0]
    assert (
        client.get(f"/federation/hashes?after={later['next']}").get_json()["entries"]
        == (doc["entries"])
    )


def test_pages_follow_the_cursor(app, client, make_post, mona):
    ana = person("ana")
    posts = [make_post(author=ana, images=[generator_png(seed=s)]) for s in (1, 2, 3)]
    for post in posts:
        moderation.confirm_ai(post, mona, "generated")
    first = hashfeed.page(0, limit=2)
    assert len(first["entries"]) == 2 and first["more"] is True
    second = hashfeed.page(int(first["next"]), limit=2)
    assert len(second["entries"]) == 1 and second["more"] is False
    refs = [e["ref"] for e in first["entries"] + second["entries"]]
    assert refs == [f"m{p.media[0].id}" for p in posts]
    assert client.get("/federation/hashes?after=x1").status_code == 400


def test_a_subscriber_refuses_tampered_replayed_or_foreign_pages(app, client, make_post, mona):
    moderation.confirm_ai(make_post(author=person("ana"), images=[generator_png()]), mona, "AI")
    base = app.config["BASE_URL"].rstrip("/")
    feed = base + "/federation/hashes"
    doc, key = client.get("/federation/hashes").get_json(), _key(client)
    hashfeed.verify(doc, key, feed, "")

    tampered = copy.deepcopy(doc)
    tampered["entries"][0]["hashes"][0]["pdq"] = "0" * 64
    with pytest.raises(hashfeed.FeedError, match="signature did not verify"):
        hashfeed.verify(tampered, key, feed, "")
    with pytest.raises(hashfeed.FeedError, match="not the one asked for"):
        hashfeed.verify(doc, key, feed, "7")  # an old first page served for a later cursor
    with pytest.raises(hashfeed.FeedError, match="another instance"):
        hashfeed.verify(doc, key, "https://elsewhere.example/federation/hashes", "")
    other_key = hashfeed.signatures.new_keypair()[0]
    with pytest.raises(hashfeed.FeedError, match="signature did not verify"):
        hashfeed.verify(doc, other_key, feed, "")
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    with pytest.raises(hashfeed.FeedError, match="not signed"):
        hashfeed.verify(unsigned, key, feed, "")
    with pytest.raises(hashfeed.FeedError, match="version"):
        hashfeed.verify({**doc, "version": 2}, key, feed, "")
    odd = {**doc, "instance": 7}  # well signed, but malformed: refused, not a crash
    odd["signature"] = {
        **doc["signature"],
        "value": hashfeed.signatures.sign_bytes(
            hashfeed.instance_key().private_pem, hashfeed.canonical(odd)
        ),
    }
    with pytest.raises(hashfeed.FeedError, match="another instance"):
        hashfeed.verify(odd, key, feed, "")


def test_a_malformed_entry_stores_nothing(app):
    sub = HashSubscription(url="http://peer.example/federation/hashes", key_id="", public_pem="")
    db.session.add(sub)
    db.session.commit()
    bad = {"op": "add", "ref": "m1", "hashes": [{"phash": "zz", "pdq": "0" * 64}]}
    with pytest.raises(hashfeed.FeedError, match="phash must be 16 hex digits"):
        hashfeed._apply(sub, bad, 1)
    with pytest.raises(hashfeed.FeedError, match="unknown op"):
        hashfeed._apply(sub, {"op": "replace", "ref": "m1"}, 2)
    assert db.session.scalar(db.select(db.func.count(KnownHash.id))) == 0


def test_feed_routes_are_404_with_federation_off(app, client):
    app.config["FEDERATION"] = False
    assert client.get("/federation/hashes").status_code == 404
    assert client.get("/federation/hashes/key").status_code == 404
    assert db.session.scalar(db.select(db.func.count(HashFeedEntry.id))) == 0


@pytest.mark.parametrize(
    ("given", "feed"),
    [
        ("art.example", "https://art.example/federation/hashes"),
        ("https://art.example/", "https://art.example/federation/hashes"),
        ("http://127.0.0.1:5001/federation/hashes", "http://127.0.0.1:5001/federation/hashes"),
        ("https://art.example/@ana", None),
        ("https://art.example/?x=1", None),
        ("https://u:p@art.example", None),
        ("", None),
        ("not a url", None),
        ("ftp://art.example", None),
        ("https://art.example:port", None),
        ("https://art_example!", None),
    ],
)
def test_feed_url(given, feed):
    assert hashfeed.feed_url(given) == feed


def test_a_blocked_instance_cannot_be_subscribed_to(app):
    instances.block("blocked.example", reason="spam")
    sub, error = hashfeed.subscribe("https://blocked.example", trusted=True)
    assert sub is None and "blocked.example is blocked" in error
    assert db.session.scalar(db.select(db.func.count(HashSubscription.id))) == 0
    _, error = hashfeed.subscribe(app.config["BASE_URL"], trusted=True)
    assert error == "That is this instance."


def _entry_of(img) -> dict:
    """A feed `add` entry with an image's hash variants, as a publishing instance writes it."""
    hashes = [
        {"phash": h.phash_hex, "pdq": h.pdq_hex, "variant": name}
        for name, h in hashindex.variant_hashes(img)
    ]
    return {"cursor": "1", "op": "add", "ref": "m7", "hashes": hashes}


def test_pulled_rows_act_per_the_subscription_s_trust_until_unsubscribed(app, client):
    sub = HashSubscription(url="http://peer.example/federation/hashes", key_id="", public_pem="")
    db.session.add(sub)
    db.session.commit()
    picture = canvas(seed=31)
    assert known.signals_for(picture) == []

    assert hashfeed._apply(sub, _entry_of(picture), 1) > 40
    db.session.commit()
    [signal] = known.signals_for(picture)
    assert signal.name == "known-hash-untrusted"  # subscriptions are untrusted by default
    assert "shared list of peer.example" in signal.evidence
    rows = db.session.scalars(db.select(KnownHash)).all()
    assert {(r.source, r.subscription_id, r.feed_ref) for r in rows} == {
        ("subscription", sub.id, "m7")
    }

    hashfeed.set_trust(sub, True)
    assert [s.name for s in known.signals_for(picture)] == ["known-hash"]

    hashfeed._apply(sub, {"cursor": "2", "op": "remove", "ref": "m7"}, 1)
    db.session.commit()
    assert known.signals_for(picture) == []
    hashfeed._apply(sub, _entry_of(picture), 1)
    db.session.commit()
    assert hashfeed.unsubscribe(sub) == len(rows)
    assert known.signals_for(picture) == []
    assert db.session.scalar(db.select(db.func.count(KnownHash.id))) == 0


def test_admins_change_a_list_s_trust_on_the_admin_page(app, client):
    person("alma", role=Role.ADMIN)
    login(client, "alma")
    sub = HashSubscription(url="http://peer.example/federation/hashes", key_id="", public_pem="")
    db.session.add(sub)
    db.session.commit()
    hashfeed._apply(sub, _entry_of(canvas(seed=32)), 1)
    db.session.commit()
    page = client.get("/admin/hash-lists").get_data(as_text=True)
    assert "Untrusted: matches held" in page and "http://peer.example/federation/hashes" in page
    response = client.post(f"/admin/hash-lists/{sub.id}/trust", data={"trusted": "1"})
    assert response.status_code == 303
    assert all(db.session.scalars(db.select(KnownHash.trusted)).all())
    assert "Trusted: matches rejected" in client.get("/admin/hash-lists").get_data(as_text=True)
    log = client.get("/moderation?queue=log").get_data(as_text=True)
    assert "trust-hashes" in log and "http://peer.example/federation/hashes (trusted)" in log
    # Subscribing fetches through the SSRF-safe fetcher: a loopback address is refused.
    response = client.post("/admin/hash-lists", data={"address": "https://127.0.0.1:9"})
    assert response.status_code == 422
    assert "it resolves to a non-public address" in response.get_data(as_text=True)


def test_the_migration_publishes_the_confirmations_made_before_the_feed(tmp_path):
    """An instance upgraded to the feed shares what its moderators confirmed earlier too."""
    from flask_migrate import downgrade, upgrade

    with factories.feed_instance(tmp_path):
        factories.confirmed_as_ai([generator_png(seed=9)])
        before = hashfeed.page(0)["entries"]
        assert len(before) == 1
        db.session.remove()
        downgrade(revision="a3b9d2e4f610")  # as if the feed had never existed
        assert "hash_feed" not in db.inspect(db.engine).get_table_names()
        upgrade()
        after = hashfeed.page(0)["entries"]
    assert after == before  # the same image, hashes and features, as the first entry


def test_a_rotated_key_is_announced_by_the_one_before_it(app, client):
    from cara.core.models import InstanceKey

    base = app.config["BASE_URL"].rstrip("/")
    first = hashfeed.instance_key().public_pem
    second = hashfeed.rotate_key().public_pem
    third = hashfeed.rotate_key().public_pem
    doc = client.get("/federation/hashes/key").get_json()
    assert doc["publicKeyPem"] == third and len(doc["rotations"]) == 2
    # A subscriber pinned on any earlier key follows the chain; the current one has no news.
    assert hashfeed.announced_key(doc, first, base) == third
    assert hashfeed.announced_key(doc, second, base) == third
    assert hashfeed.announced_key(doc, third, base) is None
    stranger_public, stranger_private = hashfeed.signatures.new_keypair()
    assert hashfeed.announced_key(doc, stranger_public, base) is None
    assert hashfeed.announced_key(doc, first, "https://elsewhere.example") is None
    # A statement not signed by the key it replaces is not followed (the chain breaks).
    forged = copy.deepcopy(doc)
    statement = forged["rotations"][0]["statement"]
    forged["rotations"][0]["signature"] = hashfeed.signatures.sign_bytes(
        stranger_private, hashfeed.canonical(statement)
    )
    assert hashfeed.announced_key(forged, first, base) is None
    # Pages are signed with the new key; the old private keys are gone.
    feed = base + "/federation/hashes"
    hashfeed.verify(client.get("/federation/hashes").get_json(), third, feed, "")
    with pytest.raises(hashfeed.BadSignature):
        hashfeed.verify(client.get("/federation/hashes").get_json(), first, feed, "")
    keys = db.session.scalars(db.select(InstanceKey).order_by(InstanceKey.id)).all()
    assert [bool(k.private_pem) for k in keys] == [False, False, True]
