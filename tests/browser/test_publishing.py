"""Issue 13, bug 1: a post whose images are processed in the background shows them once ready,
on the describe page and on the post page; with JavaScript by polling (htmx), without it after
"Refresh". Jobs wait in HeldJobs until the test lets each one run, in a thread of its own as a
worker would, so the pages are seen while the images are still being processed."""

import io
import re
import threading

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from cara.core.extensions import db
from tests.browser.pages import log_in
from tests.browser.test_journeys import mode, submit


class HeldJobs:
    """A job runner whose jobs wait for `release()`. Low-priority follow-ups (AVIF) are
    dropped: the pages do not wait for them."""

    def __init__(self, app):
        self.app = app
        self.waiting: list = []
        self.threads: list[threading.Thread] = []

    def enqueue(self, func, args, delay, low):
        if not (delay or low):
            self.waiting.append((func, args))

    def release(self) -> None:
        func, args = self.waiting.pop(0)
        thread = threading.Thread(target=self._run, args=(func, args), name="held-job")
        thread.start()
        self.threads.append(thread)

    def _run(self, func, args):
        with self.app.app_context():
            try:
                func(*args)
            finally:
                db.session.remove()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)


@pytest.fixture
def held(live, monkeypatch):
    runner = HeldJobs(live.app)
    monkeypatch.setitem(live.app.extensions, "cara.runner", runner)
    yield runner
    runner.join()


def big_jpeg(seed: int) -> bytes:
    """A 3000 × 2000 photo-sized JPEG, as a camera or a painting app exports it."""
    img = Image.new("RGB", (3000, 2000), (40 + seed * 90, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        x = (i * 331 + seed * 97) % 3000
        draw.ellipse([x - 200, 300 + i * 110, x + 200, 700 + i * 110], fill=(200, 30 * i % 255, 80))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def until(page, check, what: str) -> None:
    """With JS, wait for the page to update itself; without, press Refresh until it has."""
    if page.js:
        expect(check()).to_be_visible(timeout=60_000)
        return
    for _ in range(60):
        if check().count():
            return
        page.get_by_role("link", name="Refresh").click()
        page.wait_for_timeout(500)
    raise AssertionError(f"{what} never appeared")


def test_a_new_post_shows_its_images_once_processed(page, live, held):
    log_in(page, live, "ana")
    page.goto(live("/posts/new"))
    images = page.get_by_label("Images", exact=True)
    images.set_input_files(
        [{"name": f"big{i}.jpg", "mimeType": "image/jpeg", "buffer": big_jpeg(i)} for i in range(2)]
    )
    submit(images)
    expect(page.locator(".processing")).to_contain_text("being processed (0 of 2 ready)")
    expect(page.get_by_text("big0.jpg (pending)")).to_be_visible()
    alts = [f"Big study {i} ({mode(page)})" for i in range(2)]
    fields = page.get_by_label("Alt text")
    fields.nth(0).fill(alts[0])

    # The first image is processed: its thumbnail replaces "(pending)", the second still waits.
    held.release()
    thumbs = page.locator(".describe-image picture img")
    until(page, lambda: thumbs.first, "the first thumbnail")
    expect(page.get_by_text("big1.jpg (pending)")).to_be_visible()
    expect(page.locator(".processing")).to_contain_text("1 of 2 ready")
    if page.js:  # swapped in place: what the artist typed is still there
        expect(fields.nth(0)).to_have_value(alts[0])
    for i, alt in enumerate(alts):
        fields.nth(i).fill(alt)
    page.get_by_label("Add to portfolio").check()
    submit(page.get_by_label("Caption"))

    # Published while the second image is still processing: the post page waits for it.
    expect(page).to_have_url(re.compile(r"/posts/\d+$"))
    expect(page.locator(".processing")).to_contain_text("being processed")
    held.release()
    until(page, lambda: page.get_by_role("img", name=alts[1]), "the second image")
    expect(page.get_by_role("img", name=alts[0])).to_be_visible()
    expect(page.locator(".processing")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Like"))).to_be_visible()
    if page.js:  # one last look once the post is settled, then the poll stops
        polls = []
        page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)
        page.wait_for_timeout(5000)
        assert all(url.endswith("?settled=1") for url in polls) and len(polls) <= 1, polls
        expect(page.get_by_role("img", name=alts[1])).to_be_visible()
