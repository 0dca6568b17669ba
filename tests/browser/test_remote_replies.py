"""Replies from other servers moderated in a real browser, JavaScript on and off, at 360 and
1366 px: the post's artist deletes one, a moderator removes another with a reason, and a
viewer's Report link opens the report form (issue 15)."""

from playwright.sync_api import expect

from cara.core.extensions import db
from tests.browser.pages import art_png, log_in, publish, screenshot


def _seed(live, post_id: int, mode: str) -> list[int]:
    from cara.core.models import Post, RemoteActor, RemoteComment

    with live.ctx():
        actor = RemoteActor(
            uri=f"https://127.0.0.1:9/users/bob-{mode}",
            username=f"bob_{mode}",
            domain="127.0.0.1:9",
            name="Bob Elsewhere",
            inbox="https://127.0.0.1:9/inbox",
            key_id=f"https://127.0.0.1:9/users/bob-{mode}#main-key",
            public_pem="",
        )
        db.session.add(actor)
        db.session.flush()
        rows = [
            RemoteComment(
                uri=f"https://127.0.0.1:9/notes/{mode}-{n}",
                post_id=post_id,
                actor_id=actor.id,
                content=f"<p>{text}</p>",
            )
            for n, text in enumerate(("Buy followers now", "Hateful words", "Lovely light"))
        ]
        db.session.add_all(rows)
        db.session.get(Post, post_id).comment_count = 3
        db.session.commit()
        return [r.id for r in rows]


def test_remote_replies_are_deleted_removed_and_reported(page, live, new_context):
    from cara.core.models import AuditEntry, RemoteComment

    mode = "js" if page.js else "nojs"
    post_id = publish(live, "mira", [("harbour.png", art_png(91 + page.js))], caption="Harbour")
    spam, hate, kind = _seed(live, post_id, mode)

    log_in(page, live, "mira")
    for width in (360, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live(f"/posts/{post_id}"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"remote-replies-artist-{mode}")
    reply = page.locator(f"#remote-comment-{spam}")
    reply.get_by_role("button", name="Delete reply by Bob Elsewhere").click()
    expect(page.get_by_text("Buy followers now")).to_have_count(0)
    expect(page.locator("#comments")).to_have_text("Comments (2)")

    moderator = new_context(java_script_enabled=page.js).new_page()
    log_in(moderator, live, "moira")
    moderator.set_viewport_size({"width": 360, "height": 900})
    moderator.goto(live(f"/posts/{post_id}"))
    reply = moderator.locator(f"#remote-comment-{hate}")
    reply.locator("summary", has_text="Remove").click()
    reply.get_by_label("Reason (kept in the moderation log)").fill("Hate speech")
    screenshot(moderator, f"remote-replies-moderator-{mode}")
    reply.get_by_role("button", name="Remove reply").click()
    expect(moderator.get_by_text("Hateful words")).to_have_count(0)
    expect(moderator.get_by_text("Lovely light")).to_be_visible()

    moderator.locator(f"#remote-comment-{kind}").get_by_role("link", name="Report").click()
    expect(
        moderator.get_by_role("heading", name=f"Report the reply by @bob_{mode}@")
    ).to_be_visible()
    with live.ctx():
        assert db.session.get(RemoteComment, spam).removed_by == "artist"
        entry = db.session.query(AuditEntry).filter_by(subject_kind="remote_comment").one()
        assert (entry.action, entry.subject_id, entry.reason) == (
            "remove-remote-comment",
            hate,
            "Hate speech",
        )
        db.session.delete(entry)  # the other mode's run counts its own
        db.session.commit()


def test_a_thread_from_elsewhere_is_indented_and_fits_a_phone(new_context, live):
    """Four replies each answering the one before: indented step by step up to the third, each
    saying whom it answers, inside 360 px (JS off: the page as served)."""
    from cara.core.models import Post, RemoteComment
    from tests.factories import remote_actor

    post_id = publish(live, "mira", [("t.png", art_png(95))], caption="Thread")
    with live.ctx():
        people = [remote_actor(f"p{n}", "far.example", name=f"Person {n}") for n in range(4)]
        parent = None
        ids = []
        for n, who in enumerate(people):
            row = RemoteComment(
                uri=f"https://far.example/notes/t{n}",
                post_id=post_id,
                actor_id=who.id,
                parent_id=parent,
                content=f"<p>Answer number {n} in a longer thread of replies</p>",
            )
            db.session.add(row)
            db.session.flush()
            parent = row.id
            ids.append(row.id)
        db.session.get(Post, post_id).comment_count = 4
        db.session.commit()
    page = new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False).new_page()
    page.goto(live(f"/posts/{post_id}"))
    lefts = [page.locator(f"#remote-comment-{i}").bounding_box()["x"] for i in ids]
    assert lefts[0] < lefts[1] < lefts[2] < lefts[3]
    expect(page.locator(f"#remote-comment-{ids[3]} .replying-to")).to_have_text(
        "Replying to Person 2"
    )
    screenshot(page, "remote-thread")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
