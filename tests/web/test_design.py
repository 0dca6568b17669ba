"""The design system's server side (issue 13): the colour-scheme setting, default avatars, the
icon sprite, the profile's portfolio fallback and the owner's Drafts & review tab."""

import re

from cara.core.extensions import db
from cara.core.models import PostState, User
from cara.web.templating import avatar_colour, initials
from tests.factories import csrf_token_from, login, make_post, person


def test_initials_and_avatar_colours():
    assert initials("Mira Okafor") == "MO"
    assert initials("ana") == "A"
    assert initials("jean-luc picard") == "JL"
    assert initials("  ") == "?"
    colours = {avatar_colour(f"user{i}") for i in range(200)}
    assert colours == set(range(12))  # every colour is used, and only those the CSS defines
    assert avatar_colour("mira") == avatar_colour("mira")


def test_theme_setting_sets_the_page_scheme(client):
    ana = person("ana")
    login(client, "ana")
    html = client.get("/settings").get_data(as_text=True)
    assert "data-theme" not in html and '<meta name="color-scheme" content="light dark">' in html
    assert 'id="theme-system" value="system" checked' in html
    token = csrf_token_from(html)
    response = client.post("/settings/appearance", data={"csrf_token": token, "theme": "dark"})
    assert response.status_code == 303
    assert db.session.get(User, ana.id).theme == "dark"
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en" data-theme="dark">' in html
    assert '<meta name="color-scheme" content="dark">' in html
    response = client.post("/settings/appearance", data={"csrf_token": token, "theme": "neon"})
    assert response.status_code == 422
    assert "Choose system, light or dark." in response.get_data(as_text=True)
    assert db.session.get(User, ana.id).theme == "dark"


def test_cards_have_avatars_and_distinct_action_icons(client):
    bob = person("bob", display_name="Bob Ross")
    post = make_post(bob, "Happy trees")
    person("ana")
    login(client, "ana")
    html = client.get("/latest").get_data(as_text=True)
    assert html.count('<svg class="sprite"') == 1
    card = html[html.index(f'id="post-{post.id}"') :]
    assert f'class="avatar av-{avatar_colour("bob")}" aria-hidden="true">BR</span>' in card
    icons = re.findall(r'<use href="#i-([a-z]+)"/>', card[: card.index("</li>")])
    for name in ("like", "comment", "repost", "bookmark", "share", "report"):
        assert name in icons, f"no {name} icon on the card"
        assert f'<symbol id="i-{name}"' in html


def test_empty_portfolio_shows_the_newest_posts(client):
    mira = person("mira")
    post = make_post(mira, "First light")
    html = client.get("/@mira").get_data(as_text=True)
    assert f'href="/posts/{post.id}"' in html
    assert "not chosen portfolio pieces yet" in html
    with_portfolio = make_post(mira, "Chosen")
    with_portfolio.in_portfolio = True
    db.session.commit()
    html = client.get("/@mira").get_data(as_text=True)
    assert f'href="/posts/{with_portfolio.id}"' in html
    assert f'href="/posts/{post.id}"' not in html and "not chosen" not in html


def test_drafts_and_review_is_the_owners(client):
    mira = person("mira")
    draft = make_post(mira, "Half done", state=PostState.DRAFT)
    held = make_post(mira, "Suspicious", state=PostState.HELD)
    public = make_post(mira, "Out there")
    person("ana")
    login(client, "ana")
    assert client.get("/@mira/drafts").status_code == 403
    assert "Drafts &amp; review" not in client.get("/@mira").get_data(as_text=True)
    client.post("/logout")
    login(client, "mira")
    html = client.get("/@mira").get_data(as_text=True)
    assert 'href="/@mira/drafts"' in html
    html = client.get("/@mira/drafts").get_data(as_text=True)
    assert f'id="post-{draft.id}"' in html and f'href="/posts/{draft.id}/edit"' in html
    assert f'id="post-{held.id}"' in html and "Held for review" in html
    assert f'id="post-{public.id}"' not in html


def test_cards_show_an_uploaded_avatar(client):
    bob = person("bob")
    post = make_post(bob, "Self portrait")
    bob.avatar_media_id = post.media[0].id  # any processed image will do as an avatar
    db.session.commit()
    html = client.get("/latest").get_data(as_text=True)
    card = html[html.index(f'id="post-{post.id}"') :]
    head = card[: card.index('class="card-image"')]
    assert f'<span class="avatar"><img src="/media/{post.media[0].id}/' in head
    assert "av-" not in head


def _slides(html: str) -> list[str]:
    """The carousel's slides (one <a> each) of a page."""
    carousel = html[html.index('<div class="carousel"') :]
    return re.findall(r'<a href="[^"]*" class="[^"]*slide".*?</a>', carousel, re.S)


def test_a_post_page_shows_several_images_as_the_cards_carousel(client):
    post = make_post(person("mira"), "Triptych", images=3)
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    slides = _slides(html)
    assert len(slides) == 3
    for n, slide in enumerate(slides, 1):
        viewer = f"/posts/{post.id}/images/{n}"
        link = f'<a href="{viewer}" class="post-slide slide" data-viewer="{viewer}"'
        assert slide.startswith(link)
        assert f">{n} / 3</span>" in slide and f"View image {n} of 3 full size" in slide
        assert slide.count("<i></i>") == 2 and slide.count('<i class="on">') == 1
        img = re.search(r"<img [^>]*>", slide).group()
        assert ('fetchpriority="high"' in img) == (n == 1)
        assert ('loading="lazy"' in img) == (n > 1)
    # The card's carousel is the same markup (one macro), its slides linking to the post.
    card = _slides(client.get("/latest").get_data(as_text=True))
    assert len(card) == 3
    for n, slide in enumerate(card, 1):
        viewer = f"/posts/{post.id}/images/{n}"
        assert slide.startswith(
            f'<a href="/posts/{post.id}" class="card-image slide" data-viewer="{viewer}"'
        )
        assert f">{n} / 3<span" in slide and slide.count('<i class="on">') == 1


def test_carousel_arrows_link_each_slide_to_its_neighbours(client):
    """Previous/Next are plain links to the neighbouring slide's id (no JS needed)."""
    post = make_post(person("mira"), "Triptych", images=3)
    for path in (f"/posts/{post.id}", "/latest"):
        html = client.get(path).get_data(as_text=True)
        carousel = html[html.index('<div class="carousel"') :]
        frames = re.findall(
            r'<div class="slide-frame" id="([^"]+)">(.*?)</a>\s*'
            r'((?:<a class="step.*?</a>\s*)*)</div>',
            carousel,
            re.S,
        )
        assert [f[0] for f in frames] == [f"img-{post.id}-{n}" for n in (1, 2, 3)]
        steps = [
            re.findall(r'<a class="step (\w+)" href="#([^"]+)">.*?>(\w+ image)</span>', f[2])
            for f in frames
        ]
        assert steps == [
            [("next", f"img-{post.id}-2", "Next image")],
            [
                ("prev", f"img-{post.id}-1", "Previous image"),
                ("next", f"img-{post.id}-3", "Next image"),
            ],
            [("prev", f"img-{post.id}-2", "Previous image")],
        ]


def test_a_single_image_links_to_its_viewer(client):
    post = make_post(person("mira"), "One", images=1)
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert '<div class="carousel"' not in html
    assert f'href="/posts/{post.id}/images/1" class="to-viewer"' in html
    card = client.get("/latest").get_data(as_text=True)
    assert f'class="card-image" data-viewer="/posts/{post.id}/images/1"' in card


def test_full_size_viewer_pages_through_a_post(client):
    post = make_post(person("mira"), "Triptych", images=3)
    first = client.get(f"/posts/{post.id}/images/1").get_data(as_text=True)
    assert "1 / 3" in first and 'rel="prev"' not in first
    assert f'rel="next" href="/posts/{post.id}/images/2"' in first
    assert f'src="/media/{post.media[0].id}/' in first
    last = client.get(f"/posts/{post.id}/images/3").get_data(as_text=True)
    assert f'rel="prev" href="/posts/{post.id}/images/2"' in last and 'rel="next"' not in last
    for n in (0, 4):
        assert client.get(f"/posts/{post.id}/images/{n}").status_code == 404
    hidden = make_post(person("bob"), "Mine", visibility="followers")
    assert client.get(f"/posts/{hidden.id}/images/1").status_code == 404
