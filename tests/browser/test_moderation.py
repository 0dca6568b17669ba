"""A moderator works a report in a real browser, JavaScript on and off: removes the reported
post, then suspends its artist from their account page (issue 12)."""

from playwright.sync_api import expect

from cara.core.extensions import db
from tests.browser.pages import art_png, log_in, publish, screenshot


def test_moderator_removes_a_reported_post_and_suspends_the_account(page, live):
    from cara.core.models import KnownHash, Post, PostState, Report, User
    from cara.social import actions
    from tests.factories import person

    name = f"spammer_{'js' if page.js else 'nojs'}"
    with live.ctx():
        spammer_id = live.users[name] = person(name).id
    post_id = publish(
        live, name, [("ad.png", art_png(len(name)))], caption="Buy followers at spam.example"
    )
    with live.ctx():
        reporter = db.session.get(User, live.users["ana"])
        assert actions.report(reporter, "post", post_id, "spam", "") == {}
        report_id = db.session.query(Report.id).filter_by(subject_id=post_id).scalar()
        known_before = db.session.query(KnownHash).count()  # other journeys confirm AI images

    log_in(page, live, "moira")
    page.goto(live("/moderation?queue=reports"))
    item = page.locator(f"#report-{report_id}")
    item.get_by_label("Remove the post").check()
    item.get_by_label("Reason").fill("Spam links in the caption")
    item.get_by_role("button", name="Close report").click()
    expect(page.get_by_text("Content removed.")).to_be_visible()
    with live.ctx():
        post = db.session.get(Post, post_id)
        assert (post.state, post.removed_reason) == (PostState.REMOVED, "Spam links in the caption")
        assert db.session.query(KnownHash).count() == known_before  # removed is not "AI"

    page.goto(live(f"/moderation/users/{name}"))
    page.get_by_label("Reason for the suspension").fill("Spam account")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_text("Account suspended.")).to_be_visible()
    expect(page.locator("#account-status")).to_contain_text("Suspended")
    screenshot(page, f"moderation-account-{'js' if page.js else 'nojs'}")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, f"moderation-account-{'js' if page.js else 'nojs'}")
    with live.ctx():
        assert db.session.get(User, spammer_id).is_suspended
    page.goto(live(f"/@{name}"))
    expect(page.locator("#suspended")).to_be_visible()
