"""Notifications: who is told what, grouping, the unread count in the nav, marking read."""

import re

import pytest
from sqlalchemy import func, select

from cara import imaging as media
from cara.core.extensions import db
from cara.core.models import Notification, PostState
from cara.posting import drafts
from cara.social import actions, notify
from tests.factories import hx, image_bytes, login, make_post, person
from tests.support import REDIS_URL, empty_redis


def kinds(user) -> list[str]:
    rows = db.session.scalars(
        select(Notification.kind).where(Notification.user_id == user.id).order_by(Notification.id)
    )
    return list(rows)


def test_notify_skips_self_blocks_mutes_and_repeats(app):
    ana, bob, cyd, dee = (person(n) for n in ("ana", "bob", "cyd", "dee"))
    post = make_post(ana, "x")
    assert notify.notify(ana.id, "like", ana.id, post.id) is None
    actions.block(ana, bob)
    assert notify.notify(ana.id, "like", bob.id, post.id) is None
    actions.mute(ana, cyd)
    assert notify.notify(ana.id, "like", cyd.id, post.id) is None
    assert notify.notify(ana.id, "like", dee.id, post.id) is not None
    db.session.commit()
    assert notify.notify(ana.id, "like", dee.id, post.id) is None
    with pytest.raises(ValueError):
        notify.notify(ana.id, "nonsense")


def test_moderation_outcome_is_a_notification_with_text(client):
    ana = person("ana")
    post = make_post(ana, "x")
    notify.notify(ana.id, "moderation", post_id=post.id, text="Your post was cleared: human-made.")
    db.session.commit()
    login(client, "ana")
    html = client.get("/notifications").get_data(as_text=True)
    assert "Moderation: Your post was cleared: human-made." in html


def test_social_actions_notify_and_undoing_withdraws(app):
    ana, bob = person("ana"), person("bob")
    post = make_post(ana, "x")
    actions.follow(bob, ana)
    actions.like(bob, post)
    actions.repost(bob, post)
    actions.unlike(bob, post)
    actions.like(bob, post)
    assert kinds(ana) == ["follow", "repost", "like"]
    actions.unfollow(bob, ana)
    assert kinds(ana) == ["repost", "like"]


def test_comments_replies_and_mentions(app):
    ana, bob, cyd, dee = (person(n) for n in ("ana", "bob", "cyd", "dee"))
    post = make_post(ana, "x")
    top, _ = actions.comment(bob, post, "Nice! @cyd @dee @nobody @bob")
    actions.comment(cyd, post, "Agreed @ana", top)
    assert kinds(ana) == ["comment", "comment"]  # the artist hears once per comment
    assert kinds(bob) == ["reply"]
    assert kinds(cyd) == ["mention"] and kinds(dee) == ["mention"]


def test_mentions_respect_blocks_and_followers_only_posts(app):
    ana, bob, cyd = person("ana"), person("bob"), person("cyd")
    actions.block(cyd, ana)
    only = make_post(ana, "x", visibility="followers")
    actions.comment(ana, only, "hey @bob @cyd")
    assert kinds(bob) == [] and kinds(cyd) == []  # bob cannot see it; cyd blocked ana


def test_caption_mentions_notify_when_the_post_goes_live(app):
    ana, bob = person("ana"), person("bob")
    post, errors = drafts.add_images(
        ana, None, [drafts.Upload("a.png", image_bytes())], media.Limits(), max_images=10
    )
    assert not errors
    alt = {post.media[0].id: "A red square"}
    assert not drafts.publish(post, {"caption": "With @bob #ink", "alt": alt})
    db.session.refresh(post)
    assert post.state == PostState.PUBLISHED, "the pipeline publishes a plain image"
    assert kinds(bob) == ["mention"]
    drafts.update(post, {"caption": "With @bob and @bob again", "alt": alt})
    assert kinds(bob) == ["mention"]  # already told


def test_grouped_notifications_page_and_fragment(client):
    ana = person("ana")
    post = make_post(ana, "Dusk over the ridge")
    fans = [person(f"fan{i}") for i in range(4)]
    for fan in fans:
        actions.like(fan, post)
        actions.follow(fan, ana)
    actions.comment(fans[0], post, "first comment")
    actions.comment(fans[1], post, "second comment")
    login(client, "ana")
    html = client.get("/notifications").get_data(as_text=True)
    assert re.search(
        r">fan3</a> and 3 others liked <a href=\"/posts/\d+\">“Dusk over the ridge”", html
    )
    assert "and 3 others followed you." in html
    assert html.count("commented on") == 2
    assert html.count('class="notification unread"') == 4
    fragment = client.get("/notifications", headers=hx("notifications-more"))
    assert "<html" not in fragment.get_data(as_text=True)


def test_unread_count_in_nav_and_mark_read(client):
    ana, bob = person("ana"), person("bob")
    post = make_post(ana, "x")
    login(client, "ana")
    assert '<span id="nav-unread"></span>' in client.get("/latest").get_data(as_text=True)
    actions.like(bob, post)
    actions.follow(bob, ana)
    html = client.get("/latest").get_data(as_text=True)
    assert '<span class="count">2</span><span class="visually-hidden"> unread</span>' in html
    top = re.search(
        r'name="upto" value="(\d+)"', client.get("/notifications").get_data(as_text=True)
    )
    newer, _ = actions.comment(bob, post, "arrived after the page")
    response = client.post("/notifications/read", data={"upto": top.group(1)})
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert notify.unread_count(ana) == 1  # the newer one stays unread
    response = client.post("/notifications/read", headers=hx("notifications"))
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="nav-unread" data-hx-swap-oob="true"' in html
    assert notify.unread_count(ana) == 0


def _nav_count(client) -> int:
    """The unread count the header shows (0: none shown)."""
    html = client.get("/latest").get_data(as_text=True)
    nav = html.split('id="nav-unread"', 1)[1].split("unread</span>", 1)[0]
    found = re.search(r'<span class="count">(\d+)</span>', nav)
    return int(found.group(1)) if found else 0


def _count_queries(app, fn):
    from sqlalchemy import event

    statements = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return [s for s in statements if "notifications" in s]


STORES = pytest.mark.parametrize(
    "app_config", [{}, {"REDIS_URL": REDIS_URL}], ids=["in-process", "redis"]
)


@STORES
def test_the_cached_unread_count_changes_with_every_notification_and_read(app, client):
    if app.config["REDIS_URL"]:
        empty_redis()
    ana, bob, cyd = person("ana"), person("bob"), person("cyd")
    post = make_post(ana, "x")
    login(client, "ana")
    assert _nav_count(client) == 0
    # Cached: a second page does not count again.
    assert _count_queries(app, lambda: client.get("/latest")) == []
    actions.like(bob, post)  # a new notification
    assert _nav_count(client) == 1
    actions.comment(cyd, post, "lovely")
    assert _nav_count(client) == 2
    actions.unlike(bob, post)  # withdrawn
    assert _nav_count(client) == 1
    bob_post = make_post(bob, "x")
    with_mention = make_post(bob, "hello @ana", state=PostState.PENDING)
    with_mention.state = PostState.PUBLISHED  # goes live: the caption's mention is sent
    db.session.commit()
    assert _nav_count(client) == 2
    client.post("/notifications/read")  # reading
    assert _nav_count(client) == 0
    assert _count_queries(app, lambda: client.get("/latest")) == []
    actions.like(cyd, bob_post)  # someone else's notification leaves ana's count alone
    assert _nav_count(client) == 0
    db.session.add(Notification(user_id=ana.id, kind="moderation", text="a row made directly"))
    db.session.commit()
    assert _nav_count(client) == 1


@STORES
def test_a_count_read_before_a_change_is_not_kept_under_the_new_generation(app):
    if app.config["REDIS_URL"]:
        empty_redis()
    ana, bob = person("ana"), person("bob")
    post = make_post(ana, "x")
    store = notify._unread_store()
    generation, cached = store.get(ana.id)
    assert cached is None
    stale = notify._count_unread(ana.id)  # a page counted...
    actions.like(bob, post)  # ...then a notification was committed...
    store.put(ana.id, generation, stale)  # ...and the page cached what it had counted
    assert notify.unread_count(ana) == 1


def test_unread_count_is_capped(app):
    ana = person("ana")
    for i in range(notify.UNREAD_CAP + 5):
        db.session.add(Notification(user_id=ana.id, kind="moderation", text=str(i)))
    db.session.commit()
    assert notify.unread_count(ana) == notify.UNREAD_CAP + 1


def test_notifications_need_login_and_page_by_cursor(client):
    assert client.get("/notifications").status_code == 302
    ana = person("ana")
    db.session.add_all(
        Notification(user_id=ana.id, kind="moderation", text=f"n{i}") for i in range(55)
    )
    db.session.commit()
    groups, cursor, _ = notify.page(ana)
    more, end, _ = notify.page(ana, cursor)
    assert len(groups) == 50 and len(more) == 5 and end is None
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 55
    login(client, "ana")
    assert client.get("/notifications?before=nonsense").status_code == 200


def test_a_notification_shows_only_what_its_recipient_may_see_now(client):
    """M3: a reply on a followers-only post no longer shows its caption or the reply to someone
    who stopped following (or never could see it)."""
    ana, bob, cyd = person("ana"), person("bob"), person("cyd")
    actions.follow(bob, ana)
    post = make_post(ana, "Secret sketch for followers", visibility="followers")
    mine, _ = actions.comment(bob, post, "Nice hands")
    actions.comment(ana, post, "Thanks, the reply text", parent=mine)
    login(client, "bob")
    html = client.get("/notifications").get_data(as_text=True)
    assert "Secret sketch" in html and "the reply text" in html  # a follower sees it
    actions.unfollow(bob, ana)
    html = client.get("/notifications").get_data(as_text=True)
    assert "replied to your comment on a post you cannot see now" in html
    assert "Secret sketch" not in html and "the reply text" not in html
    assert f"/posts/{post.id}" not in html
    assert cyd.id not in {n.user_id for n in db.session.scalars(select(Notification))}
