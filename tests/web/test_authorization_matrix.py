"""The authorization matrix: every rule of `app.url_map` x every role x every subject state.

One world is built per module (an own SQLite file): for each state a post (with an image, a
comment, a report), a job and an account, and one signed-in browser per role. Each request of
tests/web/authorization_table.py is sent as each role for each state and its answer compared
with the table; a write that succeeded is undone by restoring the world's database and media
files, so every cell starts from the same world. The figures are printed at the end of the run
(tests/conftest.py, pytest_terminal_summary).
"""

import contextlib
import os
import shutil
import sqlite3
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from flask_migrate import upgrade
from werkzeug.routing import MapAdapter

from cara import create_app, moderation
from cara.accounts import lifecycle, sessions
from cara.core import storage
from cara.core.extensions import db
from cara.core.models import (
    Appeal,
    Block,
    Comment,
    Export,
    ExportState,
    Follow,
    HashSubscription,
    Invite,
    Job,
    MediaState,
    Notification,
    Post,
    PostState,
    RemoteComment,
    RemoteFollow,
    RemoteInteraction,
    RemotePost,
    Report,
    Role,
    User,
    UserSession,
    utcnow,
)
from cara.federation import media
from cara.posting import drafts
from tests import factories
from tests.support import MATRIX_FIGURES
from tests.web import authorization_table as table

# The account whose subject is in each state.
AUTHOR_OF = {
    "private": "priv",
    "deleted": "gone",
    "suspended": "banned",
}
POST_STATES = {
    "draft": PostState.DRAFT,
    "processing": PostState.PENDING,
    "held": PostState.HELD,
    "rejected": PostState.REJECTED,
    "removed": PostState.REMOVED,
}
VIEWERS = {"mem": "mem", "fol": "fol", "pend": "pend", "blkd": "blkd", "mod": "mod", "adm": "adm"}


def author(state: str) -> str:
    return AUTHOR_OF.get(state, "artist")


def marker(state: str, word: str = "mark") -> str:
    """A word only the subject of `state` carries: its caption and job title have mark<state>,
    its comment note<state>, its tag matrix<state>."""
    return f"{word}{state}"


class World:
    """The rows of each state and the session cookie of each account."""

    def __init__(self, app, root):
        self.app, self.root = app, root
        self.users: dict[str, User] = {}
        self.ids: dict[tuple[str, str], object] = {}  # (subject, state) -> URL arguments
        self.cookies: dict[str, str] = {}
        self.db_file = root / "matrix.sqlite"
        self.media = root / "media"

    def snapshot(self):
        db.session.remove()
        self.saved = sqlite3.connect(":memory:")
        with contextlib.closing(db.engine.raw_connection()) as raw:
            raw.driver_connection.backup(self.saved)
        shutil.copytree(self.media, self.root / "saved-media")
        self.files = _files(self.media)

    def restore(self):
        """The world as built: the database copied back (SQLite's backup API, through the
        app's own pool) and the media files, when some changed."""
        db.session.remove()
        with contextlib.closing(db.engine.raw_connection()) as raw:
            self.saved.backup(raw.driver_connection)
        if _files(self.media) != self.files:
            shutil.rmtree(self.media)
            shutil.copytree(self.root / "saved-media", self.media)

    def client(self, role: str, state: str):
        client = self.app.test_client()
        name = author(state) if role == "own" else VIEWERS.get(role, "susp")
        if role != "anon" and name in self.cookies:
            client.set_cookie("session", self.cookies[name])
        return client


def _files(folder) -> dict:
    return {
        os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
        for d, _, names in os.walk(folder)
        for f in names
    }


def _derivatives(media, public: bool) -> None:
    """Files for the fake renditions, as processing would name and mark them."""
    original = storage.original_path(media.original_path)
    original.parent.mkdir(parents=True, exist_ok=True)
    original.write_bytes(factories.image_bytes(size=(64, 48), color=(media.id * 20 % 255, 80, 40)))
    folder = storage.derivative_dir(media.id)
    folder.mkdir(parents=True, exist_ok=True)
    renditions = []
    for r in media.renditions:
        # Small files: confirming AI computes hashes and local features of the largest one.
        r = {**r, "w": r["w"] // 10, "h": r["h"] // 10}
        fmt = "JPEG" if r["fmt"] == "jpeg" else r["fmt"].upper()
        (folder / r["name"]).write_bytes(factories.image_bytes(fmt, size=(r["w"], r["h"])))
        renditions.append({**r, "pub": True} if public else r)
    media.renditions = renditions


def _remote(world: World) -> None:
    """A remote actor (on a loopback address: deliveries to it are refused, nothing leaves
    the machine) with a public and a followers-only post, followed by fol (pend waits), and a
    remote follow request to each account."""
    users = world.users
    actor = factories.remote_actor("painter", "127.0.0.1:9")
    for name, pending in (("fol", False), ("pend", True)):
        uri = f"https://cara.test/follows/{name}"
        db.session.add(
            RemoteFollow(
                user_id=users[name].id,
                actor_id=actor.id,
                inbound=False,
                activity_uri=uri,
                pending=pending,
            )
        )
    for state in table.SUBJECT_STATES["remote"]:
        post = RemotePost(
            uri=f"https://127.0.0.1:9/notes/{state}",
            actor_id=actor.id,
            content=f"<p>Remote {marker(state, 'far')}</p>",
            public=state == "public",
            attachments=[
                {"state": media.SHOWN, "file": "0.jpg", "name": "A remote study"},
                {"state": media.HELD, "file": "1.jpg", "signals": []},  # for the moderators
            ],
            awaiting_review=True,
        )
        db.session.add(post)
        db.session.flush()
        for name in ("0.jpg", "1.jpg"):
            path = world.root / f"remote-{state}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(factories.image_bytes(size=(32, 24)))
            storage.save_remote(post.id, path)
        reply = RemoteInteraction(  # a reply sent to it by the artist
            user_id=users[author(state)].id, remote_post_id=post.id, kind="reply", content="Hi"
        )
        db.session.add(reply)
        db.session.flush()
        world.ids[("remote", state)] = {
            "post_id": post.id,
            "name": "0.jpg",
            "actor_id": actor.id,
            "interaction_id": reply.id,
        }
    for state in table.STATES:  # a public reply from elsewhere on each local post
        reply = RemoteComment(
            uri=f"https://127.0.0.1:9/notes/reply-{state}",
            post_id=world.ids[("post", state)]["post_id"],
            actor_id=actor.id,
            content=f"<p>Far reply {state}</p>",
            removed_at=utcnow() if state == "removed" else None,  # removed by a moderator
        )
        db.session.add(reply)
        db.session.flush()
        world.ids[("remote_comment", state)] = {"comment_id": reply.id, "subject_id": reply.id}
    for state in table.ACCOUNT_STATES:
        user = users[author(state)]
        follow = RemoteFollow(
            user_id=user.id,
            actor_id=actor.id,
            inbound=True,
            activity_uri=f"https://127.0.0.1:9/follows/{user.username}",
            pending=True,
        )
        db.session.add(follow)
        db.session.flush()
        world.ids[("user", state)]["follow_id"] = follow.id


def build(app, root) -> World:
    world = World(app, root)
    person = factories.person
    users = world.users
    for name in ("artist", "priv", "gone", "banned", "mem", "fol", "pend", "blkd", "com"):
        users[name] = person(name)
    users["priv"].is_private = True
    users["mod"] = person("mod", role=Role.MODERATOR)
    users["adm"] = person("adm", role=Role.ADMIN)
    users["susp"] = person("susp")
    users["waiting"] = person("waiting", approved=False)
    authors = [users[n] for n in ("artist", "priv", "gone", "banned")]
    for a in authors:
        db.session.add(Follow(follower_id=users["fol"].id, followee_id=a.id))
        db.session.add(Follow(follower_id=users["pend"].id, followee_id=a.id, pending=True))
        db.session.add(Block(blocker_id=a.id, blocked_id=users["blkd"].id))
    db.session.commit()

    for state in table.STATES:
        post = factories.make_post(
            users[author(state)],
            f"A study {marker(state)}",
            tags=["matrix", f"matrix{state}"],
            visibility="followers" if state == "followers" else "public",
            state=POST_STATES.get(state, PostState.PUBLISHED),
        )
        post.in_portfolio = state != "draft"
        post.media[0].alt_text = f"Art {marker(state, 'alt')}"
        if state in ("removed", "deleted", "suspended"):  # they were published
            post.published_at = utcnow() - timedelta(minutes=30)
        if state == "processing":
            post.media[0].state = MediaState.PROCESSING
        _derivatives(post.media[0], public=state == "public")
        comment = Comment(post_id=post.id, author_id=users["com"].id, body=f"Nice note{state}")
        if state == "removed":
            comment.removed_at = utcnow()
        db.session.add(comment)
        db.session.flush()
        media = post.media[0]
        report = Report(
            reporter_id=users["mem"].id, subject_kind="post", subject_id=post.id, reason="spam"
        )
        db.session.add(report)
        db.session.flush()
        # Every viewer was told about a reply on this post (M3: what they may see of it now).
        for name in (*VIEWERS, "artist", "priv", "gone", "banned"):
            db.session.add(
                Notification(
                    user_id=users[name].id,
                    actor_id=users["com"].id,
                    kind="reply",
                    post_id=post.id,
                    comment_id=comment.id,
                )
            )
        world.ids[("post", state)] = {
            "post_id": post.id,
            "subject_id": post.id,
            "media_id": media.id,
            "username": users[author(state)].username,
        }
        world.ids[("media", state)] = {"media_id": media.id, "name": media.renditions[0]["name"]}
        world.ids[("comment", state)] = {"comment_id": comment.id, "subject_id": comment.id}
        world.ids[("report", state)] = {"report_id": report.id}
    db.session.commit()

    for state in table.SUBJECT_STATES["job"]:
        job = Job(
            owner_id=users[author(state)].id,
            title=f"Colourist {marker(state)}",
            kind="freelance",
            remote=True,
            apply_url="https://studio.example/apply",
        )
        if state == "removed":
            job.removed_at = utcnow()
        db.session.add(job)
        db.session.flush()
        world.ids[("job", state)] = {"job_id": job.id, "subject_id": job.id}
    for state in table.ACCOUNT_STATES:
        user = users[author(state)]
        row = Export(
            user_id=user.id,
            state=ExportState.READY,
            filename=f"matrix-{user.username}.zip",
            expires_at=utcnow() + timedelta(days=1),
        )
        db.session.add(row)
        db.session.flush()
        path = storage.export_path(row.filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK matrix")
        other = sessions.start(user, user_agent="Another browser")
        session_row = db.session.scalar(
            db.select(UserSession).where(UserSession.token_hash == sessions.token_hash(other))
        )
        world.ids[("user", state)] = {"username": user.username}
        world.ids[("export", state)] = {"token": lifecycle.download_token(row)}
        world.ids[("session", state)] = {"session_id": session_row.id}
    _remote(world)
    invite = Invite(code="matrix-invite", expires_at=utcnow() + timedelta(days=1))
    subscription = HashSubscription(
        url="http://127.0.0.1:9/federation/hashes", key_id="", public_pem="", trusted=False
    )
    db.session.add_all([invite, subscription])
    db.session.commit()
    held = db.session.get(Post, world.ids[("post", "held")]["post_id"])
    sketch = drafts.Upload("sketch.png", factories.image_bytes(size=(64, 48)))
    limits = drafts.upload_limits(app.config)
    assert not moderation.submit_appeal(held, users["artist"], "My sketch.", [sketch], limits)
    appeal = db.session.scalar(db.select(Appeal))
    world.ids[("site", "")] = {
        "invite_id": invite.id,
        "subscription_id": subscription.id,
        "user_id": users["waiting"].id,
        "appeal_id": appeal.id,
        "media_id": appeal.evidence_media_ids[0],
    }

    for name in ("artist", "priv", "gone", "banned", *VIEWERS.values(), "susp"):
        client = app.test_client()
        factories.login(client, name)
        world.cookies[name] = client.get_cookie("session").value
    # Now the accounts' states: deleted and suspended accounts keep their (dead) cookies.
    users["gone"].deleted_at = utcnow()
    for name in ("banned", "susp"):
        users[name].suspended_at = utcnow()
    db.session.commit()
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    settings = factories.app_settings(
        {"uri": f"sqlite:///{root / 'matrix.sqlite'}", "instance": root},
        MEDIA_DIR=str(root / "media"),
        FEED_CACHE_SECONDS=0,
        FILTER_LOCAL_FEATURES=False,  # confirming AI indexes the image: its hashes suffice
    )
    app = create_app(settings)
    app.test_client_class = factories.IsolatedClient
    with app.app_context():
        upgrade()  # the migrations' schema, search indexes and triggers included
        built = build(app, root)
        built.snapshot()
        yield built
        db.session.remove()
        db.engine.dispose()


def _key(rule) -> list[str]:
    return [f"{m} {rule.rule}" for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _url(adapter: MapAdapter, rule, route: table.Route, ids: dict) -> str:
    values = {**ids, **route.args}
    defaults = rule.defaults or {}
    needed = {a: values[a] for a in rule.arguments if a not in defaults}
    url = adapter.build(rule.endpoint, {**needed, **defaults}, force_external=False)
    query = {k: v.format(**values) for k, v in route.query.items()}
    return url + ("?" + urlencode(query) if query else "")


class Figures:
    def __init__(self):
        self.rules = self.cells = self.requests = 0
        self.mismatches: list[str] = []


def _check(figures, cell, response, expected, rule: table.Rule, role, state, expect_lists):
    got = response.status_code
    if got != expected:
        figures.mismatches.append(f"{cell}: expected {expected}, got {got}")
        return
    if got == 200 and (rule.private_cache or (rule.media_cache and state != "public")):
        if response.headers.get("Cache-Control") != storage.PRIVATE_CACHE:
            cache = response.headers.get("Cache-Control")
            figures.mismatches.append(f"{cell}: Cache-Control {cache!r}, not private, no-store")
    if got == 200 and rule.media_cache and state == "public":
        if response.headers.get("Cache-Control") != storage.PUBLIC_CACHE:
            figures.mismatches.append(f"{cell}: a public image not publicly cacheable")
    if got == 200 and expect_lists is not None:
        body = response.get_data(as_text=True)
        shown = marker(state, rule.word) in body
        if shown != expect_lists:
            what = "shows" if shown else "does not show"
            figures.mismatches.append(f"{cell}: {what} the {state} subject")


def test_every_route_has_an_expected_outcome(world):
    keys = {k for rule in world.app.url_map.iter_rules() for k in _key(rule)}
    keys.discard("GET /static/<path:filename>")  # files of the app, the same for everyone
    missing = sorted(keys - set(table.ROUTES))
    stale = sorted(set(table.ROUTES) - keys)
    assert not missing, f"routes without an entry in authorization_table.ROUTES: {missing}"
    assert not stale, f"entries for routes that no longer exist: {stale}"


def test_authorization_matrix(world, request):
    app = world.app
    figures = Figures()
    adapter = app.url_map.bind("cara.test")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for key in _key(rule):
            entry = table.ROUTES.get(key)
            if entry is None:
                continue  # test_every_route_has_an_expected_outcome names it
            figures.rules += 1
            method = key.split()[0]
            for route in entry if isinstance(entry, list) else [entry]:
                route = route if isinstance(route, table.Route) else table.Route(route)
                _walk(world, figures, adapter, rule, method, route)
    request.config.stash[MATRIX_FIGURES] = (
        f"authorization matrix: {figures.rules} routes (rule x method) x {len(table.ROLES)} "
        f"roles x {len(table.STATES)} states: {figures.cells} cells checked with "
        f"{figures.requests} requests, {len(figures.mismatches)} mismatches"
    )
    assert not figures.mismatches, "\n".join(figures.mismatches)


def _walk(world, figures, adapter, rule, method, route: table.Route):
    world.app.config["FEDERATION"] = route.federation
    try:
        _walk_states(world, figures, adapter, rule, method, route)
    finally:
        world.app.config["FEDERATION"] = False


def _walk_states(world, figures, adapter, rule, method, route: table.Route):
    states = table.SUBJECT_STATES[route.subject]
    answers = {}  # (client, url) -> response: a page that is the same for several states
    for state in states:
        ids = world.ids.get((route.subject, state), {}) if route.subject else {}
        url = _url(adapter, rule, route, {**world.ids[("site", "")], **ids})
        for role in table.ROLES:
            expected = route.rule.expect(role, state)
            client_name = author(state) if role == "own" else role
            cache_key = (client_name, url)
            if cache_key in answers:  # the same request: a write was undone after it
                response = answers[cache_key]
            else:
                client = world.client(role, state)
                call = client.get if method == "GET" else client.post
                headers = {k: v.format(**ids) for k, v in route.headers.items()}
                try:
                    response = call(url, data=route.form, headers=headers)
                except Exception as exc:  # a 500 in production (TESTING raises it here)
                    figures.mismatches.append(f"{method} {url} as {role}, {state}: {exc!r}")
                    world.restore()
                    continue
                figures.requests += 1
                if method != "GET" and response.status_code < 400:
                    world.restore()
                answers[cache_key] = response
            lists = (route.rule.lists or {}).get(state, {}).get(role)
            cell = f"{method} {url} {route.variant} as {role}, {state}".replace("  ", " ")
            _check(figures, cell, response, expected, route.rule, role, state, lists)
            figures.cells += 1
