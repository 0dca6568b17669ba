"""Valid HTML (issue 13, bug 9): the Nu HTML Checker (vnu, from the npm registry, on the
machine's Java) finds no error on any page, signed out and signed in, nor on the fragments
htmx swaps in, each wrapped in a document. Every GET route of the app is visited (its path
arguments filled from the seeded data), so a new page is checked without being listed here.
The pages are fetched with the browser's cookies, saved, and checked in one JVM run."""

import json
import re
import shutil
import subprocess

import pytest

from tests.browser.pages import ARTIFACTS, PASSWORD, REPO, art_png, log_in, publish
from tests.support import require_service

VNU = REPO / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# Not pages: files, feeds, JSON, downloads, and routes that act on a token in the URL.
NOT_PAGES = {
    "static",
    "media.derivative",
    "moderation.appeal_image",
    "moderation.remote_held_image",
    "moderation.export_hashes",
    "federation.remote_avatar",  # an image
    "federation.shared_file",  # an image, for other servers
    "federation.interaction",  # ActivityPub JSON
    "federation.instance_actor",  # ActivityPub JSON
}
JOB = {
    "title": "Colourist",
    "kind": "freelance",
    "remote": "1",
    "apply_url": "https://moth.example/apply",
}
WRAP = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>'
    "<body>{body}</body></html>"
)


@pytest.fixture(scope="module")
def vnu() -> list[str]:
    java = shutil.which("java")
    if not java:
        require_service(
            "Java", "apt-get install default-jre-headless (the Nu HTML Checker runs on it)"
        )
    if not VNU.exists():
        require_service("vnu-jar", f"{VNU} is missing: run `make setup` (npm ci)")
    return [java, "-Xss8m", "-jar", str(VNU)]


@pytest.fixture(scope="module")
def admin(live):
    from cara import board
    from cara.accounts import auth
    from cara.core.extensions import db
    from cara.core.models import HashSubscription, Role, utcnow

    with live.ctx():
        user, errors = auth.register("adele", "adele@example.com", PASSWORD, role=Role.ADMIN)
        assert not errors, errors
        live.users["adele"] = user.id
        job, errors = board.create(user, JOB)  # the jobs board's pages, with their owner
        assert not errors, errors
        live.posts["job"] = job.id
        # The shared hash lists page with a row of its table (and a pull's error).
        db.session.add(
            HashSubscription(
                url="https://art.example/federation/hashes",
                key_id="https://art.example/federation/hashes/key",
                public_pem="",
                pulled_at=utcnow(),
                last_pull_at=utcnow(),
                last_pull_count=53,
                error="art.example answered 503",
            )
        )
        db.session.commit()
    return "adele"


@pytest.fixture(scope="module")
def several(live):
    """A post of three images: the post page shows them as a carousel."""
    images = [(f"s{i}.png", art_png(600 + i)) for i in range(3)]
    live.posts["several"] = publish(live, "ana", images)
    return live.posts["several"]


def _args(live, rule) -> dict | None:
    """Values for a route's path arguments from the seeded data (None: not a page to visit)."""
    known = {
        "post_id": live.posts["art0"],
        "subject_id": live.posts["art0"],
        "username": "mira",
        "tag": "circles",
        "name": "about",
        "job_id": live.posts["job"],
        "token": "not-a-token",
        "appeal_id": 1,
        "n": 1,
        "domain": "remote.example",
        "actor_id": 1,
    }
    if not set(rule.arguments) <= set(known) | {"kind"}:
        return None
    return {a: known[a] for a in rule.arguments if a != "kind"}


def _pages(live) -> list[str]:
    from flask import url_for

    paths = set()
    with live.app.test_request_context():
        for rule in live.app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
                continue
            args = _args(live, rule)
            assert args is not None, f"{rule.rule}: no value for its arguments; add one to _args"
            paths.add(url_for(rule.endpoint, **args, **rule.defaults or {}))
    # Pages whose content depends on their state or query.
    paths |= {
        f"/posts/{live.posts['draft']}/edit",
        f"/posts/{live.posts['draft']}",
        "/search?q=heliotrope",
        "/no-such-page",
        f"/posts/{live.posts['several']}",  # the post page's carousel
        f"/posts/{live.posts['several']}/images/2",
        "/moderation?queue=remote",  # images held from elsewhere
    }
    return sorted(paths)


# Fragments htmx asks for: (path, HX-Target with {id} for the post's id), each wrapped.
FRAGMENTS = [
    ("/latest", "feed-more"),
    ("/@mira/posts", "feed-more"),
    ("/search?q=heliotrope", "feed-more"),
    ("/posts/{id}", "post-{id}-body"),
    ("/posts/{id}/comments", "post-{id}-comments"),
    ("/notifications", "notifications"),
    ("/posts/{id}/images/1", "viewer"),  # what static/js/viewer.js shows in its dialog
]


def _save(folder, name: str, html: str) -> None:
    (folder / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".html")).write_text(html)


def _fetch_all(new_context, live, who: str | None, folder) -> int:
    context = new_context()
    page = context.new_page()
    if who:
        log_in(page, live, who)
    saved = 0
    for path in _pages(live):
        response = context.request.get(live(path), max_redirects=0)
        if response.status in range(300, 400) or "text/html" not in response.headers.get(
            "content-type", ""
        ):
            continue  # a redirect (to a page visited anyway), or not a page
        assert response.status < 500, f"{path}: {response.status}"
        _save(folder, f"{who or 'anon'}{path}", response.text())
        saved += 1
    post_id = live.posts["art0"]
    for path, target in FRAGMENTS:
        if who is None and path == "/notifications":
            continue
        path, target = path.format(id=post_id), target.format(id=post_id)
        headers = {"HX-Request": "true", "HX-Target": target}
        body = context.request.get(live(path), headers=headers).text()
        assert "<html" not in body, f"{path} for {target}: a whole page, not a fragment"
        if body.lstrip().startswith("<li"):
            body = f"<ol>{body}</ol>"
        _save(
            folder, f"fragment-{who or 'anon'}{path}-{target}", WRAP.format(name=target, body=body)
        )
        saved += 1
    if who:  # the action row a like swaps in, then unlike (the data stays as it was)
        page.goto(live(f"/posts/{post_id}"))
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        for action in ("like", "unlike"):
            response = context.request.post(
                live(f"/posts/{post_id}/{action}"),
                form={"csrf_token": token, "next": f"/posts/{post_id}"},
                headers={"HX-Request": "true", "HX-Target": f"post-{post_id}-actions"},
            )
            assert response.ok, f"{action}: {response.status}"
            _save(
                folder, f"fragment-{who}-{action}", WRAP.format(name=action, body=response.text())
            )
            saved += 1
    return saved


def _fetch_welcome(new_context, live, folder) -> int:
    """The welcome's two steps (for an account that just signed up) and the suggestion htmx
    swaps in after a follow (unfollowed again, so the data stays as it was)."""
    context = new_context()
    page = context.new_page()
    log_in(page, live, "newt")
    for path in ("/welcome", "/welcome/artists"):
        response = context.request.get(live(path), max_redirects=0)
        assert response.status == 200, f"{path}: {response.status}"
        _save(folder, f"newt{path}", response.text())
    page.goto(live("/welcome/artists"))
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for action in ("follow", "unfollow"):
        response = context.request.post(
            live(f"/welcome/artists/mira/{action}"),
            form={"csrf_token": token},
            headers={"HX-Request": "true", "HX-Target": "suggest-mira"},
        )
        assert response.ok, f"{action}: {response.status}"
        body = f"<ul>{response.text()}</ul>"
        _save(folder, f"fragment-newt-{action}", WRAP.format(name=action, body=body))
    return 4


def _describe(m: dict) -> str:
    where = f"{m.get('url', '').rpartition('/')[2]}:{m.get('lastLine')}"
    return f"{where}: {m.get('message')} | {m.get('extract', '').strip()[:120]}"


def test_every_page_and_fragment_is_valid_html(
    vnu, new_context, live, artworks, feed, draft, admin, several
):
    folder = ARTIFACTS / "html"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counts = {who: _fetch_all(new_context, live, who, folder) for who in (None, "ana", admin)}
    assert all(n > 20 for n in counts.values()), counts
    assert _fetch_welcome(new_context, live, folder) == 4
    run = subprocess.run(
        [*vnu, "--errors-only", "--format", "json", "--exit-zero-always", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(run.stderr or run.stdout)["messages"]
    errors = [_describe(m) for m in messages if m.get("type") == "error"]
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)
