"""Issue 13, bug 5: the moderation queue laid out without overlaps at 1366 px (evidence table,
appeal images and decision forms each in their own space) and without sideways scrolling at
360 px, where its tables wrap between words rather than letter by letter; and the artist of a
held post reads plain words, the evidence one click away."""

import pytest
from playwright.sync_api import expect

from cara.core.extensions import db
from tests.browser.pages import PHONE, art_png, broken_words, log_in, publish, screenshot
from tests.factories import generator_png

# Pairs of boxes in one review that must not overlap: [selector, selector].
OVERLAPS = """(pairs) => {
  const hits = [];
  const box = el => el.getBoundingClientRect();
  const meet = (a, b) => a.left < b.right - 1 && b.left < a.right - 1
    && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const review of document.querySelectorAll('.review')) {
    for (const [one, other] of pairs) {
      for (const a of review.querySelectorAll(one)) for (const b of review.querySelectorAll(other))
        if (meet(box(a), box(b))) hits.push(`${review.id}: ${one} overlaps ${other}`);
    }
  }
  return hits;
}"""
PAIRS = [
    [".signals", ".decide"],
    [".signals", ".appeal"],
    [".appeal-images img", ".signals"],
    [".appeal", ".decide"],
    [".review-image picture", ".signals"],
    [".review-image img", ".signals"],
]


@pytest.fixture(scope="module")
def appealed(live):
    """A held post of ana's (AUTOMATIC1111's PNG text) with an appeal and a process image."""
    from cara.core.models import Post, PostState, User
    from cara.moderation import submit_appeal
    from cara.posting import drafts

    post_id = publish(live, "ana", [("castle.png", generator_png(7))], caption="Castle, held")
    with live.ctx():
        post = db.session.get(Post, post_id)
        assert post.state == PostState.HELD
        author = db.session.get(User, live.users["ana"])
        sketch = drafts.Upload("sketch.png", art_png(31, (900, 700)))
        limits = drafts.upload_limits(live.app.config)
        message = "I painted this over three evenings; the layers and a sketch are attached. " * 3
        assert submit_appeal(post, author, message, [sketch], limits) == {}
    return post_id


@pytest.mark.parametrize("width", [1366, 360])
def test_moderation_queue_has_no_overlaps_and_fits(new_context, live, appealed, width):
    options = PHONE if width == 360 else {"viewport": {"width": 1366, "height": 900}}
    page = new_context(**options).new_page()
    log_in(page, live, "moira")
    page.goto(live("/moderation"))
    expect(page.locator(f"#review-post-{appealed} .signals")).to_be_visible()
    expect(page.locator(f"#review-post-{appealed} .appeal-images img")).to_be_visible()
    screenshot(page, "moderation-queue")
    assert page.evaluate(OVERLAPS, PAIRS) == []
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"/moderation is {scroll} px wide at {width} px"
    # Side by side, the decision forms' reasons line up even where a label takes two lines.
    boxes = page.locator(f"#decide-{appealed} textarea").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect()).map(r => [r.left, r.top])"
    )
    if width == 1366:
        assert len({left for left, _ in boxes}) == len(boxes) == 3  # three columns
        tops = [top for _, top in boxes]
        assert max(tops) - min(tops) <= 1, f"the reasons start at {tops}"
    else:
        assert len({left for left, _ in boxes}) == 1  # one column on a phone


@pytest.fixture(scope="module")
def held_elsewhere(live):
    """A post from another server whose image the filter held, kept for the moderators."""
    import io
    import tempfile
    from pathlib import Path

    from PIL import Image

    from cara.core import storage
    from cara.core.models import RemotePost
    from tests.factories import remote_actor

    with live.ctx():
        lee = remote_actor("lee_held", "far.example", name="Lee Farrow")
        signal = {
            "name": "png-text",
            "verdict": "ai",
            "score": 1.0,
            "evidence": 'PNG text chunk "parameters" (AUTOMATIC1111 generation settings)',
        }
        post = RemotePost(
            uri="https://far.example/notes/held",
            url="https://far.example/@lee/held",
            actor_id=lee.id,
            content="<p>My newest castle, fresh out of the oven</p>",
            attachments=[
                {
                    "state": "held",
                    "file": "0-held.jpg",
                    "w": 900,
                    "h": 700,
                    "name": "A castle",
                    "signals": [signal],
                }
            ],
            awaiting_review=True,
        )
        db.session.add(post)
        db.session.commit()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "0-held.jpg"
            Image.open(io.BytesIO(art_png(41, (900, 700)))).convert("RGB").save(path, "JPEG")
            storage.save_remote(post.id, path)
        return post.id


@pytest.mark.parametrize("width", [1366, 360])
def test_images_held_from_elsewhere_are_reviewed_without_overlaps(
    new_context, live, held_elsewhere, width
):
    options = PHONE if width == 360 else {"viewport": {"width": 1366, "height": 900}}
    page = new_context(**options).new_page()
    log_in(page, live, "moira")
    page.goto(live("/moderation?queue=remote"))
    review = page.locator(f"#review-remote-{held_elsewhere}")
    expect(review.get_by_role("img", name="A castle")).to_be_visible()
    assert review.locator("img").evaluate("img => img.naturalWidth") == 900
    expect(review.locator(".signals")).to_contain_text("AUTOMATIC1111")
    expect(page.get_by_role("link", name="From elsewhere (1)")).to_be_visible()
    screenshot(page, "moderation-remote")
    assert page.evaluate(OVERLAPS, PAIRS) == []
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"/moderation?queue=remote is {scroll} px wide at {width} px"
    assert broken_words(page) == []


@pytest.fixture(scope="module")
def warned(live, appealed):
    """A warning of moira's to ana, so her moderation page has a history and a log."""
    from cara import moderation
    from cara.core.models import User

    with live.ctx():
        ana, moira = (db.session.get(User, live.users[u]) for u in ("ana", "moira"))
        moderation.warn(ana, moira, "Credit the photographs you paint from (reference: Unsplash).")


@pytest.mark.parametrize(
    "path, who",
    [
        ("/moderation", "moira"),
        ("/moderation?queue=appeals", "moira"),
        ("/moderation?queue=log", "moira"),
        ("/moderation/users/ana", "moira"),
        ("/posts/{post}", "moira"),
        ("/posts/{post}/appeal", "ana"),
    ],
)
def test_moderation_pages_wrap_between_words_on_a_phone(
    new_context, live, appealed, warned, path, who
):
    page = new_context(**PHONE).new_page()
    log_in(page, live, who)
    page.goto(live(path.format(post=appealed)))
    expect(page.locator("main h1")).to_be_visible()
    assert broken_words(page) == []
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= PHONE["viewport"]["width"], f"{path} is {scroll} px wide"


def test_the_artist_reads_plain_words_with_the_evidence_a_click_away(new_context, live, appealed):
    page = new_context().new_page()
    log_in(page, live, "ana")
    page.goto(live(f"/posts/{appealed}"))
    verdict = page.locator(".verdict")
    expect(verdict.locator(".verdict-plain")).to_contain_text(
        "This image's file holds the settings of an AI image generator"
    )
    evidence = verdict.locator(".verdict-evidence .verdict-reasons")
    expect(evidence).to_be_hidden()
    verdict.get_by_text("Technical details").click()
    expect(evidence).to_be_visible()
    expect(evidence).to_contain_text("signal: png-text")
    screenshot(page, "held-post")
