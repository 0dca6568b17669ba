"""The admin's journey of issue 11 in a real browser, JavaScript on and off: close sign-ups,
invite someone in invite-only mode, edit the rules page (and nothing injected survives)."""

import re

import pytest
from playwright.sync_api import expect

from cara.core import settings
from cara.core.extensions import db
from cara.core.models import Role, User
from tests.browser.pages import PASSWORD, PHONE, log_in, open_menu, screenshot

RULES = """# House rules

Be **kind**.

<script>document.title = 'owned'</script>
<a hx-get="/logout" hx-trigger="load" href="/">click</a>
"""


@pytest.fixture
def boss(page, live):
    """An admin for this mode; the site's settings are put back after the test."""
    from cara.accounts import auth

    name = f"boss_{'js' if page.js else 'nojs'}"
    with live.ctx():
        auth.register(name, f"{name}@example.com", PASSWORD, role=Role.ADMIN)
    yield name
    with live.ctx():
        settings.save({"registration": None, "page_rules": None})
        db.session.commit()


def save_registration(page, live, mode: str) -> None:
    page.goto(live("/admin/"))
    page.get_by_label("Registration").select_option(mode)
    page.get_by_role("button", name="Save site settings").click()
    expect(page.get_by_role("status").filter(has_text="Site settings saved")).to_be_visible()


def test_admin_closes_sign_up_invites_someone_and_edits_the_rules(page, live, boss, new_context):
    mode = "js" if page.js else "nojs"
    log_in(page, live, boss)
    open_menu(page).get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    save_registration(page, live, "closed")
    screenshot(page, f"admin-{mode}")

    visitor = new_context(java_script_enabled=page.js).new_page()
    visitor.goto(live("/signup"))
    expect(visitor.get_by_text("Sign-ups are closed")).to_be_visible()
    expect(visitor.get_by_label("Password", exact=True)).to_have_count(0)
    visitor.goto(live("/login"))  # a CSRF token of this visitor's session, for a forged POST
    token = visitor.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"csrf_token": token, "username": f"sneaky_{mode}", "password": "a long passphrase"}
    forged = visitor.request.post(live("/signup"), form={**form, "email": "s@example.com"})
    assert forged.status == 403

    save_registration(page, live, "invite")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Invites").click()
    page.get_by_label("Number of sign-ups").fill("1")
    page.get_by_role("button", name="Create invite link").click()
    link = page.get_by_role("textbox", name="Invite link").input_value()
    # Absolute URLs come from BASE_URL, not from the Host the browser sent.
    assert re.fullmatch(r"http://cara\.test/signup\?invite=[\w-]+", link), link
    link = live(link.removeprefix("http://cara.test"))

    newcomer = f"invitee_{mode}"
    visitor.goto(link)
    visitor.get_by_label("Username", exact=True).fill(newcomer)
    visitor.get_by_label("Email", exact=True).fill(f"{newcomer}@example.com")
    visitor.get_by_label("Password", exact=True).fill("a long unusual passphrase")
    visitor.get_by_role("button", name="Sign up").click()
    expect(visitor.get_by_role("status").filter(has_text="Check your inbox")).to_be_visible()
    with live.ctx():
        assert db.session.query(User).filter_by(username=newcomer).one().approved
    visitor.goto(link)  # one use only
    expect(visitor.get_by_text("expired, been used up")).to_be_visible()

    page.goto(live("/admin/"))
    page.get_by_role("link", name="Edit Rules").click()
    page.get_by_label("Text (Markdown)").fill(RULES)
    page.get_by_role("button", name="Save Rules").click()
    expect(page.get_by_role("status").filter(has_text="Rules saved")).to_be_visible()
    visitor.goto(live("/"))
    visitor.get_by_role("navigation", name="Site pages").get_by_role("link", name="Rules").click()
    main = visitor.get_by_role("main")
    expect(main.get_by_role("heading", name="House rules")).to_be_visible()
    expect(main.locator("strong")).to_have_text("kind")
    expect(main.locator("script, [hx-get], [data-hx-get], [hx-trigger]")).to_have_count(0)
    expect(main).to_contain_text("<script>")  # shown as text, harmless
    assert visitor.title() != "owned"
    assert visitor.url == live("/rules")
    screenshot(visitor, f"rules-{mode}")


def test_admin_pages_fit_a_phone(live, boss, new_context, page):
    from cara.core.extensions import db
    from cara.federation import instances
    from tests.factories import remote_actor

    with live.ctx():  # a row in the servers table, with its hidden button label
        remote_actor(f"lee_{page.js}", "far-away-server.example")
        db.session.commit()
        instances.block("blocked-for-a-long-reason.example", "Spam and AI images " * 5)
    phone = new_context(**PHONE, java_script_enabled=page.js).new_page()
    log_in(phone, live, boss)
    for path in ("/admin/", "/admin/invites", "/admin/accounts", "/admin/federation"):
        phone.goto(live(path))
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide on a 360px phone"
        screenshot(phone, "admin" + path.rstrip("/").replace("/", "-"))


def test_shared_hash_lists_fit_a_phone_and_pull_now_reports_its_outcome(
    live, boss, new_context, page
):
    from cara.core.models import HashSubscription

    url = "https://127.0.0.1:9/federation/hashes"  # a list this site may not fetch
    with live.ctx():
        settings.save({"federation": True})
        sub = HashSubscription(url=url, key_id=url + "/key", public_pem="", trusted=True)
        db.session.add(sub)
        db.session.commit()
    try:
        phone = new_context(**PHONE, java_script_enabled=page.js).new_page()
        log_in(phone, live, boss)
        phone.goto(live("/admin/hash-lists"))
        expect(phone.get_by_text("Not yet")).to_be_visible()
        phone.get_by_role("button", name=f"Pull now from {url}").click()
        expect(phone.get_by_role("alert")).to_contain_text(
            f"Pulling {url} failed: refused 127.0.0.1: it resolves to a non-public address"
        )
        expect(phone.get_by_text("Error: refused 127.0.0.1")).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"/admin/hash-lists is {width}px wide on a 360px phone"
        screenshot(phone, "admin-hash-lists")
    finally:
        with live.ctx():
            db.session.execute(db.delete(HashSubscription))
            settings.save({"federation": None})
            db.session.commit()
