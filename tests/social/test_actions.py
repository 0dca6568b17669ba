"""Social actions: likes, reposts, bookmarks, comments, follows, private accounts, blocks, mutes,
reports. Plain POSTs answer 303; htmx gets the re-rendered partial."""

import re

import pytest
from sqlalchemy import func, select

from cara.core.extensions import db
from cara.core.models import (
    Bookmark,
    Comment,
    Follow,
    Like,
    Notification,
    Post,
    PostState,
    Report,
    Repost,
    Role,
)
from cara.social import actions
from tests.factories import hx, login, make_post, person


def count(model, **where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


@pytest.fixture
def ana_and_post(client):
    ana, bob = person("ana"), person("bob")
    post = make_post(bob, "Ink study")
    login(client, "ana")
    return ana, bob, post


def test_like_is_an_idempotent_set_and_unset_without_js(client, ana_and_post):
    ana, _, post = ana_and_post
    for _ in range(2):
        response = client.post(f"/posts/{post.id}/like", data={"next": "/latest?x=1"})
        location = response.headers["Location"]
        assert response.status_code == 303 and location == f"/latest?x=1#post-{post.id}"
    assert count(Like, post_id=post.id) == 1
    assert db.session.get(Post, post.id).like_count == 1
    for _ in range(2):
        assert client.post(f"/posts/{post.id}/unlike").status_code == 303
    assert count(Like) == 0 and db.session.get(Post, post.id).like_count == 0


def test_like_with_htmx_returns_the_buttons(client, ana_and_post):
    _, _, post = ana_and_post
    target = f"post-{post.id}-actions"
    response = client.post(f"/posts/{post.id}/like", data={"next": "/latest"}, headers=hx(target))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'id="{target}"' in html and '1<span class="visually-hidden"> like</span></a>' in html
    assert f'action="/posts/{post.id}/unlike"' in html and 'aria-pressed="true"' in html
    assert 'name="next" value="/latest"' in html


@pytest.mark.parametrize("bad_next", ["//evil.example/", "https://evil.example/x", "javascript:x"])
def test_redirects_stay_on_the_site(client, ana_and_post, bad_next):
    _, _, post = ana_and_post
    response = client.post(f"/posts/{post.id}/bookmark", data={"next": bad_next})
    assert response.headers["Location"] == f"/posts/{post.id}#post-{post.id}"
    response = client.post(
        f"/posts/{post.id}/unbookmark", headers={"Referer": "http://localhost/tags/ink?a=1"}
    )
    assert response.headers["Location"] == f"/tags/ink?a=1#post-{post.id}"


def test_actions_need_login_and_a_visible_post(client):
    bob = person("bob")
    post = make_post(bob, "x")
    hidden = make_post(bob, "followers only", visibility="followers")
    response = client.post(f"/posts/{post.id}/like")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    person("ana")
    login(client, "ana")
    assert client.post(f"/posts/{hidden.id}/like").status_code == 404
    assert client.post("/posts/999999/like").status_code == 404
    assert client.get(f"/posts/{post.id}/like").status_code == 405


def test_repost_only_public_posts_of_others(client, ana_and_post):
    ana, bob, post = ana_and_post
    mine = make_post(ana, "mine")
    assert client.post(f"/posts/{post.id}/repost").status_code == 303
    assert db.session.get(Post, post.id).repost_count == 1
    response = client.post(f"/posts/{mine.id}/repost")
    assert response.status_code == 403 and "public" in response.get_data(as_text=True)
    actions.follow(ana, bob)
    only = make_post(bob, "followers only", visibility="followers")
    assert client.post(f"/posts/{only.id}/repost").status_code == 403
    assert client.post(f"/posts/{post.id}/unrepost").status_code == 303
    assert db.session.get(Post, post.id).repost_count == 0


def test_bookmarks(client, ana_and_post):
    ana, _, post = ana_and_post
    client.post(f"/posts/{post.id}/bookmark")
    client.post(f"/posts/{post.id}/bookmark")
    assert count(Bookmark, user_id=ana.id) == 1
    client.post(f"/posts/{post.id}/unbookmark")
    assert count(Bookmark) == 0


def test_post_page_has_actions_and_comments(client, ana_and_post):
    _, _, post = ana_and_post
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert f'id="post-{post.id}-actions"' in html and f'id="post-{post.id}-comments"' in html
    assert f'<label for="post-{post.id}-comment">Comment</label>' in html


def test_comment_without_js_and_with_htmx(client, ana_and_post):
    _, bob, post = ana_and_post
    response = client.post(
        f"/posts/{post.id}/comments", data={"body": "Lovely, @bob!", "next": f"/posts/{post.id}"}
    )
    row = db.session.scalar(select(Comment))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/posts/{post.id}#comment-{row.id}"
    target = f"post-{post.id}-comments"
    response = client.post(f"/posts/{post.id}/comments", data={"body": "Again"}, headers=hx(target))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and f'id="{target}"' in html
    assert 'Lovely, <a href="/@bob">@bob</a>!' in html and "Comments (2)" in html
    # The action row comes along out of band, so its count matches the heading (issue 13, bug 7).
    assert f'id="post-{post.id}-actions" data-hx-swap-oob="true"' in html
    assert '2<span class="visually-hidden"> comments</span>' in html
    page = client.get(f"/posts/{post.id}/comments")
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "message"), [("   ", "Write something first."), ("x" * 1001, "at most 1,000")]
)
def test_bad_comments_are_refused_with_a_message(client, ana_and_post, body, message):
    _, _, post = ana_and_post
    response = client.post(f"/posts/{post.id}/comments", data={"body": body})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html and 'aria-invalid="true"' in html
    assert count(Comment) == 0


def test_bad_reply_target_is_a_400(client, ana_and_post):
    _, bob, post = ana_and_post
    other = make_post(bob, "other")
    elsewhere, _ = actions.comment(bob, other, "hi")
    for parent in ("abc", "999999", "9" * 40, "²", str(elsewhere.id)):
        response = client.post(
            f"/posts/{post.id}/comments", data={"body": "x", "parent_id": parent}
        )
        assert response.status_code == 400


def test_replies_are_one_level_deep(client, ana_and_post):
    ana, bob, post = ana_and_post
    top, _ = actions.comment(bob, post, "first")
    client.post(f"/posts/{post.id}/comments", data={"body": "reply", "parent_id": top.id})
    reply = db.session.scalar(select(Comment).where(Comment.body == "reply"))
    client.post(f"/posts/{post.id}/comments", data={"body": "deeper", "parent_id": reply.id})
    deeper = db.session.scalar(select(Comment).where(Comment.body == "deeper"))
    assert reply.parent_id == top.id and deeper.parent_id == top.id
    html = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert f'<label for="reply-{top.id}">Reply to bob</label>' in html
    assert f'for="reply-{reply.id}"' not in html  # no reply form on replies


def test_comment_deletion_rights(client, ana_and_post):
    ana, bob, post = ana_and_post
    cyd = person("cyd")
    mine, _ = actions.comment(ana, post, "mine")
    actions.comment(bob, post, "reply", mine)
    theirs, _ = actions.comment(cyd, post, "theirs")
    assert client.post(f"/comments/{theirs.id}/delete").status_code == 403
    response = client.post(f"/comments/{mine.id}/delete", headers=hx(f"post-{post.id}-comments"))
    assert response.status_code == 200 and "Comments (1)" in response.get_data(as_text=True)
    assert count(Comment) == 1  # the reply went with it
    client.post("/logout")
    login(client, "bob")  # the artist may delete any comment on their post
    assert client.post(f"/comments/{theirs.id}/delete").status_code == 303
    assert count(Comment) == 0 and db.session.get(Post, post.id).comment_count == 0


def test_follow_and_unfollow_with_htmx_and_without(client, make_user):
    make_user("ana")
    bob = person("bob")
    login(client, "ana")
    html = client.get("/@bob").get_data(as_text=True)
    assert 'id="profile-actions"' in html and ">Follow<" in html
    response = client.post("/@bob/follow", headers=hx("profile-actions"))
    html = response.get_data(as_text=True)
    assert "<html" not in html and ">Unfollow<" in html and "1 follower</a>" in html
    assert client.post("/@bob/follow").status_code == 303  # again: no change
    assert count(Follow, followee_id=bob.id) == 1
    assert client.post("/@bob/unfollow").status_code == 303
    assert count(Follow) == 0
    assert client.post("/@ana/follow").status_code == 400
    assert client.post("/@nobody/follow").status_code == 404


def test_private_account_approves_requests(client):
    ana, bob = person("ana"), person("bob", is_private=True)
    secret = make_post(bob, "for followers", visibility="followers")
    login(client, "ana")
    client.post("/@bob/follow")
    assert db.session.get(Follow, (ana.id, bob.id)).pending
    assert client.get(f"/posts/{secret.id}").status_code == 404
    assert "Cancel follow request" in client.get("/@bob").get_data(as_text=True)
    client.post("/logout")
    login(client, "bob")
    html = client.get("/follow-requests").get_data(as_text=True)
    assert 'id="request-ana"' in html
    response = client.post("/follow-requests/ana/approve", headers=hx("follow-requests"))
    assert response.status_code == 200 and "No follow requests." in response.get_data(as_text=True)
    assert not db.session.get(Follow, (ana.id, bob.id)).pending
    client.post("/logout")
    login(client, "ana")
    assert client.get(f"/posts/{secret.id}").status_code == 200


def test_denied_request_is_removed(client):
    ana, bob = person("ana"), person("bob", is_private=True)
    actions.follow(ana, bob)
    login(client, "bob")
    assert client.post("/follow-requests/ana/deny").status_code == 303
    assert db.session.get(Follow, (ana.id, bob.id)) is None


def test_block_hides_both_ways_and_ends_follows(client):
    ana, bob = person("ana"), person("bob")
    post = make_post(bob, "x")
    actions.follow(ana, bob)
    actions.follow(bob, ana)
    login(client, "ana")
    response = client.post("/@bob/block")
    assert response.status_code == 303 and response.headers["Location"] == "/blocks"
    assert count(Follow) == 0
    assert client.get("/@bob").status_code == 404
    assert client.get(f"/posts/{post.id}").status_code == 404
    assert client.post(f"/posts/{post.id}/comments", data={"body": "hi"}).status_code == 404
    assert "@bob" in client.get("/blocks").get_data(as_text=True)
    client.post("/logout")
    login(client, "bob")
    assert client.get("/@ana").status_code == 404
    assert client.post("/@ana/follow").status_code == 404
    client.post("/logout")
    login(client, "ana")
    assert client.post("/@bob/unblock").status_code == 303
    assert client.get("/@bob").status_code == 200


def test_mute_hides_for_me_only(client):
    person("ana")
    bob, cyd = person("bob"), person("cyd")
    post = make_post(bob, "x")
    actions.comment(bob, make_post(cyd, "y"), "a comment by bob")
    login(client, "ana")
    assert client.post("/@bob/mute", headers=hx("profile-actions")).status_code == 200
    assert f"post-{post.id}" not in client.get("/latest").get_data(as_text=True)
    assert "a comment by bob" not in client.get("/posts/2").get_data(as_text=True)
    assert client.get("/@bob").status_code == 200  # still reachable, to unmute
    client.post("/logout")
    login(client, "cyd")
    assert f"post-{post.id}" in client.get("/latest").get_data(as_text=True)
    client.post("/logout")
    login(client, "ana")
    client.post("/@bob/unmute")
    assert f"post-{post.id}" in client.get("/latest").get_data(as_text=True)


def test_likes_and_follower_lists(client):
    ana, bob = person("ana"), person("bob")
    post = make_post(bob, "x")
    fans = [person(f"fan{i}") for i in range(3)]
    for fan in fans:
        actions.like(fan, post)
        actions.follow(fan, bob)
    html = client.get(f"/posts/{post.id}/likes").get_data(as_text=True)
    assert all(f"@{f.username}" in html for f in fans)
    actions.repost(fans[0], post)
    html = client.get(f"/posts/{post.id}/reposts").get_data(as_text=True)
    assert "@fan0" in html and "@fan1" not in html
    assert f'href="/posts/{post.id}/reposts"' in client.get(f"/posts/{post.id}").get_data(
        as_text=True
    )
    fragment = client.get(f"/posts/{post.id}/likes", headers=hx("people-more"))
    assert "<html" not in fragment.get_data(as_text=True)
    assert "@fan0" in client.get("/@bob/followers").get_data(as_text=True)
    assert "@bob" in client.get("/@fan1/following").get_data(as_text=True)
    page = actions.followers(None, bob, limit=2)
    assert len(page.items) == 2 and actions.followers(None, bob, page.next_cursor).items
    secret = person("secret", is_private=True)
    actions.follow(ana, secret)
    assert client.get("/@secret/followers").status_code == 403
    login(client, "secret")
    assert client.get("/@secret/followers").status_code == 200


@pytest.mark.parametrize("kind", ["post", "comment", "user", "job"])
def test_reports_land_in_the_queue(client, kind):
    from cara import board

    ana, bob = person("ana"), person("bob")
    post = make_post(bob, "x")
    comment, _ = actions.comment(bob, post, "c")
    job, _ = board.create(
        bob,
        {
            "title": "T",
            "kind": "freelance",
            "remote": "1",
            "apply_url": "https://example.com/apply",
        },
    )
    url = {
        "post": f"/posts/{post.id}/report",
        "comment": f"/comments/{comment.id}/report",
        "user": "/@bob/report",
        "job": f"/jobs/{job.id}/report",
    }[kind]
    assert client.get(url).status_code == 302  # log in first
    login(client, "ana")
    html = client.get(url).get_data(as_text=True)
    assert "<legend>Reason</legend>" in html and '<label for="details">Details</label>' in html
    missing = client.post(url, data={"details": "?"})
    assert missing.status_code == 422 and "Choose a reason." in missing.get_data(as_text=True)
    vague = client.post(url, data={"reason": "other"})
    assert vague.status_code == 422 and "what is wrong" in vague.get_data(as_text=True)
    assert client.post(url, data={"reason": "ai", "details": "prompt in EXIF"}).status_code == 303
    client.post(url, data={"reason": "ai"})  # an open report is not filed twice
    report = db.session.scalar(select(Report))
    subject_id = {"post": post.id, "comment": comment.id, "user": bob.id, "job": job.id}[kind]
    assert count(Report) == 1 and report.subject_kind == kind and report.subject_id == subject_id
    assert report.reporter_id == ana.id and report.status == "open"
    assert re.match(r"AI-generated.*: prompt in EXIF", report.reason)


def test_a_blocked_user_can_report_the_person_who_blocked_them(client):
    ana, bob = person("ana"), person("bob")
    actions.block(bob, ana)
    login(client, "ana")
    assert client.get("/@bob").status_code == 404  # the profile stays hidden
    found = client.get("/report?username=@bob")
    assert found.status_code == 303 and found.headers["Location"].endswith("/@bob/report")
    assert client.post("/@bob/report", data={"reason": "harassment"}).status_code == 303
    report = db.session.scalar(select(Report))
    assert (report.reporter_id, report.subject_kind, report.subject_id) == (ana.id, "user", bob.id)
    assert client.get("/report?username=nobody").status_code == 404
    assert client.get("/report").status_code == 400


def test_the_blocks_page_offers_reporting(client):
    ana, bob = person("ana"), person("bob")
    actions.block(ana, bob)
    login(client, "ana")
    html = client.get("/blocks").get_data(as_text=True)
    assert 'href="/@bob/report"' in html
    assert '<label for="report-username">Username</label>' in html


@pytest.mark.parametrize("state", [PostState.HELD, PostState.REJECTED])
def test_moderators_cannot_like_comment_or_repost_a_post_under_review(client, state):
    person("moira", role=Role.MODERATOR)
    post = make_post(person("bob"), "Held study", state=state)
    login(client, "moira")
    assert client.get(f"/posts/{post.id}").status_code == 200  # they review it
    for action in ("like", "repost", "bookmark"):
        assert client.post(f"/posts/{post.id}/{action}").status_code == 403, action
    assert client.post(f"/posts/{post.id}/comments", data={"body": "hi"}).status_code == 403
    assert count(Like) == count(Repost) == count(Comment) == count(Notification) == 0


def test_artists_cannot_like_their_own_draft(client):
    ana = person("ana")
    draft = make_post(ana, "Draft", state=PostState.DRAFT)
    login(client, "ana")
    assert client.post(f"/posts/{draft.id}/like").status_code == 403
    assert client.post(f"/posts/{draft.id}/comments", data={"body": "hi"}).status_code == 403
    assert count(Like) == count(Comment) == 0
