"""Moderation beyond the filter: report actions, removal, warnings, suspension, notes, the
account page, the audit log of every action, and no decisions on one's own content."""

import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from cara import board
from cara.accounts import auth as accounts
from cara.aifilter import hashindex
from cara.core import policy, storage, tasks
from cara.core.extensions import db
from cara.core.models import (
    AuditEntry,
    Comment,
    Follow,
    KnownHash,
    Like,
    Media,
    ModeratorNote,
    Notification,
    Post,
    PostState,
    Report,
    Sanction,
    User,
    utcnow,
)
from cara.social import actions
from tests.factories import GOOD, generator_png, make_post

JOB = {
    "title": "Colourist",
    "kind": "freelance",
    "remote": "1",
    "apply_url": "https://moth.example/apply",
}


def as_(auth, name):
    auth.logout()
    auth.login(name)


def report(reporter, kind, subject_id, reason="spam"):
    assert actions.report(reporter, kind, subject_id, reason, "") == {}
    return db.session.scalars(
        select(Report).where(Report.subject_kind == kind, Report.subject_id == subject_id)
    ).all()[-1]


def told(user) -> str:
    rows = db.session.scalars(select(Notification.text).where(Notification.user_id == user.id))
    return "\n".join(rows)


def actions_logged() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def close(client, report_row, **form):
    return client.post(f"/moderation/reports/{report_row.id}/close", data=form)


# --- report actions --------------------------------------------------------------------------


def test_dismiss_closes_every_report_on_it_and_tells_reporters_nothing_more(client, auth, people):
    post = make_post(people["ana"])
    first = report(people["bob"], "post", post.id)
    report(people["alma"], "post", post.id)
    as_(auth, "mona")
    response = close(client, first, action="dismiss", reason="Looks hand-made to me")
    assert response.status_code == 303
    assert {r.status for r in db.session.scalars(select(Report))} == {"closed"}
    for reporter in (people["bob"], people["alma"]):
        assert told(reporter) == "Thank you for your report: the moderators have reviewed it."
    assert told(people["ana"]) == ""  # dismissing tells the person nothing
    assert actions_logged() == ["close-report", "close-report"]
    assert db.session.get(Post, post.id).state == PostState.PUBLISHED


def test_remove_a_post_from_a_report(client, auth, people):
    post = make_post(people["ana"], "Traced from a film still")
    filed = report(people["bob"], "post", post.id, "stolen")
    as_(auth, "mona")
    reason = "Traced from a copyrighted film still"
    assert close(client, filed, action="remove", reason=reason).status_code == 303
    db.session.refresh(post)
    assert (post.state, post.removed_reason) == (PostState.REMOVED, reason)
    assert db.session.scalar(select(KnownHash.id)) is None  # human art never joins the AI list
    assert f"removed your post for breaking the rules. Reason: {reason}" in told(people["ana"])
    assert "reviewed it" in told(people["bob"]) and reason not in told(people["bob"])
    assert actions_logged() == ["remove-post", "close-report"]
    # Others get a 404 and see it nowhere; the artist sees that it was removed, and why.
    as_(auth, "bob")
    assert client.get(f"/posts/{post.id}").status_code == 404
    assert f'id="post-{post.id}"' not in client.get("/latest").get_data(as_text=True)
    auth.logout()
    assert client.get(f"/posts/{post.id}").status_code == 404
    auth.login("ana")
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "Removed by the moderators" in page and reason in page


def test_warn_from_a_comment_report(client, auth, people):
    post = make_post(people["bob"])
    row, _ = actions.comment(people["ana"], post, "You draw like a child")
    filed = report(people["bob"], "comment", row.id, "harassment")
    as_(auth, "mona")
    assert close(client, filed, action="warn", reason="Be kind in comments").status_code == 303
    (warning,) = db.session.scalars(select(Sanction))
    assert (warning.user_id, warning.kind, warning.report_id) == (
        people["ana"].id,
        "warning",
        filed.id,
    )
    assert "warned you about breaking the rules. Reason: Be kind in comments" in told(people["ana"])
    html = client.get("/moderation/users/ana").get_data(as_text=True)
    assert "Warning" in html and "Be kind in comments" in html


def test_suspend_from_a_user_report_mails_the_reason(client, auth, people, caplog):
    filed = report(people["bob"], "user", people["ana"].id)
    as_(auth, "mona")
    with caplog.at_level(logging.WARNING, logger="cara.core.mail"):
        response = close(client, filed, action="suspend", reason="Spam in every comment")
    assert response.status_code == 303
    db.session.refresh(people["ana"])
    assert people["ana"].is_suspended and people["ana"].suspended_until is None
    mail = next(r.getMessage() for r in caplog.records if "ana@example.com" in r.getMessage())
    assert "Your cara account is suspended" in mail and "Spam in every comment" in mail
    assert "http://cara.test/" in mail  # BASE_URL, never the request's host
    assert "Your account is suspended until a moderator lifts it" in told(people["ana"])
    assert actions_logged() == ["suspend", "close-report"]


@pytest.mark.parametrize("action", ["remove", "warn", "suspend"])
def test_a_reason_is_required_when_the_person_is_told(client, auth, people, action):
    post = make_post(people["ana"])
    filed = report(people["bob"], "post", post.id)
    as_(auth, "mona")
    response = close(client, filed, action=action, reason="  ")
    assert response.status_code == 422 and "Give a reason" in response.get_data(as_text=True)
    assert db.session.get(Report, filed.id).status == "open"
    assert db.session.get(Post, post.id).state == PostState.PUBLISHED
    assert not people["ana"].is_suspended and actions_logged() == []
    assert close(client, filed, action="nuke", reason="x").status_code == 422


def test_report_form_offers_the_actions_with_labels(client, auth, people):
    post = make_post(people["ana"])
    report(people["bob"], "post", post.id)
    as_(auth, "mona")
    html = client.get("/moderation?queue=reports").get_data(as_text=True)
    for value in ("dismiss", "remove", "warn", "suspend"):
        assert f'name="action" value="{value}"' in html
    assert "<legend>What to do</legend>" in html and 'type="date"' in html
    assert 'href="/moderation/users/ana"' in html


# --- suspension ------------------------------------------------------------------------------


def test_suspension_ends_sessions_login_and_every_action(client, app, auth, people):
    post = make_post(people["bob"])
    own = make_post(people["ana"], "my work")
    commented, _ = actions.comment(people["ana"], post, "Nice light")
    job, _ = board.create(people["ana"], JOB)
    auth.login("ana")  # ana's own browser
    moderator = app.test_client()
    moderator.post("/login", data={"login": "mona", "password": GOOD})
    response = moderator.post(
        "/moderation/users/ana/suspend", data={"reason": "Ban evasion", "until": ""}
    )
    assert response.status_code == 303

    # Her open session ends at once; everything that needs a login sends her to log in.
    assert client.get("/settings").status_code == 302
    for url, data in [
        (f"/posts/{post.id}/like", {}),
        (f"/posts/{post.id}/comments", {"body": "still here"}),
        ("/@bob/follow", {}),
        (f"/posts/{post.id}/report", {"reason": "spam"}),
        ("/posts/new", {}),
    ]:
        assert client.post(url, data=data).status_code == 302, url
    assert db.session.scalar(select(Like.post_id)) is None
    assert db.session.scalar(select(Follow.follower_id)) is None
    assert db.session.scalar(select(Report.id)) is None
    response = client.post("/login", data={"login": "ana", "password": GOOD})
    assert response.status_code == 403
    assert "This account is suspended until a moderator lifts it" in response.get_data(True)
    wrong = client.post("/login", data={"login": "ana", "password": "not her password"})
    assert "suspended" not in wrong.get_data(as_text=True)  # told only with the password

    # Others see "suspended" on the profile, and none of her posts, comments or jobs.
    profile = client.get("/@ana").get_data(as_text=True)
    assert "Suspended" in profile and f'id="post-{own.id}"' not in profile
    assert client.get(f"/posts/{own.id}").status_code == 404
    assert f'id="post-{own.id}"' not in client.get("/latest").get_data(as_text=True)
    assert "Nice light" not in client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert f'id="job-{job.id}"' not in client.get("/jobs").get_data(as_text=True)
    # Moderators still see it all.
    assert moderator.get(f"/posts/{own.id}").status_code == 200
    assert "Nice light" in moderator.get(f"/posts/{post.id}").get_data(as_text=True)
    assert db.session.get(Comment, commented.id) is not None  # hidden, not lost

    # Lifted: she logs in again and everything is back.
    assert moderator.post("/moderation/users/ana/unsuspend", data={}).status_code == 303
    auth.login("ana")
    assert client.get("/settings").status_code == 200
    assert client.get(f"/posts/{own.id}").status_code == 200
    assert actions_logged() == ["suspend", "unsuspend"]
    (sanction,) = db.session.scalars(select(Sanction))
    assert sanction.kind == "suspension" and sanction.lifted_at is not None


def test_a_suspended_session_is_refused_even_without_revoking(app, people):
    """load_user itself refuses a suspended account: a cookie of the current generation too."""
    ana = people["ana"]
    ana.suspended_at = utcnow()
    db.session.commit()
    assert accounts.load_user(ana.get_id()) is None
    post = make_post(people["bob"])
    assert not policy.can_interact(ana, post) and not policy.can_follow(ana, people["bob"])
    assert not policy.can_act(ana)


def test_a_suspension_with_an_end_date_lapses(client, auth, people):
    as_(auth, "mona")
    until = (utcnow() + timedelta(days=7)).date().isoformat()
    data = {"reason": "Cool off", "until": until}
    assert client.post("/moderation/users/ana/suspend", data=data).status_code == 303
    ana = db.session.get(type(people["ana"]), people["ana"].id)
    assert ana.is_suspended and ana.suspended_until.date().isoformat() == until
    assert "Suspended" in client.get("/moderation/users/ana").get_data(as_text=True)
    ana.suspended_until = utcnow() - timedelta(seconds=1)  # a week later
    db.session.commit()
    assert not ana.is_suspended
    as_(auth, "ana")
    assert client.get("/settings").status_code == 200


def test_a_lapsed_suspension_gives_the_images_public_names_on_the_next_sweep(
    client, auth, people, make_post, no_avif
):
    media = make_post(people["ana"]).media[0]
    public_name = media.renditions[0]["name"]
    as_(auth, "mona")
    until = (utcnow() + timedelta(days=7)).date().isoformat()
    data = {"reason": "Cool off", "until": until}
    assert client.post("/moderation/users/ana/suspend", data=data).status_code == 303
    hidden = db.session.get(Media, media.id).renditions[0]
    assert hidden["name"] != public_name and not hidden.get("pub")
    ana = db.session.get(User, people["ana"].id)
    ana.suspended_until = utcnow() - timedelta(seconds=1)  # a week later
    db.session.commit()

    assert tasks.sweep() >= 1
    shown = db.session.get(Media, media.id).renditions[0]
    assert shown.get("pub") and shown["name"] != hidden["name"]
    response = client.get(f"/media/{media.id}/{shown['name']}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == storage.PUBLIC_CACHE
    assert client.get(f"/media/{media.id}/{hidden['name']}").status_code == 404
    assert db.session.get(User, ana.id).suspended_at is None


@pytest.mark.parametrize(
    ("until", "message"),
    [("next tuesday", "YYYY-MM-DD"), ("2001-01-01", "after today"), ("9999-01-01", "ten years")],
)
def test_bad_end_dates_are_refused(client, auth, people, until, message):
    as_(auth, "mona")
    response = client.post("/moderation/users/ana/suspend", data={"reason": "x", "until": until})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert not db.session.get(type(people["ana"]), people["ana"].id).is_suspended


# --- removal of comments and jobs ------------------------------------------------------------


def test_remove_a_comment_and_a_job(client, auth, people):
    post = make_post(people["bob"])
    row, _ = actions.comment(people["ana"], post, "Buy followers at spam.example")
    actions.comment(people["bob"], post, "Thanks all")
    job, _ = board.create(people["ana"], JOB)
    as_(auth, "mona")
    assert (
        client.post(f"/moderation/comments/{row.id}/remove", data={"reason": "Spam"}).status_code
        == 303
    )
    assert (
        client.post(f"/moderation/jobs/{job.id}/remove", data={"reason": "Unpaid"}).status_code
        == 303
    )
    assert db.session.get(Post, post.id).comment_count == 1
    assert "removed your comment" in told(people["ana"]) and "Unpaid" in told(people["ana"])
    as_(auth, "bob")
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "spam.example" not in page and "Thanks all" in page
    assert client.get(f"/jobs/{job.id}").status_code == 404
    as_(auth, "ana")
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "spam.example" in page and "Removed by a moderator: Spam" in page
    assert "Removed by the moderators: Unpaid" in client.get(f"/jobs/{job.id}").get_data(True)
    assert actions_logged() == ["remove-comment", "remove-job"]
    as_(auth, "mona")
    again = client.post(f"/moderation/jobs/{job.id}/remove", data={"reason": "Unpaid"})
    assert again.status_code == 409


def test_remove_is_separate_from_confirm_ai_on_the_post_page(client, auth, people):
    post = make_post(people["ana"])
    as_(auth, "mona")
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert "Confirm AI" in html and "Remove post" in html
    assert 'for="remove-reason-' in html and "its images join no list" in html
    client.post(f"/moderation/posts/{post.id}/remove", data={"reason": "Spam links"})
    assert db.session.get(Post, post.id).state == PostState.REMOVED
    assert db.session.scalar(select(KnownHash.id)) is None


# --- notes and the account page --------------------------------------------------------------


def test_account_page_notes_history_and_reports(client, auth, people):
    post = make_post(people["ana"])
    report(people["bob"], "post", post.id, "stolen")
    url = "/moderation/users/ana"
    as_(auth, "bob")
    assert client.get(url).status_code == 404
    assert client.post(f"{url}/notes", data={"body": "x"}).status_code == 404
    as_(auth, "mona")
    assert client.post(f"{url}/notes", data={"body": "  "}).status_code == 422
    note = "Second account of a known tracer; watch the next uploads"
    assert client.post(f"{url}/notes", data={"body": note, "next": url}).status_code == 303
    client.post(f"{url}/warn", data={"reason": "Credit the original artist"})
    html = client.get(url).get_data(as_text=True)
    assert note in html and "Credit the original artist" in html
    assert "Open reports about them (1)" in html and "Stolen, traced" in html
    assert 'for="suspend-reason"' in html and 'for="note-body"' in html and "<h2" in html
    assert db.session.scalar(select(ModeratorNote.body)) == note
    assert "@ana" in client.get("/@ana").get_data(as_text=True)
    assert f'href="{url}"' in client.get("/@ana").get_data(as_text=True)
    # The person never sees the note.
    as_(auth, "ana")
    for page in ("/@ana", "/notifications", "/settings"):
        assert note not in client.get(page).get_data(as_text=True)
    assert "note" in actions_logged() and "warn" in actions_logged()


# --- the audit log and one's own content ------------------------------------------------------


def test_moderator_comment_deletion_is_audited(client, auth, people):
    post = make_post(people["bob"])
    row, _ = actions.comment(people["ana"], post, "Rude words")
    own, _ = actions.comment(people["mona"], post, "My own comment")
    row_id = row.id
    as_(auth, "mona")
    assert client.post(f"/comments/{own.id}/delete").status_code == 303
    assert actions_logged() == []  # one's own comment is not a moderator action
    assert client.post(f"/comments/{row_id}/delete").status_code == 303
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.action, entry.actor_id, entry.subject_id) == (
        "delete-comment",
        people["mona"].id,
        row_id,
    )
    assert entry.reason == "@ana: Rude words"


def test_hash_imports_are_audited(client, app, auth, people, tmp_path):
    record = hashindex.HashRecord("8" * 16, "a" * 64, "orig", "sample", "elsewhere")
    listing = hashindex.dump_hash_list([record], "csv")
    as_(auth, "alma")
    upload = {"file": (io.BytesIO(listing.encode()), "list.csv"), "note": "Site B"}
    assert client.post("/moderation/hashes", data=upload).status_code == 303
    path = tmp_path / "list.csv"
    path.write_text(listing)
    assert app.test_cli_runner().invoke(args=["hashes", "import", str(path)]).exit_code == 0
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_id) for e in entries] == [
        ("import-hashes", people["alma"].id),
        ("import-hashes", None),
    ]
    assert entries[0].reason == "1 trusted hashes from list.csv: Site B"


def test_a_moderator_cannot_decide_on_their_own_content(client, auth, people):
    held = make_post(people["mona"], images=[generator_png()])
    assert held.state == PostState.HELD
    own = make_post(people["mona"])
    filed = report(people["bob"], "post", own.id)
    as_(auth, "mona")
    for url, data in [
        (f"/moderation/posts/{held.id}/clear", {}),
        (f"/moderation/posts/{own.id}/remove", {"reason": "x"}),
        (f"/moderation/reports/{filed.id}/close", {"action": "dismiss"}),
        ("/moderation/users/mona/suspend", {"reason": "x"}),
        ("/moderation/users/mona/notes", {"body": "I am great"}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 403, url
        assert "own" in response.get_data(as_text=True)
    # Only an admin decides on another moderator's or an admin's account.
    response = client.post("/moderation/users/alma/suspend", data={"reason": "x"})
    assert response.status_code == 403 and "Only an admin" in response.get_data(as_text=True)
    assert db.session.get(Post, held.id).state == PostState.HELD
    assert db.session.get(Report, filed.id).status == "open" and actions_logged() == []
    as_(auth, "alma")
    assert client.post(f"/moderation/posts/{held.id}/clear", data={}).status_code == 303
