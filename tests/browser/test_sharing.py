"""Issue 13: "Copy link" on a post works without JavaScript (a read-only field holding the
post's absolute URL) and, with it, copies the URL to the clipboard."""

from playwright.sync_api import expect

from tests.browser.pages import screenshot


def test_copy_link(page, live, artworks):
    post_id = artworks["art0"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.goto(live(f"/posts/{post_id}"))
    field = page.get_by_label("Link to this post")
    base = live.app.config["BASE_URL"].rstrip("/")  # from config, never the Host header
    expect(field).to_have_value(f"{base}/posts/{post_id}")
    expect(field).to_have_attribute("readonly", "")
    button = page.get_by_role("button", name="Copy link")
    if not page.js:
        expect(button).to_be_hidden()  # nothing that needs JS is offered without it
        return
    button.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == f"{base}/posts/{post_id}"
    screenshot(page, "post-copied")
