"""Issue 13: error pages in the layout with a way back; meta descriptions, Open Graph and
Twitter cards, the first image fetched first, and tags listed once on a post."""

import re

import pytest
from flask import abort

from cara.core.extensions import db
from cara.core.models import PostState
from tests.factories import make_post, make_user

WAY_BACK = '<a href="/">Go to the home page</a>'


@pytest.fixture
def failing(app):
    """Routes that fail the ways views do (added before the app's first request)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the 500 page is shown
    app.add_url_rule("/t/403", "t403", lambda: abort(403))
    app.add_url_rule("/t/410", "t410", lambda: abort(410))
    app.add_url_rule("/t/own", "town", lambda: abort(403, "Only the owner may do that."))
    app.add_url_rule("/t/500", "t500", lambda: 1 / 0)
    return app


@pytest.mark.parametrize(
    "path,code,heading,words",
    [
        ("/no-such-page", 404, "Page not found", "There is nothing at this address."),
        ("/t/403", 403, "You cannot see this page", "You are not allowed to open this page."),
        ("/t/410", 410, "This is gone", "removed for good"),
        ("/t/500", 500, "Something went wrong on our side", "It has been logged"),
        ("/t/own", 403, "You cannot see this page", "Only the owner may do that."),
    ],
)
def test_error_pages_are_in_the_layout_with_a_way_back(failing, path, code, heading, words):
    response = failing.test_client().get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == code
    assert '<main id="main"' in html and f"<h1>{heading}</h1>" in html and words in html
    assert WAY_BACK in html and f"Error {code}" in html
    assert "requested URL was not found" not in html  # Werkzeug's stock text is replaced


def test_a_403_offers_to_log_in_and_a_404_to_search(failing):
    client = failing.test_client()
    assert 'href="/login?next=/t/403"' in client.get("/t/403").get_data(as_text=True)
    assert 'href="/search"' in client.get("/nowhere").get_data(as_text=True)


def test_the_error_page_survives_a_broken_layout(failing, monkeypatch):
    import cara.web

    def broken(*args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(cara.web, "render_template", broken)
    response = failing.test_client().get("/t/500")
    assert response.status_code == 500 and WAY_BACK in response.get_data(as_text=True)


def _meta(html: str) -> dict[str, str]:
    found = re.findall(r'<meta (?:name|property)="([^"]+)" content="([^"]*)"', html)
    return dict(found)


def test_every_page_has_a_description(client):
    for path in ("/", "/latest", "/login", "/search", "/no-such-page"):
        description = _meta(client.get(path).get_data(as_text=True)).get("description", "")
        assert len(description) > 20, (path, description)


def test_a_public_post_has_open_graph_and_twitter_cards(client):
    post = make_post(caption="Moth in ink #moths", tags=["moths", "ink"])
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    meta = _meta(html)
    media = post.media[0]
    jpeg = max((r for r in media.renditions if r["fmt"] == "jpeg"), key=lambda r: r["w"])
    image = f"http://cara.test/media/{media.id}/{jpeg['name']}"  # from BASE_URL, never Host
    assert meta["og:title"] == meta["twitter:title"] and post.author.name in meta["og:title"]
    assert meta["description"] == meta["og:description"] == "Moth in ink #moths"
    assert meta["og:url"] == f"http://cara.test/posts/{post.id}"
    assert meta["og:image"] == meta["twitter:image"] == image
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == media.alt_text
    assert meta["twitter:card"] == "summary_large_image" and meta["og:type"] == "article"
    # The copy-link field holds the same absolute URL.
    assert f'value="http://cara.test/posts/{post.id}" readonly' in html


@pytest.mark.parametrize("kind", ["followers", "held", "mature"])
def test_no_image_card_for_posts_that_are_not_public(client, auth, kind):
    author = make_user("ana")
    if kind == "followers":
        post = make_post(author, visibility="followers")
    elif kind == "held":
        post = make_post(author, state=PostState.HELD)
    else:
        post = make_post(author, mature=True)
    auth.login("ana")  # the artist sees every one of them
    meta = _meta(client.get(f"/posts/{post.id}").get_data(as_text=True))
    assert "og:image" not in meta
    if kind != "mature":
        assert "og:title" not in meta


def test_a_profile_has_cards_and_its_bio_as_description(client):
    make_user("mira", display_name="Mira Okafor", bio="Ink and watercolour.")
    for path in ("/@mira", "/@mira/posts"):
        meta = _meta(client.get(path).get_data(as_text=True))
        assert meta["description"] == meta["og:description"] == "Ink and watercolour."
        assert meta["og:title"] == "Mira Okafor (@mira)" and meta["og:type"] == "profile"
        assert meta["og:url"] == "http://cara.test/@mira"


def test_the_first_image_is_fetched_first_and_never_lazily(client):
    author = make_user("mira")
    post = make_post(author, images=3, tags=["heliotrope"])
    for _ in range(3):
        make_post(author, caption="heliotrope study").in_portfolio = True
    db.session.commit()
    pages = {
        "post": f"/posts/{post.id}",
        "feed": "/latest",
        "search": "/search?q=heliotrope",
        "profile posts": "/@mira/posts",
        "portfolio": "/@mira",
    }
    for name, path in pages.items():
        images = re.findall(r"<img [^>]*>", client.get(path).get_data(as_text=True))
        assert len(images) >= 3, name
        assert 'fetchpriority="high"' in images[0] and "lazy" not in images[0], name
        # At most the first two cards' first images (a carousel's further slides wait).
        assert sum('fetchpriority="high"' in i for i in images) <= 2, name
    # The post's further images wait until they are scrolled to.
    images = re.findall(r"<img [^>]*>", client.get(f"/posts/{post.id}").get_data(as_text=True))
    assert all('loading="lazy"' in i for i in images[1:])


def test_tags_from_the_caption_are_not_listed_twice(client):
    post = make_post(caption="Dusk #moths", tags=["moths", "ink"])
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert html.count('href="/tags/moths"') == 1  # the caption's link
    assert html.count('href="/tags/ink"') == 1  # listed beneath
