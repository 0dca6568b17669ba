"""WebFinger, host-meta, NodeInfo, the actor and collections, checked against what Mastodon
documents that it needs (docs.joinmastodon.org/spec/webfinger, /spec/activitypub)."""

import blurhash
import numpy as np
import pytest

from cara.core.extensions import db
from cara.core.models import ActorKey, Visibility

AP = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}


def test_webfinger_names_the_actor(client, make_user):
    make_user("ana")
    response = client.get("/.well-known/webfinger?resource=acct:ana@cara.test")
    assert response.status_code == 200
    assert response.mimetype == "application/jrd+json"
    doc = response.get_json()
    assert doc["subject"] == "acct:ana@cara.test"
    self_link = next(link for link in doc["links"] if link["rel"] == "self")
    assert self_link == {
        "rel": "self",
        "type": "application/activity+json",
        "href": "http://cara.test/@ana",
    }


def test_webfinger_refuses_what_it_cannot_answer(client, make_user):
    make_user("ana")
    for resource, status in [
        ("", 400),
        ("acct:nobody@cara.test", 404),
        ("acct:ana@elsewhere.example", 404),
    ]:
        assert client.get(f"/.well-known/webfinger?resource={resource}").status_code == status


def test_actor_by_content_negotiation_on_the_profile_url(client, make_user):
    make_user("ana", display_name="Ana Ink", bio="Ink & paper")
    assert db.session.get(ActorKey, 1) is None  # made lazily
    for accept in (AP, LD):
        response = client.get("/@ana", headers=accept)
        assert response.status_code == 200
        assert response.mimetype == "application/activity+json"
        assert "Accept" in response.headers["Vary"]
    actor = response.get_json()
    # Mastodon: id, type, preferredUsername, inbox, outbox, publicKey{id, owner, publicKeyPem}.
    assert actor["id"] == "http://cara.test/@ana"
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "ana"
    assert actor["name"] == "Ana Ink"
    assert actor["summary"] == "<p>Ink &amp; paper</p>"
    assert actor["inbox"] == "http://cara.test/@ana/inbox"
    assert actor["endpoints"]["sharedInbox"] == "http://cara.test/inbox"
    assert actor["publicKey"]["id"] == "http://cara.test/@ana#main-key"
    assert actor["publicKey"]["owner"] == actor["id"]
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "https://www.w3.org/ns/activitystreams" in actor["@context"]
    assert actor["manuallyApprovesFollowers"] is False
    # The same key on every request.
    assert client.get("/@ana", headers=AP).get_json()["publicKey"] == actor["publicKey"]
    # A browser still gets the page.
    assert client.get("/@ana", headers={"Accept": "text/html,*/*;q=0.8"}).mimetype == "text/html"


def test_collections_and_nodeinfo(client, make_user, make_post):
    ana = make_user("ana")
    make_post(ana, caption="Public #ink")
    make_post(ana, caption="Friends", visibility=Visibility.FOLLOWERS.value)
    outbox = client.get("/@ana/outbox").get_json()
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == 1  # followers-only posts stay out
    create = outbox["orderedItems"][0]
    assert create["type"] == "Create" and create["object"]["type"] == "Note"
    assert client.get("/@ana/ap/followers").get_json()["totalItems"] == 0
    assert client.get("/@ana/ap/following").get_json()["type"] == "OrderedCollection"

    links = client.get("/.well-known/nodeinfo").get_json()["links"]
    assert links[0]["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    info = client.get("/nodeinfo/2.1").get_json()
    assert info["version"] == "2.1"
    assert info["software"]["name"] == "cara"
    assert info["protocols"] == ["activitypub"]
    assert info["usage"]["users"]["total"] == 1
    assert info["usage"]["localPosts"] == 2
    host_meta = client.get("/.well-known/host-meta")
    assert host_meta.mimetype == "application/xrd+xml"
    assert "/.well-known/webfinger?resource={uri}" in host_meta.get_data(as_text=True)


def test_note_shape(client, make_user, make_post):
    ana = make_user("ana")
    post = make_post(ana, caption="Harbour at dawn #ink", mature="on")
    post.media[0].alt_text = "A harbour in blue ink"
    post.media[0].crop_x, post.media[0].crop_y = 0.25, 0.75
    db.session.commit()
    note = client.get(f"/ap/posts/{post.id}", headers=AP).get_json()
    assert note["type"] == "Note"
    assert note["attributedTo"] == "http://cara.test/@ana"
    assert note["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
    assert note["cc"] == ["http://cara.test/@ana/ap/followers"]
    assert note["content"] == "<p>Harbour at dawn #ink</p>"
    assert note["sensitive"] is True and note["summary"]
    assert note["tag"] == [{"type": "Hashtag", "href": "http://cara.test/tags/ink", "name": "#ink"}]
    [image] = note["attachment"]
    assert image["type"] == "Image"
    assert image["name"] == "A harbour in blue ink"
    assert image["mediaType"] == "image/jpeg"
    assert image["url"].startswith(f"http://cara.test/media/{post.media[0].id}/")
    assert image["width"] > 0 and image["height"] > 0
    assert image["focalPoint"] == [-0.5, -0.5]
    # A 4x4-component BlurHash whose mean colour is the image's (its placeholder colour).
    assert len(image["blurhash"]) == 36
    mean = np.asarray(blurhash.decode(image["blurhash"], 16, 16)).reshape(-1, 3).mean(axis=0)
    colour = post.media[0].placeholder_color
    expected = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    assert all(abs(m - e) < 40 for m, e in zip(mean, expected, strict=True)), (mean, expected)
    assert note["license"] == "all-rights-reserved"
    assert note["tdmReservation"] == "DMI-PROHIBITED-AIMLTRAINING"
    # The image is really there, for anyone.
    assert client.get(image["url"].removeprefix("http://cara.test")).status_code == 200


def test_followers_only_posts_are_not_served(client, make_user, make_post):
    ana = make_user("ana")
    post = make_post(ana, visibility=Visibility.FOLLOWERS.value)
    assert client.get(f"/ap/posts/{post.id}").status_code == 404


@pytest.mark.parametrize("app_config", [{}], indirect=False)
def test_everything_is_404_while_federation_is_off(client, make_user, app_config):
    make_user("ana")
    for path in (
        "/.well-known/webfinger?resource=acct:ana@cara.test",
        "/.well-known/nodeinfo",
        "/nodeinfo/2.1",
        "/.well-known/host-meta",
        "/@ana/outbox",
        "/@ana/ap/followers",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post("/inbox", data=b"{}").status_code == 404
    assert client.get("/@ana", headers=AP).mimetype == "text/html"
