"""The art-first layout in Chromium (issue 13): one-line header and bottom tab bar on phones,
the header menu without JS, post actions that return to their card without JS and keep their
counts right with it; screenshots at 360 and 1366 px, light and dark, for review."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import PHONE, art_png, log_in, open_menu, publish, screenshot, watch

WIDE = {"viewport": {"width": 1366, "height": 900}}
SCREENS = [
    ("home", "/", "ana"),
    ("home-visitor", "/", None),
    ("post", "/posts/{art0}", "ana"),
    ("profile", "/@mira", None),
    ("own-profile", "/@ana", "ana"),
    ("own-drafts", "/@ana/drafts", "ana"),
    ("notifications", "/notifications", "ana"),
    ("settings", "/settings", "ana"),
]


def _tab_bar(page):
    return page.get_by_role("navigation", name="Main").locator(".nav-tabs")


def test_phone_header_is_one_line_above_a_tab_bar(new_context, live, feed):
    page = new_context(**PHONE).new_page()
    log_in(page, live, "ana")
    page.goto(live("/latest"))
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 64, f"the phone header takes {header['height']} px"
    bar = _tab_bar(page)
    for name in ("Home", "Search", "New post", "Notifications", "Profile"):
        expect(bar.get_by_role("link", name=name)).to_be_visible()
    expect(bar.get_by_role("link", name="Profile")).to_have_attribute("href", "/@ana")
    box = bar.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(PHONE["viewport"]["height"], abs=1)
    # Scrolled to the very end (in one go, so late-loading images cannot move it), the footer
    # ends above the bar.
    gap = page.evaluate(
        """() => { window.scrollTo(0, document.documentElement.scrollHeight);
                   return document.querySelector('.nav-tabs').getBoundingClientRect().top
                     - document.querySelector('.site-footer').getBoundingClientRect().bottom; }"""
    )
    assert gap >= -1, f"the bar hides {-gap} px of the footer"


def test_desktop_header_has_new_post_and_own_profile(new_context, live):
    page = new_context(**WIDE).new_page()
    log_in(page, live, "ana")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="New post")).to_be_visible()
    expect(nav.get_by_role("link", name="Profile")).to_have_attribute("href", "/@ana")
    expect(nav.get_by_role("link", name="Home")).to_be_hidden()  # phones only
    assert page.locator(".site-header").bounding_box()["height"] <= 64


def test_header_menu_opens_without_js(new_context, live):
    page = new_context(java_script_enabled=False).new_page()
    log_in(page, live, "ana")
    expect(page.get_by_role("link", name="Settings")).to_be_hidden()
    open_menu(page).get_by_role("link", name="Settings").click()
    expect(page).to_have_url(live("/settings"))


def test_jobs_filter_button_sits_beside_its_fields(new_context, live):
    page = new_context(**WIDE).new_page()
    log_in(page, live, "ana")
    page.goto(live("/jobs"))
    form = page.get_by_role("form", name="Filter jobs")
    # the label of the last filter, not its box (which may stretch across the row)
    last = form.locator(".field label").last.bounding_box()
    button = form.get_by_role("button", name="Filter").bounding_box()
    assert 0 <= button["x"] - (last["x"] + last["width"]) <= 32, (last, button)
    assert abs((button["y"] + button["height"] / 2) - (last["y"] + last["height"] / 2)) <= 8


def test_an_empty_feed_says_so_clear_of_the_phone_edge(new_context, live):
    page = new_context(**PHONE).new_page()
    page.goto(live("/search?q=nothingmatchesthis"))
    empty = page.locator(".feed > .empty")
    expect(empty).to_have_text("No posts match.")
    # the feed runs edge to edge on phones (its cards lose their frame); its text must not
    left = empty.evaluate(
        "e => e.getBoundingClientRect().left + parseFloat(getComputedStyle(e).paddingLeft)"
    )
    assert left >= 8, f"the text starts {left} px from the edge"


def test_like_without_js_returns_to_the_card(new_context, live, feed):
    page = new_context(java_script_enabled=False).new_page()
    log_in(page, live, "fan_nojs")
    page.goto(live("/latest"))
    card = page.locator("main .card").nth(6)
    card_id = card.get_attribute("id")
    card.locator("button.like").click()
    expect(page).to_have_url(re.compile(rf"/latest#{card_id}$"))
    expect(page.locator(f"#{card_id} button.like")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => window.scrollY") > 0, "back at the top of the feed"


def test_comment_count_stays_right_with_js(new_context, live, artworks):
    page = new_context().new_page()
    problems = watch(page)
    log_in(page, live, "fan_js")
    post_id = artworks["art3"]
    page.goto(live(f"/posts/{post_id}"))
    row = page.locator(f"#post-{post_id}-actions")
    for i in range(2):
        field = page.get_by_label("Comment", exact=True)
        field.fill(f"Lovely edges, take {i}")
        field.locator("xpath=ancestor::form[1]").locator("[type=submit]").click()
        expect(page.get_by_text(f"Lovely edges, take {i}")).to_be_visible()
        heading = page.get_by_role("heading", name=re.compile(r"Comments \(\d+\)"))
        count = re.search(r"\d+", heading.inner_text()).group()
        expect(row.locator('a[href$="#comments"]')).to_have_text(
            re.compile(rf"^{count} comments?$")
        )
    assert not problems


def test_viewer_pages_with_the_arrow_keys(new_context, live):
    # ana's, not mira's: the phone-image budget test waits for every picture of /@mira/posts
    post_id = publish(live, "ana", [(f"v{i}.png", art_png(700 + i, (900, 600))) for i in range(2)])
    page = new_context().new_page()
    problems = watch(page)
    page.goto(live(f"/posts/{post_id}/images/1"))  # the viewer's page (a link opens the dialog)
    expect(page.locator("main .viewer picture img")).to_be_visible()
    screenshot(page, "design-viewer")
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(live(f"/posts/{post_id}/images/2"))
    expect(page.get_by_text("2 / 2")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(live(f"/posts/{post_id}/images/1"))
    page.keyboard.press("Escape")
    expect(page).to_have_url(live(f"/posts/{post_id}"))
    assert not problems


@pytest.fixture(scope="module")
def three_images(live):
    sizes = [(600, 600), (900, 600), (500, 700)]  # the post page shows each whole
    images = [(f"c{i}.png", art_png(800 + i, size)) for i, size in enumerate(sizes)]
    return publish(live, "ana", images)


@pytest.mark.parametrize("where", ["card", "post"])
def test_multi_image_posts_swipe_without_js(new_context, live, three_images, where):
    post_id = three_images
    page = new_context(**PHONE, java_script_enabled=False).new_page()
    page.goto(live("/@ana/posts" if where == "card" else f"/posts/{post_id}"))
    carousel = page.locator(f"#post-{post_id} .carousel")
    expect(carousel.locator(".slide")).to_have_count(3)
    screenshot(page, f"design-carousel-{where}")
    width = carousel.evaluate("el => el.clientWidth")
    assert carousel.evaluate("el => el.scrollWidth") >= 3 * width - 3
    carousel.evaluate("el => el.scrollBy(el.clientWidth, 0)")
    expect(carousel.get_by_text("2 / 3")).to_be_in_viewport()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    # each slide leads on: a card's to the post, the post page's to the full-size viewer
    carousel.locator(".slide").nth(1).click()
    expected = f"/posts/{post_id}" if where == "card" else f"/posts/{post_id}/images/2"
    expect(page).to_have_url(live(expected))


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("where", ["card", "post"])
def test_a_mouse_steps_through_a_carousel_with_its_arrows(
    new_context, live, three_images, where, js
):
    """A desktop mouse cannot swipe: Previous/Next arrows step through the images, as links to
    the slides' ids without JS, scrolled in place (the page does not move) with it."""
    post_id = three_images
    page = new_context(**WIDE, java_script_enabled=js).new_page()
    page.goto(live("/@ana/posts" if where == "card" else f"/posts/{post_id}"))
    carousel = page.locator(f"#post-{post_id} .carousel")
    first = carousel.locator(f"#img-{post_id}-1")
    expect(first.locator("a.step.prev")).to_have_count(0)  # nothing before the first image
    first.get_by_role("link", name="Next image").hover()
    screenshot(page, f"design-carousel-arrows-{where}-{'js' if js else 'nojs'}")
    top = page.evaluate("() => window.scrollY")
    width = carousel.evaluate("el => el.clientWidth")
    first.get_by_role("link", name="Next image").click()
    expect(carousel.get_by_text("2 / 3")).to_be_in_viewport()
    moved = f"() => document.querySelector('#post-{post_id} .carousel').scrollLeft"
    page.wait_for_function(f"() => Math.abs(({moved})() - {width}) < 2")
    if js:
        assert page.evaluate("() => window.scrollY") == top
        expect(page.locator(f"#img-{post_id}-2 a.step.next")).to_be_focused()
    else:
        expect(page).to_have_url(re.compile(f"#img-{post_id}-2$"))
    page.locator(f"#img-{post_id}-2").get_by_role("link", name="Next image").click()
    expect(carousel.get_by_text("3 / 3")).to_be_in_viewport()
    third = page.locator(f"#img-{post_id}-3")
    expect(third.locator("a.step.next")).to_have_count(0)
    third.get_by_role("link", name="Previous image").click()
    expect(carousel.get_by_text("2 / 3")).to_be_in_viewport()


def test_a_long_word_in_a_reply_from_another_server_wraps_on_a_phone(new_context, live):
    """A remote reply's text (sanitised HTML from elsewhere) wraps inside 360 px."""
    from cara.core.extensions import db
    from cara.core.models import RemoteComment
    from tests.factories import remote_actor

    post_id = publish(live, "ana", [("w.png", art_png(812))])
    with live.ctx():
        lee = remote_actor("lee", "far.example", name="Lee Farrow-Longname")
        words = "<p>Lovely! " + "ink" * 60 + "</p>"
        db.session.add(
            RemoteComment(
                uri="https://far.example/notes/9", post_id=post_id, actor_id=lee.id, content=words
            )
        )
        db.session.commit()
    page = new_context(**PHONE).new_page()
    page.goto(live(f"/posts/{post_id}"))
    expect(page.locator(".remote-comment")).to_contain_text("Lee Farrow-Longname")
    screenshot(page, "design-remote-reply")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", [PHONE, WIDE], ids=["360", "1366"])
def test_screenshots_of_the_key_pages(new_context, live, artworks, feed, draft, device, scheme):
    """Every key page renders at both widths in both schemes without sideways scrolling; the
    screenshots in test-artifacts/ are for looking at."""
    pages = {}
    for name, path, who in SCREENS:
        if who not in pages:
            pages[who] = new_context(**device, color_scheme=scheme).new_page()
            if who:
                log_in(pages[who], live, who)
        page = pages[who]
        response = page.goto(live(path.format(**live.posts)))
        assert response.status == 200, f"{path}: {response.status}"
        assert (
            page.evaluate("() => document.documentElement.scrollWidth")
            <= (device["viewport"]["width"])
        ), f"{name} scrolls sideways"
        screenshot(page, f"design-{name}-{scheme}")


@pytest.mark.parametrize("width", [360, 1366])
def test_images_have_their_box_before_their_files_arrive(new_context, live, feed, width):
    """No layout shift: with every image file held back, each feed card's and the post page's
    image already takes the height its width and height attributes give (4:3 crops on wide
    screens, the image's own shape on phones)."""
    size = PHONE if width == 360 else WIDE
    page = new_context(**size, java_script_enabled=False).new_page()
    page.route("**/media/**", lambda route: route.abort())
    boxes = """() => [...document.querySelectorAll('main picture img')].slice(0, 4).map(img => {
        const r = img.getBoundingClientRect();
        return [r.width, r.height, +img.getAttribute('width'), +img.getAttribute('height')]; })"""
    for path in ("/latest", f"/posts/{live.posts['photo']}"):
        page.goto(live(path))
        found = page.evaluate(boxes)
        assert found, path
        for w, h, aw, ah in found:
            wanted = w * 3 / 4 if width == 1366 and path == "/latest" else w * ah / aw
            assert w > 100 and h == pytest.approx(wanted, abs=2), (path, w, h, aw, ah)
