"""Moderating replies from other servers: the post's artist deletes (hides) one, a moderator
removes one with a reason (audited), anyone who sees one reports it; a hidden reply stays hidden
when its server delivers or updates it again."""

from sqlalchemy import select

from cara.core.extensions import db
from cara.core.models import AuditEntry, Post, RemoteComment, Report
from tests.federation.test_replies import _delete, _direct, _reply


def _count(post) -> int:
    db.session.expire_all()
    return db.session.get(Post, post.id).comment_count


def _page(client, post) -> str:
    return client.get(f"/posts/{post.id}").get_data(as_text=True)


def test_the_artist_deletes_a_reply_and_it_stays_deleted(client, auth, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _reply(peer, post.id, content="<p>Buy followers here</p>"))
    row = db.session.scalar(select(RemoteComment))
    assert _count(post) == 1

    auth.login("cyd")  # not the artist: no Delete, a Report link
    page = _page(client, post)
    assert f"/remote-comments/{row.id}/report" in page
    assert f"/remote-comments/{row.id}/delete" not in page
    assert client.post(f"/remote-comments/{row.id}/delete").status_code == 403
    auth.logout()

    auth.login("ana")
    assert f"/remote-comments/{row.id}/delete" in _page(client, post)
    answer = client.post(f"/remote-comments/{row.id}/delete")
    assert answer.status_code == 303 and answer.headers["Location"] == f"/posts/{post.id}"
    assert "Buy followers" not in _page(client, post)
    assert _count(post) == 0
    assert db.session.scalars(select(AuditEntry)).all() == []  # the artist's own post: not logged

    peer.post_to(client, _reply(peer, post.id, content="<p>Buy followers here</p>"))  # again
    peer.post_to(client, _reply(peer, post.id, content="<p>Edited spam</p>", kind="Update"))
    assert "Buy followers" not in _page(client, post) and "Edited spam" not in _page(client, post)
    auth.logout()
    assert "spam" not in _page(client, post).lower()
    assert _count(post) == 0
    assert client.get(f"/remote-comments/{row.id}/report").status_code == 302  # to log in
    auth.login("cyd")
    assert client.get(f"/remote-comments/{row.id}/report").status_code == 404  # hidden: gone


def test_deleting_with_htmx_swaps_the_comments(client, auth, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    peer.post_to(client, _reply(peer, post.id, content="<p>Rude words</p>"))
    row = db.session.scalar(select(RemoteComment))
    auth.login("ana")
    target = f"post-{post.id}-comments"
    answer = client.post(
        f"/remote-comments/{row.id}/delete", headers={"HX-Request": "true", "HX-Target": target}
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and f'id="{target}"' in body
    assert "Rude words" not in body and "Comments (0)" in body


def test_a_moderator_removes_a_reply_with_a_reason_logged(client, auth, make_user, make_post, peer):
    post = make_post(make_user("ana"))
    make_user("mona", role="moderator")
    peer.post_to(client, _reply(peer, post.id, content="<p>Slurs</p>"))
    row = db.session.scalar(select(RemoteComment))
    auth.login("mona")
    page = _page(client, post)
    assert f'id="remote-remove-reason-{row.id}"' in page
    assert client.post(f"/remote-comments/{row.id}/delete", data={"reason": " "}).status_code == 422
    assert "Slurs" in _page(client, post)
    answer = client.post(f"/remote-comments/{row.id}/delete", data={"reason": "Hate speech"})
    assert answer.status_code == 303
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.action, entry.subject_kind, entry.subject_id, entry.reason) == (
        "remove-remote-comment",
        "remote_comment",
        row.id,
        "Hate speech",
    )
    assert "Slurs" not in _page(client, post) and _count(post) == 0
    db.session.expire_all()
    assert db.session.get(RemoteComment, row.id).removed_by == "moderator"
    # Delivered again after the removal: still removed, and a Delete then an old Create too.
    peer.post_to(client, _reply(peer, post.id, content="<p>Slurs</p>"))
    peer.post_to(client, _delete(peer))
    peer.post_to(client, _reply(peer, post.id, content="<p>Slurs</p>"))
    assert "Slurs" not in _page(client, post) and _count(post) == 0


def test_a_viewer_reports_a_reply_and_a_moderator_removes_it_from_the_queue(
    client, auth, make_user, make_post, peer
):
    post = make_post(make_user("ana"))
    make_user("cyd")
    make_user("mona", role="moderator")
    peer.post_to(client, _reply(peer, post.id, content="<p>Scam link</p>"))
    row = db.session.scalar(select(RemoteComment))
    auth.login("cyd")
    form = client.get(f"/remote-comments/{row.id}/report").get_data(as_text=True)
    assert f"Report the reply by {peer.handle}" in form
    answer = client.post(
        f"/remote-comments/{row.id}/report", data={"reason": "spam", "details": "a scam"}
    )
    assert answer.status_code == 303
    report = db.session.scalar(select(Report))
    assert (report.subject_kind, report.subject_id) == ("remote_comment", row.id)
    auth.logout()

    auth.login("mona")
    queue = client.get("/moderation?queue=reports").get_data(as_text=True)
    assert f"Reply from elsewhere by {peer.handle}" in queue
    assert f"/posts/{post.id}#remote-comment-{row.id}" in queue
    assert "Remove the reply" in queue and f"Warn @{peer.handle}" not in queue
    close = f"/moderation/reports/{report.id}/close"
    assert client.post(close, data={"action": "warn", "reason": "x"}).status_code == 422
    assert client.post(close, data={"action": "remove", "reason": "Scam"}).status_code == 303
    assert "Scam link" not in _page(client, post) and _count(post) == 0
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["remove-remote-comment", "close-report"]


def test_a_reply_sent_to_the_artist_alone_is_reported_by_them_only(
    client, auth, make_user, make_post, peer
):
    post = make_post(make_user("ana"))
    make_user("cyd")
    peer.post_to(client, _direct(peer, post.id, "<p>Private</p>"))
    row = db.session.scalar(select(RemoteComment))
    auth.login("cyd")
    assert client.get(f"/remote-comments/{row.id}/report").status_code == 404
    assert client.post(f"/remote-comments/{row.id}/delete").status_code == 404
    auth.logout()
    auth.login("ana")
    assert client.get(f"/remote-comments/{row.id}/report").status_code == 200
