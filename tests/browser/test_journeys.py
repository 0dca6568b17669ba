"""The main journeys in a real browser, each with JavaScript on and off (the `page` fixture).

With JavaScript, htmx must swap in place where it is used (a window marker survives, the URL
stays); without it the same journey works through plain links and forms.
"""

import re

from playwright.sync_api import expect

from cara.core.extensions import db
from tests.browser.pages import (
    FEED_POSTS,
    PASSWORD,
    art_png,
    assert_found,
    log_in,
    log_out,
    publish,
    watch,
)
from tests.support import AI_FILTER_FIXTURES

# DOM ids of posts are stable (DESIGN §6): post-42.
POST_IDS = """() => [...document.querySelectorAll('main [id^="post-"]')]
    .map(e => e.id).filter(id => /^post-\\d+$/.test(id)).map(id => Number(id.slice(5)))"""


def mode(page) -> str:
    return "js" if page.js else "nojs"


def submit(field) -> None:
    """Press the submit button of the form holding `field` (its last one: the main action)."""
    form = field.locator("xpath=ancestor::form[1]")
    form.locator("button[type=submit]:not([form]), input[type=submit]").last.click()


def set_marker(page) -> None:
    page.evaluate("() => { window.caraMarker = 'still here'; }")


def marker(page):
    return page.evaluate("() => window.caraMarker")


def test_sign_up_log_out_and_log_in(page, live):
    name = f"newcomer_{mode(page)}"
    page.goto(live("/"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign up").click()
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill("a long unusual passphrase")
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("status").filter(has_text="Check your inbox")).to_be_visible()
    log_in(page, live, name, "a long unusual passphrase")
    expect(page.get_by_role("status").filter(has_text="Confirm your email")).to_be_visible()

    log_out(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    log_in(page, live, name, "a long unusual passphrase")
    expect(page).to_have_url(live("/"))


def test_wrong_password_is_refused(page, live):
    page.goto(live("/login"))
    page.get_by_label("Username or email").fill("ana")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not right")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_feed_loads_more_in_place_with_js(new_context, live, feed):
    page = new_context().new_page()
    problems = watch(page)
    page.goto(live("/"))
    first = page.evaluate(POST_IDS)
    assert len(first) == 24
    set_marker(page)
    url = page.url
    seen = len(first)
    for _ in range(10):  # scroll to the bottom until the feed ends
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        try:
            page.wait_for_function(f"() => ({POST_IDS})().length > {seen}", timeout=5000)
        except Exception:
            break
        seen = len(page.evaluate(POST_IDS))
    ids = page.evaluate(POST_IDS)
    assert len(ids) >= FEED_POSTS + 1, "the feed did not grow past its first page"
    assert len(ids) == len(set(ids)), "a post appeared twice"
    assert ids == sorted(ids, reverse=True), "newest first"
    assert page.url == url and marker(page) == "still here", "htmx reloaded the page"
    expect(page.get_by_role("link", name="Older posts")).to_have_count(0)  # the end
    assert not problems


def test_feed_older_posts_link_without_js(new_context, live, feed):
    page = new_context(java_script_enabled=False).new_page()
    page.goto(live("/"))
    first = page.evaluate(POST_IDS)
    assert len(first) == 24
    page.get_by_role("link", name="Older posts").click()
    expect(page).to_have_url(re.compile(r"[?&]before="))
    second = page.evaluate(POST_IDS)
    assert second and not set(first) & set(second)
    assert max(second) < min(first), "page 2 holds older posts"


def test_post_art(page, live):
    log_in(page, live, "ana")
    assert_found(page.goto(live("/posts/new")), "/posts/new")
    alt = f"Teal circles on an orange ground ({mode(page)})"
    images = page.get_by_label("Images", exact=True)
    images.set_input_files(
        {"name": "circles.png", "mimeType": "image/png", "buffer": art_png(4242, (640, 480))}
    )
    submit(images)
    page.get_by_label("Alt text").fill(alt)
    page.get_by_label("Caption").fill(f"Circle study, {mode(page)} #circles")
    page.get_by_label("Tags").fill("study")
    page.get_by_label("Add to portfolio").check()
    submit(page.get_by_label("Caption"))

    expect(page).to_have_url(re.compile(r"/posts/\d+$"))
    expect(page.get_by_role("img", name=alt)).to_be_visible()
    page.goto(live("/@ana"))
    expect(page.get_by_role("img", name=alt)).to_be_visible()


def test_post_three_images_on_a_phone(page, live):
    """Issue 3's journey: at 360 px, three images with alt text, processed, on the portfolio."""
    page.set_viewport_size({"width": 360, "height": 780})
    log_in(page, live, "ana")
    page.goto(live("/posts/new"))
    alts = [f"Phone study {i} ({mode(page)})" for i in range(3)]
    images = page.get_by_label("Images", exact=True)
    images.set_input_files(
        [
            {"name": f"study{i}.png", "mimeType": "image/png", "buffer": art_png(77 + i)}
            for i in range(3)
        ]
    )
    submit(images)
    fields = page.get_by_label("Alt text")
    expect(fields).to_have_count(3)
    for i, alt in enumerate(alts):
        fields.nth(i).fill(alt)
    page.get_by_label("Add to portfolio").check()
    submit(page.get_by_label("Caption"))
    expect(page).to_have_url(re.compile(r"/posts/\d+$"))
    for alt in alts:
        expect(page.get_by_role("img", name=alt)).to_be_visible()
    page.goto(live("/@ana"))
    expect(page.get_by_role("img", name=alts[0])).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, "no sideways scroll"


def test_moderator_confirms_a_held_post(page, live):
    from cara.core.models import Post, PostState

    # A different image per mode: once confirmed, the first would be rejected by its hash.
    name = "c2pars_firefly.png" if page.js else "c2pats_amazon-titan-g1.png"
    data = (AI_FILTER_FIXTURES / "ai" / name).read_bytes()
    post_id = publish(live, "ana", [(name, data)], caption=f"held {mode(page)}")
    with live.ctx():
        assert db.session.get(Post, post_id).state == PostState.HELD
    log_in(page, live, "moira")
    page.goto(live("/moderation"))
    reason = page.locator(f"#confirm-reason-{post_id}")
    expect(reason).to_be_visible()
    reason.fill("C2PA manifest says Adobe Firefly generated it.")
    submit(reason)
    with live.ctx():
        assert db.session.get(Post, post_id).state == PostState.REJECTED
    page.goto(live(f"/posts/{post_id}"))
    expect(page.get_by_text("C2PA", exact=False).first).to_be_visible()


def test_form_errors_are_announced(page, live):
    page.goto(live("/signup"))
    page.get_by_label("Username", exact=True).press("Enter")  # an empty form
    expect(page.get_by_role("alert").first).to_be_visible()
    for label in ("Username", "Email", "Password"):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(re.compile(r"\w"))
        described = field.get_attribute("aria-describedby").split()
        roles = [page.locator(f"#{i}").get_attribute("role") for i in described]
        assert "alert" in roles, f"{label}: its error is not announced ({described})"


def test_missing_alt_text_is_announced(page, live, draft):
    log_in(page, live, "ana")
    page.goto(live(f"/posts/{draft}/edit"))
    alt = page.get_by_label("Alt text")
    submit(alt)
    expect(alt).to_have_attribute("aria-invalid", "true")
    expect(alt).to_have_accessible_description(re.compile("Describe this image"))
    error = page.locator(f"#{alt.get_attribute('id')}-error")
    expect(error).to_have_attribute("role", "alert")


# --- social journeys: the forms of DESIGN §5 ----------------------------------------------------


def _post_form(page, action: str, what: str):
    form = page.locator(f'form[method=post][action="{action}"]')
    assert form.count() > 0, f"{what} (a form posting to {action}) is not on the page"
    return form


def test_like(page, live, artworks):
    fan = f"fan_{mode(page)}"
    post_id = artworks["art1"]
    log_in(page, live, fan)
    page.goto(live(f"/posts/{post_id}"))
    form = _post_form(page, f"/posts/{post_id}/like", "the like button")
    set_marker(page)
    in_place = page.js and form.get_attribute("data-hx-post") is not None
    form.locator("[type=submit]").first.click()
    expect(page.locator(f'form[action="/posts/{post_id}/unlike"]')).to_have_count(1)
    if in_place:
        assert marker(page) == "still here", "htmx reloaded the page"
    from cara.core.models import Like

    with live.ctx():
        assert db.session.get(Like, (live.users[fan], post_id)) is not None


def test_a_bookmark_on_a_feed_card_shows_after_a_reload(page, live, feed):
    """Feed cards come from a cache; a bookmark changes only the viewer's state on one card
    (no count), which must be true after the swap (or the 303 without JS) and a reload."""
    post_id = feed[-1]  # the newest: the first card of Latest
    log_in(page, live, f"fan_{mode(page)}")
    for action, undo in (("bookmark", "unbookmark"), ("unbookmark", "bookmark")):
        page.goto(live("/latest"))
        page.goto(live("/latest"))  # the list of cards is cached by now
        _post_form(page, f"/posts/{post_id}/{action}", action).locator("[type=submit]").click()
        expect(page.locator(f'form[action="/posts/{post_id}/{undo}"]')).to_have_count(1)
        page.goto(live("/latest"))
        expect(page.locator(f'form[action="/posts/{post_id}/{undo}"]')).to_have_count(1)
        pressed = "true" if action == "bookmark" else "false"
        expect(page.locator(f"#post-{post_id}-bookmark")).to_have_attribute("aria-pressed", pressed)


def test_follow(page, live):
    fan = f"fan_{mode(page)}"
    log_in(page, live, fan)
    page.goto(live("/@mira"))
    form = _post_form(page, "/@mira/follow", "the follow button")
    set_marker(page)
    in_place = page.js and form.get_attribute("data-hx-post") is not None
    form.locator("[type=submit]").first.click()
    expect(page.locator('form[action="/@mira/unfollow"]')).to_have_count(1)
    if in_place:
        assert marker(page) == "still here", "htmx reloaded the page"
    from cara.core.models import Follow

    with live.ctx():
        assert db.session.get(Follow, (live.users[fan], live.users["mira"])) is not None


def test_comment(page, live, artworks):
    post_id = artworks["art2"]
    log_in(page, live, f"fan_{mode(page)}")
    page.goto(live(f"/posts/{post_id}"))
    field = page.get_by_label("Comment", exact=True)
    assert field.count() > 0, "the post page has no Comment field"
    text = f"The layering works so well ({mode(page)})"
    set_marker(page)
    field.fill(text)
    submit(field)
    expect(page.get_by_text(text)).to_be_visible()
    if page.js and field.locator("xpath=ancestor::form[1]").get_attribute("data-hx-post"):
        assert marker(page) == "still here", "htmx reloaded the page"
    page.goto(live(f"/posts/{post_id}"))
    expect(page.get_by_text(text)).to_be_visible()


def test_search_finds_captions_and_people(page, live, artworks):
    assert_found(page.goto(live("/search?q=heliotrope")), "/search")
    expect(page.locator(f'main a[href="/posts/{artworks["art0"]}"]').first).to_be_visible()
    page.goto(live("/search?q=mira"))
    expect(page.locator('main a[href="/@mira"]').first).to_be_visible()


def test_moderation_is_for_moderators_only(new_context, live):
    moderator = new_context().new_page()
    log_in(moderator, live, "moira")
    response = moderator.goto(live("/moderation"))
    assert_found(response, "/moderation")
    assert response.status == 200
    for who in ("ana", None):
        page = new_context().new_page()
        if who:
            log_in(page, live, who)
        response = page.goto(live("/moderation"))
        refused = response.status in (403, 404) or not page.url.startswith(live("/moderation"))
        assert refused, f"{who or 'a visitor'} got the moderation queue"


def test_log_in_redirects_back_to_the_page_asked_for(page, live):
    page.goto(live("/settings"))
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username or email").fill("ana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page).to_have_url(live("/settings"))
