"""Leaving with your data: the export archive and account deletion (issue 12)."""

import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cara.accounts import auth, lifecycle
from cara.core import storage, tasks
from cara.core.extensions import db
from cara.core.models import (
    Block,
    Comment,
    Export,
    ExportState,
    Follow,
    Job,
    Like,
    Media,
    Notification,
    Post,
    Report,
    User,
)
from cara.posting import drafts
from cara.social import actions
from tests.factories import GOOD, image_bytes, login, logout, person


def _artist(make_post):
    """ana with one real post (two uploaded images) and a trace of everything she does."""
    ana, bob = person("ana"), person("bob")
    images = [image_bytes(size=(400, 300)), image_bytes(size=(300, 400), color=(20, 90, 200))]
    post = make_post(ana, images=images, caption="Two studies #ink")
    theirs = make_post(bob, caption="Bob's sketch")
    actions.like(ana, theirs)
    actions.comment(ana, theirs, "Lovely line work")
    db.session.add_all(
        [
            Follow(follower_id=ana.id, followee_id=bob.id),
            Block(blocker_id=ana.id, blocked_id=person("troll").id),
            Report(reporter_id=ana.id, subject_kind="post", subject_id=theirs.id, reason="spam"),
            Job(owner_id=ana.id, title="Inker wanted", kind="freelance", apply_url="https://a.b"),
        ]
    )
    db.session.commit()
    return ana, bob, post, theirs, images


def _download_link(client) -> str:
    page = client.get("/settings/export").get_data(as_text=True)
    return re.search(r'href="(/settings/export/[^"]+)"', page).group(1)


def test_export_zip_holds_the_originals_and_every_kind_of_data(client, make_post):
    ana, bob, post, theirs, images = _artist(make_post)
    login(client, "ana")
    response = client.post("/settings/export")
    assert response.status_code == 303

    page = client.get("/settings/export")
    assert page.headers["Cache-Control"] == "private, no-store"  # the finding: it lacked no-store
    response = client.get(_download_link(client))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.mimetype == "application/zip"

    archive = zipfile.ZipFile(io.BytesIO(response.data))
    docs = {n: json.loads(archive.read(n)) for n in archive.namelist() if n.endswith(".json")}
    assert set(docs) == {
        "profile.json",
        "posts.json",
        "comments.json",
        "likes.json",
        "bookmarks.json",
        "follows.json",
        "blocks.json",
        "reports.json",
    }
    (exported,) = docs["posts.json"]
    assert exported["caption"] == "Two studies #ink" and exported["tags"] == ["ink"]
    files = exported["images"]
    assert [f["alt_text"] for f in files] == [m.alt_text for m in post.media]
    assert all(f["alt_text"] for f in files)
    # The originals, byte for byte as uploaded.
    uploaded = {hashlib.sha256(data).hexdigest() for data in images}
    assert {hashlib.sha256(archive.read(f["file"])).hexdigest() for f in files} == uploaded
    assert docs["profile.json"]["username"] == "ana"
    assert docs["comments.json"][0]["body"] == "Lovely line work"
    assert docs["likes.json"][0]["post_url"] == f"http://cara.test/posts/{theirs.id}"  # BASE_URL
    assert [p["username"] for p in docs["follows.json"]["following"]] == ["bob"]
    assert [p["username"] for p in docs["blocks.json"]["blocked"]] == ["troll"]
    assert docs["reports.json"][0]["reason"] == "spam"

    told = db.session.scalar(select(Notification).filter_by(user_id=ana.id, kind="export"))
    assert told is not None and "ready" in told.text
    notes = client.get("/notifications").get_data(as_text=True)
    assert 'href="/settings/export"' in notes


def test_export_is_for_its_owner_only(client, make_post):
    _artist(make_post)
    login(client, "ana")
    client.post("/settings/export")
    link = _download_link(client)
    logout(client)
    assert client.get(link).status_code == 302  # to the login page
    login(client, "bob")
    assert client.get(link).status_code == 404
    assert client.get("/settings/export/forged-token").status_code == 404
    row = db.session.scalar(select(Export))
    other = lifecycle.download_token(row).replace(str(row.id), "x")
    assert client.get(f"/settings/export/{other}").status_code == 404


def test_export_link_expires_and_the_sweeper_removes_the_file(client, make_post):
    ana = person("ana")
    make_post(ana)
    login(client, "ana")
    client.post("/settings/export")
    link = _download_link(client)
    row = db.session.scalar(select(Export))
    path = storage.export_path(row.filename)
    assert path.exists() and row.state == ExportState.READY
    assert path.stat().st_mode & 0o777 == 0o600

    row.expires_at = tasks.now() - timedelta(seconds=1)
    db.session.commit()
    response = client.get(link)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    tasks.sweep()
    db.session.refresh(row)
    assert row.state == ExportState.EXPIRED and not path.exists()
    assert client.get(link).status_code == 410


def test_asking_again_too_soon_is_refused_server_side(client, make_post):
    person("ana")
    login(client, "ana")
    assert client.post("/settings/export").status_code == 303
    response = client.post("/settings/export")
    assert response.status_code == 429
    assert "Ask again after" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Export)) == 1


def test_an_export_whose_job_died_is_built_by_the_sweep(app, make_post):
    ana = person("ana")
    make_post(ana)
    row = Export(user_id=ana.id, filename="stuck.zip", created_at=tasks.now() - timedelta(hours=1))
    db.session.add(row)
    db.session.commit()
    assert tasks.sweep() >= 1
    db.session.refresh(row)
    assert row.state == ExportState.READY and storage.export_path("stuck.zip").exists()


# --- deletion --------------------------------------------------------------------------------


def test_delete_needs_the_password(client, make_post):
    person("ana")
    login(client, "ana")
    response = client.post("/settings/delete", data={"password": "wrong password!"})
    assert response.status_code == 422
    assert "That is not your password." in response.get_data(as_text=True)
    assert db.session.scalar(select(User).filter_by(username="ana")).deleted_at is None


class Crash(Exception):
    """The worker dies in the middle of a purge."""


def test_deletion_hides_at_once_and_a_crashed_purge_finishes_on_the_next_sweep(
    app, client, make_post, monkeypatch
):
    ana, bob, post, theirs, images = _artist(make_post)
    second = make_post(ana, images=[image_bytes(size=(200, 200), color=(200, 30, 30))])
    originals = [storage.original_path(m.original_path) for p in (post, second) for m in p.media]
    assert all(p.exists() for p in originals)
    comment = db.session.scalar(select(Comment).filter_by(author_id=ana.id))
    job = db.session.scalar(select(Job).filter_by(owner_id=ana.id))
    login(client, "ana")
    client.get("/settings")  # a live session, to be revoked

    real_delete, deleted = drafts.delete, []

    def dies_after_one_post(p):
        if deleted:
            raise Crash
        deleted.append(p.id)
        real_delete(p)

    monkeypatch.setattr(drafts, "delete", dies_after_one_post)
    with pytest.raises(Crash):
        lifecycle.delete_account(ana, GOOD)
    monkeypatch.undo()

    # Half purged: one post, the comment, the job and the like are still rows...
    assert db.session.scalar(select(func.count()).select_from(Post).filter_by(author_id=ana.id))
    assert db.session.get(Comment, comment.id) and db.session.get(Job, job.id)
    # ...and hidden from everyone all the same.
    assert client.get("/settings").status_code == 302  # the session is revoked
    for viewer in (None, "bob"):
        if viewer:
            login(client, viewer)
        assert client.get("/@ana").status_code == 404
        for p in (post, second):
            assert client.get(f"/posts/{p.id}").status_code == 404
        assert "Lovely line work" not in client.get(f"/posts/{theirs.id}").get_data(as_text=True)
        assert client.get(f"/jobs/{job.id}").status_code == 404
        assert "Inker wanted" not in client.get("/jobs").get_data(as_text=True)
        assert "/@ana" not in client.get("/search?q=ana").get_data(as_text=True)
        assert f"/posts/{second.id}" not in client.get("/latest").get_data(as_text=True)
    assert client.post("/login", data={"login": "ana", "password": GOOD}).status_code != 303

    app.config["TASK_LEASE_SECONDS"] = 0  # the sweep now treats the purge as abandoned
    db.session.get(User, ana.id).purge_lease_until = tasks.now()  # the dead worker's lapsed
    db.session.commit()
    assert tasks.sweep() >= 1
    ana = db.session.get(User, ana.id)
    assert ana.purged_at is not None
    for model, column in ((Post, Post.author_id), (Media, Media.owner_id), (Job, Job.owner_id)):
        assert not db.session.scalars(select(model).where(column == ana.id)).all()
    assert not db.session.scalars(select(Comment).filter_by(author_id=ana.id)).all()
    assert not db.session.scalars(select(Like).filter_by(user_id=ana.id)).all()
    assert not db.session.scalars(select(Follow).filter_by(follower_id=ana.id)).all()
    assert not any(p.exists() for p in originals)
    theirs = db.session.get(Post, theirs.id)
    assert (theirs.like_count, theirs.comment_count) == (0, 0)  # counts follow the rows
    report = db.session.scalar(select(Report))
    assert report is not None and report.reporter_id is None  # kept for the moderators
    lifecycle.purge(ana.id)  # idempotent: a second run changes nothing and does not fail
    assert tasks.sweep() == 0


def test_a_purge_running_longer_than_its_lease_is_not_run_twice(app, make_post, monkeypatch):
    """While one worker purges (its lease renewed), a sweep or a second job leaves it alone."""
    ana, *_ = _artist(make_post)
    app.config["TASK_LEASE_SECONDS"] = 0  # any deletion is "old enough" for the sweep
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue", lambda func, *args, **kw: enqueued.append(args))
    lifecycle.delete_account(ana, GOOD)
    monkeypatch.undo()
    ana = db.session.get(User, ana.id)
    ana.purge_lease_until = tasks.now() + timedelta(minutes=5)  # a worker holds the purge
    db.session.commit()

    assert tasks.sweep() == 0  # not re-enqueued while held
    lifecycle.purge(ana.id)  # a second job for the same account: does nothing
    assert db.session.get(User, ana.id).purged_at is None
    assert db.session.scalar(select(func.count()).select_from(Post).filter_by(author_id=ana.id))

    db.session.get(User, ana.id).purge_lease_until = tasks.now()  # the holder died
    db.session.commit()
    assert tasks.sweep() == 1  # handed on, and purged (the inline runner)
    assert db.session.get(User, ana.id).purged_at is not None


def test_delete_through_the_form_and_the_username_stays_reserved(client, make_post):
    ana = person("ana")
    make_post(ana, images=[image_bytes()])
    login(client, "ana")
    response = client.post("/settings/delete", data={"password": GOOD})
    assert response.status_code == 303
    assert client.get("/settings").status_code == 302  # logged out
    ana = db.session.get(User, ana.id)
    assert ana.deleted_at and ana.purged_at  # the inline runner purged at once
    assert ana.email != "ana@example.com" and not ana.check_password(GOOD)
    # The name is never given again; the address is free for a new account.
    user, errors = auth.register("ana", "new@example.com", "another good passphrase")
    assert user is None and "taken" in errors["username"][0]
    user, errors = auth.register("ana_again", "ana@example.com", "another good passphrase")
    assert user is not None and not errors
