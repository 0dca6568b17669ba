"""Low bandwidth, measured by the browser itself (Resource Timing): the page weight budget, the
image a phone picks, the data saver, and the mobile layout (with screenshots as artifacts)."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import DESKTOP, PAGES, PHONE, log_in, open_page, screenshot

KB = 1024
PAGE_BUDGET = 30 * KB  # HTML + CSS + JS of the home page's first load, as sent (compressed)
MAX_REQUESTS = 10  # ... in at most this many requests
IMAGE_BUDGET = {"avif": 40 * KB, "webp": 60 * KB}

# Everything the page loaded, with the bytes as they came over the wire (before decompression).
ENTRIES = """() => [...performance.getEntriesByType('navigation'),
                    ...performance.getEntriesByType('resource')]
  .map(e => ({url: e.name, type: e.initiatorType, encoded: e.encodedBodySize,
              decoded: e.decodedBodySize}))"""

CARD_IMAGES = """() => [...document.querySelectorAll('main [id^="post-"] picture img')]
  .map(img => ({src: img.currentSrc, complete: img.complete,
                bytes: (performance.getEntriesByName(img.currentSrc)[0] || {}).encodedBodySize,
                candidates: [...img.parentElement.querySelectorAll('source')]
                  .map(s => s.srcset.split(',').length)}))"""


def _fmt(url: str) -> str:
    return url.rsplit(".", 1)[-1].split("?")[0]


def test_home_first_load_is_within_budget(new_context, live, feed):
    page = new_context(**PHONE).new_page()
    encodings = {}
    page.on("response", lambda r: encodings.setdefault(r.url, r.headers.get("content-encoding")))
    page.goto(live("/"))
    page.wait_for_load_state("load")
    entries = [e for e in page.evaluate(ENTRIES) if e["type"] not in ("img", "image")]
    total = sum(e["encoded"] for e in entries)
    table = "\n".join(
        f"{e['encoded']:>8} {e['decoded']:>8}  {e['type']:<10} {e['url']}" for e in entries
    )
    print(f"home, first load: {total} bytes in {len(entries)} requests\n{table}")
    assert {e["type"] for e in entries} >= {"navigation", "link"}, table
    for e in entries:
        assert encodings.get(e["url"]) in ("br", "gzip"), f"sent uncompressed: {e['url']}"
    assert total <= PAGE_BUDGET, f"{total} bytes > {PAGE_BUDGET}:\n{table}"
    assert len(entries) <= MAX_REQUESTS, table


def test_the_card_image_a_phone_picks_is_within_budget(new_context, live, artworks):
    page = new_context(**PHONE).new_page()
    page.goto(live("/@mira/posts"))
    cards = page.locator('main [id^="post-"] picture img')
    assert cards.count() >= 4
    for i in range(cards.count()):  # bring lazy images into view
        cards.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('main picture img')].every(i => i.complete)"
    )
    for img in page.evaluate(CARD_IMAGES):
        fmt = _fmt(img["src"])
        print(f"{img['bytes']:>8} {fmt:<5} {img['src']}")
        assert fmt in IMAGE_BUDGET, f"a phone got {fmt}, not AVIF or WebP: {img['src']}"
        assert 0 < img["bytes"] <= IMAGE_BUDGET[fmt], img


@pytest.mark.parametrize("how", ["header", "setting"])
def test_data_saver_offers_small_images_and_full_size_on_request(new_context, live, artworks, how):
    headers = {"Save-Data": "on"} if how == "header" else {}
    page = new_context(**PHONE, extra_http_headers=headers).new_page()
    if how == "setting":
        log_in(page, live, "saver")
    page.goto(live("/@mira/posts"))
    cards = page.evaluate(CARD_IMAGES)
    assert cards and all(c["candidates"] and set(c["candidates"]) == {1} for c in cards), cards

    page.goto(live(f"/posts/{artworks['art0']}"))
    full = page.get_by_role("link", name="Load full size").first
    expect(full).to_be_visible()
    shown = page.evaluate("() => document.querySelector('main picture img').currentSrc")
    response = page.request.get(live(full.get_attribute("href")))
    assert response.ok and response.headers["content-type"].startswith("image/")
    assert len(response.body()) > 2 * len(page.request.get(shown).body())


def test_no_data_saver_means_no_full_size_link(new_context, live, artworks):
    page = new_context(**PHONE).new_page()
    page.goto(live(f"/posts/{artworks['art0']}"))
    expect(page.locator("main picture img").first).to_be_visible()
    expect(page.get_by_role("link", name="Load full size")).to_have_count(0)


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["360", "1280"])
def test_key_pages_fit_the_screen(new_context, live, artworks, feed, draft, device):
    """No sideways scrolling at 360 px; screenshots of every key page for review."""
    contexts = {}
    checked = []
    for name, path, who, status in PAGES:
        if who not in contexts:
            contexts[who] = new_context(**device).new_page()
            if who:
                log_in(contexts[who], live, who)
        page = contexts[who]
        open_page(page, live, path, status)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= device["viewport"]["width"], f"{name}: {width} px wide"
        screenshot(page, name)
        checked.append(name)
    assert {"home", "post", "profile", "login"} <= set(checked)
