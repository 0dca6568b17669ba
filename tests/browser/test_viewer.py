"""The full-size viewer (issue 13): a page without JavaScript (largest rendition, alt text,
Previous / Next, Back), the same viewer in a <dialog> over a feed or the post page with it
(the URL follows the image, ←/→ move, Escape / Close / Back close and return focus)."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import PHONE, art_png, publish, screenshot, watch
from tests.browser.test_accessibility import _describe

DIALOG = "dialog.viewer-dialog"


@pytest.fixture(scope="module")
def triptych(live):
    """Three images of ana's (not mira's: the phone-image budget test waits for /@mira/posts)."""
    images = [(f"t{i}.png", art_png(900 + i, (1500, 1000))) for i in range(3)]
    return publish(live, "ana", images, alts=["Dawn hill", "Noon hill", "Dusk hill"])


def _focused(page) -> str:
    return page.evaluate("() => document.activeElement.dataset.viewer || ''")


def test_without_js_the_viewer_is_a_page(new_context, live, triptych):
    page = new_context(java_script_enabled=False).new_page()
    problems = watch(page)
    page.goto(live("/@ana/posts"))
    page.locator(f"#post-{triptych} .slide").first.click()
    expect(page).to_have_url(live(f"/posts/{triptych}"))  # a card leads to its post
    page.locator(f"#post-{triptych} .slide").nth(1).click()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/2"))
    expect(page.locator(DIALOG)).to_have_count(0)
    img = page.locator("main .viewer picture img")
    expect(img).to_have_attribute("alt", "Noon hill")
    expect(page.locator(".viewer figcaption")).to_have_text("Noon hill")
    # the largest rendition the screen needs: 1280 px wide at 1280 px, never a card's 640
    assert img.evaluate("i => i.naturalWidth") >= 1200
    screenshot(page, "viewer-page")
    page.get_by_role("link", name="Next image").click()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/3"))
    expect(page.get_by_role("link", name="Next image")).to_have_count(0)
    page.get_by_role("link", name="Previous image").click()
    page.get_by_role("link", name="Back to the post").click()
    expect(page).to_have_url(live(f"/posts/{triptych}"))
    assert not problems


@pytest.mark.parametrize("device", [{}, PHONE], ids=["1280", "360"])
def test_with_js_a_card_opens_the_viewer_in_a_dialog(new_context, live, triptych, device):
    page = new_context(**device).new_page()
    problems = watch(page)
    page.goto(live("/@ana/posts"))
    first = page.locator(f"#post-{triptych} .slide").first
    first.click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/1"))
    expect(dialog.locator("picture img")).to_have_attribute("alt", "Dawn hill")
    expect(dialog.get_by_role("button", name="Close the viewer")).to_be_focused()
    assert page.locator("main .card").count() > 0, "the feed stays under the dialog"
    screenshot(page, "viewer-dialog")
    page.keyboard.press("ArrowRight")
    expect(dialog.get_by_text("2 / 3")).to_be_visible()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/2"))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # the last image: stays
    expect(dialog.locator("picture img")).to_have_attribute("alt", "Dusk hill")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(live(f"/posts/{triptych}/images/2"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live("/@ana/posts"))  # moving within the post pushed nothing
    assert _focused(page) == f"/posts/{triptych}/images/1"

    # the close button, then the browser's Back
    first.click()
    dialog.get_by_role("button", name="Close the viewer").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live("/@ana/posts"))
    first.click()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/1"))
    page.go_back()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live("/@ana/posts"))
    assert _focused(page) == f"/posts/{triptych}/images/1"
    assert not problems


def test_with_js_the_post_page_opens_the_viewer_and_a_reload_shows_its_page(
    new_context, live, triptych
):
    page = new_context().new_page()
    problems = watch(page)
    page.goto(live(f"/posts/{triptych}"))
    page.get_by_role("link", name="View image 2 of 3 full size").click()
    dialog = page.locator(DIALOG)
    expect(dialog.locator("picture img")).to_have_attribute("alt", "Noon hill")
    expect(page).to_have_url(live(f"/posts/{triptych}/images/2"))
    # "Back to the post" over that post closes the dialog
    dialog.get_by_role("link", name="Back to the post").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live(f"/posts/{triptych}"))
    assert _focused(page) == f"/posts/{triptych}/images/2"

    page.get_by_role("link", name="View image 3 of 3 full size").click()
    expect(page).to_have_url(live(f"/posts/{triptych}/images/3"))
    page.reload()
    expect(page.locator(DIALOG)).to_have_count(0)
    expect(page.locator("main .viewer picture img")).to_have_attribute("alt", "Dusk hill")
    expect(page.get_by_role("link", name="Previous image")).to_be_visible()
    assert not problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dialog_passes_axe(new_context, live, triptych, axe_source, scheme):
    # CSP bypassed only to inject axe, as in test_accessibility
    page = new_context(color_scheme=scheme, bypass_csp=True).new_page()
    page.goto(live(f"/posts/{triptych}"))
    page.get_by_role("link", name="View image 2 of 3 full size").click()
    expect(page.locator(DIALOG).locator("picture img")).to_be_visible()
    expect(page.get_by_role("dialog", name="Image 2 of 3 of the post by ana")).to_be_visible()
    page.add_script_tag(content=axe_source)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, _describe(serious)
