"""Leaving with your data in a browser without JavaScript: ask for an export, come back when
it is ready, download the zip, and find the original exactly as it was uploaded (issue 12)."""

import hashlib
import io
import json
import zipfile

from playwright.sync_api import expect

from cara.accounts import auth
from cara.core.extensions import db
from tests.browser.pages import PASSWORD, art_png, log_in, publish, screenshot


def test_download_originals_without_javascript(new_context, live):
    with live.ctx():
        user, errors = auth.register("leaver", "leaver@example.com", PASSWORD)
        assert not errors, errors
        live.users["leaver"] = user.id
        db.session.commit()
    original = art_png(777, (640, 480))
    publish(live, "leaver", [("harbour.png", original)], caption="Harbour at dusk")

    for width in (360, 1366):
        context = new_context(
            java_script_enabled=False,
            accept_downloads=True,
            viewport={"width": width, "height": 800},
        )
        page = context.new_page()
        log_in(page, live, "leaver")
        page.goto(live("/settings"))
        page.get_by_role("link", name="Export your data").click()
        if width == 360:
            page.get_by_role("button", name="Ask for an export").click()
        # Jobs run inline here; in production the page says "being prepared" until a reload.
        page.reload()
        link = page.get_by_role("link", name="Download your archive")
        expect(link).to_be_visible()
        screenshot(page, "export-ready")
        with page.expect_download() as info:
            link.click()
        archive = zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes()))
        (post,) = json.loads(archive.read("posts.json"))
        (image,) = post["images"]
        assert image["alt_text"] == "Picture 1 by leaver"
        digest = hashlib.sha256(archive.read(image["file"])).hexdigest()
        assert digest == hashlib.sha256(original).hexdigest()
        context.close()
