"""The welcome after sign-up in a real browser, JavaScript on and off: log in, set up the
profile, follow a suggested artist (htmx swaps the card in place), Done, the Following feed;
the welcome is not shown again."""

from playwright.sync_api import expect

from tests.browser.pages import log_in


def test_welcome_set_up_follow_done(page, live, artworks):
    who = f"newt_{'js' if page.js else 'nojs'}"
    log_in(page, live, who)
    assert page.url == live("/welcome"), page.url
    page.get_by_label("Display name").fill("Newt Ink")
    page.get_by_label("Bio").fill("Inks and washes.")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(live("/welcome/artists"))
    card = page.locator("#suggest-mira")
    expect(card.locator("img.suggestion-cover")).to_have_count(1)  # her newest work
    page.evaluate("() => { window.caraMarker = 'still here'; }")
    card.get_by_role("button", name="Follow @mira").click()
    expect(page.locator("#suggest-mira").get_by_role("button", name="Following")).to_be_visible()
    if page.js:
        assert page.evaluate("() => window.caraMarker") == "still here", "htmx reloaded"
    else:
        assert page.url.endswith("/welcome/artists#suggest-mira"), page.url
    page.get_by_role("button", name="Done").click()
    expect(page).to_have_url(live("/following"))
    expect(page.locator("main").get_by_text("Mira Okafor").first).to_be_visible()
    page.goto(live("/welcome"))
    assert page.url == live("/"), "the welcome came back"
