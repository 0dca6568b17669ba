"""Feeds: Latest, Following with reposts, Trending, tags, bookmarks, home, Atom; paging, cost."""

import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import timedelta

import pytest
from markupsafe import Markup
from sqlalchemy import event, literal, select, union

from cara.core import pagination
from cara.core.extensions import db
from cara.core.models import Bookmark, Comment, Like, Post, Repost, post_tags, utcnow
from cara.posting import drafts
from cara.social import actions, feeds
from tests.factories import GOOD, csrf_token_from, hx, login, make_post, person

ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card" id="post-(\d+)"', html)]


@contextmanager
def count_queries():
    statements = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def test_latest_page_and_fragment(client):
    bob = person("bob", display_name="Bob Ink")
    posts = [make_post(bob, f"Study {i}", images=1 + (i == 0)) for i in range(3)]
    page = client.get("/latest")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Latest</h1>" in html
    assert card_ids(html) == [p.id for p in reversed(posts)]
    assert "1 / 2<span" in html and "Bob Ink" in html and "srcset=" in html
    assert "HX-Request" in page.headers["Vary"]
    fragment = client.get("/latest", headers=hx("feed-more")).get_data(as_text=True)
    assert "<html" not in fragment and card_ids(fragment) == card_ids(html)
    # hx-boost style requests (no matching target) get the whole page.
    assert "<html" in client.get("/latest", headers=hx("main")).get_data(as_text=True)


def test_keyset_paging_with_infinite_scroll_trigger(client):
    bob = person("bob")
    posts = [make_post(bob, f"p{i}") for i in range(30)]
    html = client.get("/latest").get_data(as_text=True)
    first = card_ids(html)
    assert len(first) == feeds.PAGE_SIZE
    more = re.search(r'<li class="feed-more" id="feed-more">\s*<a href="([^"]+)"', html)
    assert more and 'data-hx-trigger="revealed"' in html and 'data-hx-target="closest li"' in html
    assert ">Older posts</a>" in html
    next_url = more.group(1).replace("&amp;", "&")
    assert "before=" in next_url and "offset" not in next_url
    second = card_ids(client.get(next_url, headers=hx("feed-more")).get_data(as_text=True))
    assert len(second) == 6 and not set(first) & set(second)
    assert first + second == [p.id for p in reversed(posts)]
    # A tampered cursor is page 1, not an error.
    for bad in (
        "garbage",
        "W10",
        "WyJ4IiwgMV0",
        pagination.encode_cursor("2020-01-01T00:00:00", 10**30),
    ):
        assert client.get(f"/latest?before={bad}").status_code == 200


def test_home_is_latest_logged_out_and_following_when_following(client):
    ana, bob, cy = person("ana"), person("bob"), person("cyd")
    make_post(bob, "by bob")
    cy_post = make_post(cy, "by cy")
    assert "<h1>Latest</h1>" in client.get("/").get_data(as_text=True)
    login(client, "ana")
    assert "<h1>Latest</h1>" in client.get("/").get_data(as_text=True)  # follows nobody yet
    actions.follow(ana, bob)
    html = client.get("/").get_data(as_text=True)
    assert "<h1>Following</h1>" in html and cy_post.id not in card_ids(html)


@pytest.fixture(params=["by time", "by author"])
def following_plan(request, monkeypatch):
    """Each of Following's two query plans (feeds._follows_many): they must give one feed."""
    monkeypatch.setattr(feeds, "FOLLOWS_MANY", 0.0 if request.param == "by time" else 1.0)


def test_following_walks_by_time_only_for_viewers_who_follow_many(client):
    ana, bob = person("ana"), person("bob")
    person("cyd")

    def follows_many(authors) -> bool:
        return db.session.scalar(feeds._follows_many(authors), {"share": 0.5})

    authors = select(literal(ana.id))
    assert not follows_many(authors)  # herself: 1 of 3 accounts
    assert follows_many(union(authors, select(literal(bob.id))))


@pytest.mark.usefixtures("following_plan")
def test_following_has_followed_own_and_reposted_posts(client):
    ana, bob, cy, dee = (person(n) for n in ("ana", "bob", "cyd", "dee"))
    actions.follow(ana, bob)
    mine = make_post(ana, "mine")
    bobs = make_post(bob, "bob's", visibility="followers")
    cys = make_post(cy, "cy's")
    make_post(dee, "dee's, not followed")
    actions.repost(bob, cys)
    actions.repost(bob, mine)  # your own post comes back as itself, not as a repost
    login(client, "ana")
    html = client.get("/following").get_data(as_text=True)
    assert card_ids(html) == [cys.id, bobs.id, mine.id]
    assert re.search(r"Reposted by <a href=\"/@bob\">bob</a>", html)
    assert html.count("Reposted by") == 1
    # A post reposted by two followed accounts shows once.
    actions.follow(ana, dee)
    actions.repost(dee, cys)
    ids = card_ids(client.get("/following").get_data(as_text=True))
    assert ids.count(cys.id) == 1


def test_following_counts_for_its_plan_once_a_minute_per_viewer(client, monkeypatch):
    ana, bob = person("ana"), person("bob")
    actions.follow(ana, bob)
    login(client, "ana")
    plan = re.compile(r"count\(\*\).*FROM \(SELECT follows\.followee_id", re.DOTALL)

    def counts() -> int:
        with count_queries() as statements:
            assert client.get("/following").status_code == 200
        return len([s for s in statements if plan.search(s)])

    assert [counts(), counts()] == [1, 0]
    monkeypatch.setattr(feeds, "PLAN_SECONDS", -1)  # kept no time: every page counts
    client.application.extensions.pop("cara.following_plans")
    assert [counts(), counts()] == [1, 1]


@pytest.mark.usefixtures("following_plan")
def test_following_reads_its_entries_and_their_cards_in_one_statement(client):
    ana, bob, cy = person("ana"), person("bob"), person("cyd")
    actions.follow(ana, bob)
    older, newer = make_post(bob, "older"), make_post(bob, "newer")
    shared = make_post(cy, "cy's")
    actions.repost(bob, shared)
    login(client, "ana")
    client.get("/following")  # the plan's count, kept a minute
    with count_queries() as statements:
        html = client.get("/following").get_data(as_text=True)
    assert card_ids(html) == [shared.id, newer.id, older.id] and "Reposted by" in html
    reads = [s for s in statements if re.search(r"(FROM|JOIN) posts\b", s)]
    assert len(reads) == 1 and "posts.caption" in reads[0]


@pytest.mark.usefixtures("following_plan")
def test_only_a_repost_entry_says_who_reposted_it_and_a_page_without_one_asks_nobody(client):
    ana, bob, cy = person("ana"), person("bob"), person("cyd")
    actions.follow(ana, bob)
    actions.follow(ana, cy)
    cys = make_post(cy, "cy's")
    login(client, "ana")
    with count_queries() as statements:
        client.get("/following")
    assert not [s for s in statements if "FROM reposts JOIN users" in s]
    actions.repost(bob, cys)  # cy is followed: the post is there anyway, as cy's own
    html = client.get("/following").get_data(as_text=True)
    assert card_ids(html) == [cys.id] and "Reposted by" not in html


@pytest.mark.usefixtures("following_plan")
def test_following_pages_through_posts_and_reposts(client):
    ana, bob, cy = person("ana"), person("bob"), person("cyd")
    actions.follow(ana, bob)
    expected = []
    for i in range(15):
        expected.append(make_post(bob, f"b{i}").id)
        other = make_post(cy, f"c{i}")
        actions.repost(bob, other)
        expected.append(other.id)
    page1 = feeds.following(ana)
    page2 = feeds.following(ana, page1.next_cursor)
    assert page2.next_cursor is None
    seen = [p.id for p in page1.items + page2.items]
    assert sorted(seen) == sorted(expected) and len(set(seen)) == 30


def test_following_requires_login(client):
    response = client.get("/following")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_trending_ranks_recent_engagement_and_pages_from_one_snapshot(client):
    artist = person("artist")
    fans = [person(f"fan{i}") for i in range(4)]
    quiet, liked, old_news = (make_post(artist, n) for n in ("quiet", "liked", "old news"))
    for fan in fans[:2]:
        actions.like(fan, liked)
    week_ago = utcnow() - timedelta(days=6)
    for fan in fans:  # more reactions, but days ago
        db.session.add(Like(user_id=fan.id, post_id=old_news.id, created_at=week_ago))
    db.session.add(Comment(post_id=liked.id, author_id=fans[3].id, body="wow"))
    actions.like(artist, quiet)  # your own like does not count
    db.session.commit()
    feeds.refresh_trending()
    html = client.get("/trending").get_data(as_text=True)
    assert card_ids(html) == [liked.id, old_news.id]
    # Paging reads the snapshot named in the cursor, even after a refresh.
    page1 = feeds.trending(None, limit=1)
    for fan in fans:
        actions.like(fan, quiet)
    actions.repost(fans[0], quiet)
    feeds.refresh_trending()
    page2 = feeds.trending(None, page1.next_cursor, limit=1)
    assert [p.id for p in page1.items + page2.items] == [liked.id, old_news.id]
    assert feeds.trending(None, limit=1).items[0].id == quiet.id
    login(client, "fan0")  # signed in: never from the logged-out microcache
    fragment = client.get("/trending", headers=hx("feed-more")).get_data(as_text=True)
    assert "<html" not in fragment and quiet.id in card_ids(fragment)


def test_logged_out_cards_are_microcached(client):
    bob = person("bob")
    first = make_post(bob, "first")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [first.id]
    second = make_post(bob, "second")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [first.id]  # a few seconds old
    login(client, "bob")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [second.id, first.id]


@pytest.mark.parametrize("app_config", [{"FEED_CACHE_SECONDS": 0}])
def test_microcache_can_be_turned_off(client):
    bob = person("bob")
    first = make_post(bob, "first")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [first.id]
    second = make_post(bob, "second")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [second.id, first.id]


def test_trending_snapshot_is_requested_when_missing(client, monkeypatch):
    monkeypatch.setattr(feeds, "_refresh_requested", 0.0)
    fan, artist = person("fan"), person("artist")
    actions.like(fan, post := make_post(artist, "x"))
    assert card_ids(client.get("/trending").get_data(as_text=True)) == [post.id]
    assert feeds.current_generation() is not None


def test_tag_feed_and_bad_tags(client):
    bob = person("bob")
    ink = make_post(bob, "ink study", tags=["ink"])
    make_post(bob, "oil study", tags=["oil"])
    html = client.get("/tags/ink").get_data(as_text=True)
    assert card_ids(html) == [ink.id] and "<h1>#ink</h1>" in html
    assert 'type="application/atom+xml"' in html
    assert card_ids(client.get("/tags/INK").get_data(as_text=True)) == [ink.id]
    assert client.get("/tags/no-such-tag!").status_code == 404
    assert "Nothing here yet" in client.get("/tags/nothing").get_data(as_text=True)
    fragment = client.get("/tags/ink", headers=hx("feed-more")).get_data(as_text=True)
    assert "<html" not in fragment and card_ids(fragment) == [ink.id]


def test_a_tag_page_is_in_publication_order_whatever_the_ids_and_after_a_tag_edit(app):
    # The tag page walks the tag rows' copy of the publication time: ids that disagree with
    # the times, and a tag added to an older post by an edit, must still come out in order.
    bob = person("bob")
    newer = make_post(bob, "a", tags=["ink"], age=timedelta(hours=1))
    older = make_post(bob, "b", tags=["ink"], age=timedelta(hours=5))
    oldest = make_post(bob, "c", tags=["oil"], age=timedelta(hours=9))
    alts = {m.id: m.alt_text for m in oldest.media}
    assert not drafts.update(oldest, {"caption": "c", "tags": "ink oil", "alt": alts})
    db.session.commit()
    first = feeds.tagged(None, "ink", limit=2)
    assert [c.id for c in first.items] == [newer.id, older.id]
    rest = feeds.tagged(None, "ink", before=first.next_cursor, limit=2)
    assert [c.id for c in rest.items] == [oldest.id] and rest.next_cursor is None
    times = select(post_tags.c.published_at, Post.published_at).join(Post)
    assert all(copy == own for copy, own in db.session.execute(times))


def test_mature_posts_are_behind_a_details_control_unless_opted_in(client):
    bob = person("bob")
    mature = make_post(bob, "nude study", mature=True)
    person("ana", show_mature=True)
    person("cyd")
    html = client.get("/latest").get_data(as_text=True)
    assert '<details class="mature"><summary>Show mature content</summary>' in html
    login(client, "cyd")
    assert "Show mature content" in client.get("/latest").get_data(as_text=True)
    client.post("/logout")
    login(client, "ana")
    html = client.get("/latest").get_data(as_text=True)
    assert "Show mature content" not in html and f"post-{mature.id}" in html


def test_blocked_and_muted_accounts_are_left_out(client):
    ana, bob, cy, dee = (person(n) for n in ("ana", "bob", "cyd", "dee"))
    bobs, cys, dees = make_post(bob, "b"), make_post(cy, "c"), make_post(dee, "d")
    actions.block(ana, bob)
    actions.block(cy, ana)
    actions.mute(ana, dee)
    login(client, "ana")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == []
    client.post("/logout")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == [dees.id, cys.id, bobs.id]


def test_a_lapsed_suspension_shows_in_every_feed_without_a_restart(client, monkeypatch):
    """The feeds' statements are built once per process and the time is bound per request:
    when a suspension's end passes, the artist's posts come back."""
    ana, bob = person("ana"), person("bob")
    bobs = make_post(bob, "b", tags=["ink"])
    actions.follow(ana, bob)
    bob.suspended_at, bob.suspended_until = utcnow(), utcnow() + timedelta(days=7)
    db.session.commit()
    login(client, "ana")
    pages = ["/latest", "/tags/ink", "/following"]
    assert [card_ids(client.get(p).get_data(as_text=True)) for p in pages] == [[], [], []]
    a_week_later = utcnow() + timedelta(days=8)
    monkeypatch.setattr(feeds, "utcnow", lambda: a_week_later)
    shown = [card_ids(client.get(p).get_data(as_text=True)) for p in pages]
    assert shown == [[bobs.id], [bobs.id], [bobs.id]]


def test_private_and_followers_only_posts_stay_out_of_public_feeds(client):
    ana, bob = person("ana"), person("bob", is_private=True)
    cy = person("cyd")
    make_post(bob, "private account", tags=["ink"])
    only = make_post(cy, "followers only", visibility="followers", tags=["ink"])
    assert card_ids(client.get("/latest").get_data(as_text=True)) == []
    assert card_ids(client.get("/tags/ink").get_data(as_text=True)) == []
    actions.follow(ana, cy)
    login(client, "ana")
    assert card_ids(client.get("/tags/ink").get_data(as_text=True)) == [only.id]


def test_bookmarks_are_private_and_listed_newest_first(client):
    ana, bob = person("ana"), person("bob")
    first, second = make_post(bob, "one"), make_post(bob, "two")
    actions.bookmark(ana, second)
    actions.bookmark(ana, first)
    assert client.get("/bookmarks").status_code == 302
    login(client, "ana")
    html = client.get("/bookmarks").get_data(as_text=True)
    assert card_ids(html) == [first.id, second.id]
    assert html.count('aria-pressed="true"') == 2  # both shown as bookmarked
    fragment = client.get("/bookmarks", headers=hx("feed-more")).get_data(as_text=True)
    assert "<html" not in fragment and card_ids(fragment) == [first.id, second.id]
    client.post("/logout")
    login(client, "bob")
    assert card_ids(client.get("/bookmarks").get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "url", ["/latest", "/following", "/trending", "/tags/ink", "/bookmarks", "/search?q=art"]
)
def test_query_count_does_not_grow_with_the_page(client, url):
    ana, bob, cy = person("ana"), person("bob"), person("cyd")
    actions.follow(ana, bob)

    def add(n):
        for i in range(n):
            post = make_post(bob if i % 2 else cy, f"art {i}", tags=["ink"], images=2, commit=False)
            db.session.add_all(
                [Like(user_id=ana.id, post_id=post.id), Bookmark(user_id=ana.id, post_id=post.id)]
            )
            if i % 2 == 0:
                db.session.add(Repost(user_id=bob.id, post_id=post.id))
        db.session.commit()
        feeds.refresh_trending()

    login(client, "ana")
    counts = []
    for n in (5, 19):  # 5 posts, then 24
        add(n)
        client.get(url)  # the header's unread count is cached from here on
        with count_queries() as statements:
            html = client.get(url).get_data(as_text=True)
        assert len(card_ids(html)) == (5 if n == 5 else 24) or url == "/following"
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12
    # Limits are written into the SQL: Postgres's generic plan of a prepared statement with an
    # unknown LIMIT scans every post (docs/performance.md), so it would re-plan every page.
    limits = [m for s in statements for m in re.findall(r"LIMIT ([^\s)]+)", s)]
    assert limits and all(m.isdigit() for m in limits), limits


def test_user_atom_feed(client):
    bob = person("bob", display_name="Bob <Ink>")
    shown = make_post(bob, "Dusk & <b>ridges</b>", tags=["ink"], images=2)
    make_post(bob, "followers only", visibility="followers")
    make_post(bob, "draft", state=feeds.PostState.DRAFT)
    response = client.get("/@bob/feed.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.data)
    entries = root.findall("a:entry", ATOM_NS)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.find("a:link", ATOM_NS).get("href") == f"http://cara.test/posts/{shown.id}"
    assert entry.find("a:author/a:name", ATOM_NS).text == "Bob <Ink>"
    content = entry.find("a:content", ATOM_NS)
    assert content.get("type") == "html"
    assert 'alt="Image 1 of post' in content.text and "&lt;b&gt;ridges" in content.text
    assert ".jpg" in content.text and content.text.count("<img") == 2
    assert entry.find("a:category", ATOM_NS).get("term") == "ink"
    assert client.get("/@nobody/feed.atom").status_code == 404
    person("secret", is_private=True)
    assert client.get("/@secret/feed.atom").status_code == 404


def test_tag_atom_feed_is_limited_to_50_public_entries(client):
    bob = person("bob")
    for i in range(52):
        make_post(bob, f"p{i}", tags=["ink"], commit=False)
    db.session.commit()
    response = client.get("/tags/ink/feed.atom")
    root = ET.fromstring(response.data)
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert len(root.findall("a:entry", ATOM_NS)) == 50
    assert root.find("a:title", ATOM_NS).text == "#ink"


def test_reposts_are_counted_and_listed_once(client):
    ana, bob = person("ana"), person("bob")
    post = make_post(bob, "x")
    assert actions.repost(ana, post) and not actions.repost(ana, post)
    assert db.session.scalar(db.select(db.func.count()).select_from(Repost)) == 1
    db.session.refresh(post)
    assert post.repost_count == 1


# --- the card cache: parts of cards rendered once per post version --------------------------


def _edit(client, post, **changes):
    """Save the post's edit form (as its author, signed in on `client`) with `changes`."""
    form = {"caption": post.caption, "visibility": post.visibility.value, **changes}
    form |= {f"alt-{m.id}": changes.get("alt", m.alt_text) for m in post.media}
    assert client.post(f"/posts/{post.id}/edit", data=form).status_code == 303


@pytest.mark.parametrize("app_config", [{"FEED_CACHE_SECONDS": 0, "ITEMS_CACHE_ENTRIES": 0}])
def test_cached_cards_are_reused_until_the_post_changes(app, client):
    bob, ana = person("bob", display_name="Bob Ink"), person("ana")
    post = make_post(bob, "dusk study", images=1)
    html = client.get("/latest").get_data(as_text=True)
    assert "dusk study" in html and '0<span class="visually-hidden"> likes<' in html
    cache = app.extensions["cara.card_cache"]
    # Reused: a marker put into the cached image part comes back while the post is unchanged.
    (key, (version, parts)), *_ = [(k, v) for k, v in cache.entries.items() if k[1] != "actions"]
    cache.entries[key] = (version, (parts[0] + Markup("<!-- from the cache -->"),))
    assert "<!-- from the cache -->" in client.get("/latest").get_data(as_text=True)
    # ... and every change to what a card shows renders it anew, at once.
    actions.like(ana, post)
    html = client.get("/latest").get_data(as_text=True)
    assert "<!-- from the cache -->" not in html
    assert '1<span class="visually-hidden"> like<' in html
    login(client, "bob")
    _edit(client, post, caption="dawn study", alt="A ridge at dawn")
    client.post("/logout")
    html = client.get("/latest").get_data(as_text=True)
    assert "dawn study" in html and "dusk study" not in html and 'alt="A ridge at dawn"' in html
    bob.display_name = "Bob Oil"
    db.session.commit()
    assert "Bob Oil" in client.get("/latest").get_data(as_text=True)
    login(client, "bob")
    _edit(client, post, visibility="followers")
    client.post("/logout")
    assert card_ids(client.get("/latest").get_data(as_text=True)) == []  # the policy decides


@pytest.mark.parametrize("app_config", [{"FEED_CACHE_SECONDS": 0}])
def test_a_rename_of_the_author_or_the_images_renders_the_card_anew(app, client):
    bob = person("bob", display_name="Bob Ink")
    post = make_post(bob, "dusk study", images=1)
    html = client.get("/latest").get_data(as_text=True)
    (media,) = post.media
    old = media.renditions[0]["name"]
    assert old in html and 'href="/@bob"' in html
    bob.username = "bobby"  # the author's handle: every card links to it
    db.session.commit()
    html = client.get("/latest").get_data(as_text=True)
    assert 'href="/@bobby"' in html and 'href="/@bob"' not in html
    # The files are renamed (a post going public, a reprocess): the card names the new ones.
    media.renditions = [
        {**r, "name": r["name"].replace(old[:6], "zz9x" + old[4:6])} for r in media.renditions
    ]
    db.session.commit()
    new = media.renditions[0]["name"]
    assert new != old
    html = client.get("/latest").get_data(as_text=True)
    assert new in html and old not in html


def test_a_followers_only_card_never_reaches_a_non_follower_from_the_cache(app, client):
    ana, bob = person("ana"), person("bob")
    person("cyd")
    actions.follow(ana, bob)
    post = make_post(bob, "for my followers #ink", tags=["ink"], visibility="followers")
    pages = ("/following", "/tags/ink", "/@bob/posts", "/search?q=followers")
    browsers = {name: app.test_client() for name in ("ana", "cyd")}
    for name, browser in browsers.items():
        login(browser, name)
    shown = [u for u in pages if post.id in card_ids(browsers["ana"].get(u).get_data(as_text=True))]
    assert shown  # ana (a follower) had the card rendered and cached on these pages
    assert app.extensions["cara.card_cache"].entries and app.extensions["cara.items_cache"].entries
    for url in pages:  # cyd, and a visitor, get the same pages after it: never the card
        assert post.id not in card_ids(browsers["cyd"].get(url).get_data(as_text=True)), url
        assert post.id not in card_ids(client.get(url).get_data(as_text=True)), url
    assert browsers["cyd"].get(f"/posts/{post.id}").status_code == 404


@pytest.mark.parametrize("app_config", [{"FEED_CACHE_SECONDS": 0}])
def test_a_page_of_cards_is_reused_until_a_card_or_a_viewer_state_on_it_changes(app, client):
    ana, bob = person("ana"), person("bob", display_name="Bob Ink")
    person("cyd")
    post = make_post(bob, "dusk study", images=1)
    browsers = {name: app.test_client() for name in ("ana", "cyd")}
    for name, browser in browsers.items():
        login(browser, name)
    pressed = re.compile(r'id="post-\d+-(\w+)" aria-pressed="true"')
    for browser in (*browsers.values(), client):  # signed in, and logged out without microcache
        browser.get("/latest")
        cache = app.extensions["cara.items_cache"]
        key = next(reversed(cache.entries))
        version, parts = cache.entries[key]
        cache.entries[key] = (version, (parts[0] + Markup("<!-- page -->"), *parts[1:]))
        assert "<!-- page -->" in browser.get("/latest").get_data(as_text=True)
    actions.like(ana, post)  # a new count for everyone, a new state for ana
    pages = {name: b.get("/latest").get_data(as_text=True) for name, b in browsers.items()}
    assert all("<!-- page -->" not in html for html in pages.values())
    assert pressed.findall(pages["ana"]) == ["like"] and pressed.findall(pages["cyd"]) == []
    assert '1<span class="visually-hidden"> like<' in pages["cyd"]
    bob.display_name = "Bob Oil"  # the author's rename, and the next post, render anew
    db.session.commit()
    assert "Bob Oil" in browsers["cyd"].get("/latest").get_data(as_text=True)
    newer = make_post(bob, "dawn study")
    assert card_ids(browsers["cyd"].get("/latest").get_data(as_text=True)) == [newer.id, post.id]
    actions.unlike(ana, post)
    assert pressed.findall(browsers["ana"].get("/latest").get_data(as_text=True)) == []


def _csrf_tokens(html: str) -> set[str]:
    return set(re.findall(r'name="csrf_token" value="([^"]+)"', html))


def test_no_viewer_sees_another_viewers_state_or_token(app, client):
    ana, bob = person("ana"), person("bob")
    person("cyd")
    post = make_post(bob, "ink study")
    actions.like(ana, post)
    actions.bookmark(ana, post)
    browsers = {name: app.test_client() for name in ("ana", "bob", "cyd")}
    for name, browser in browsers.items():
        login(browser, name)
    pages = {}
    for name in ("ana", "cyd", "bob", "ana", "cyd"):  # each state rendered, then from the cache
        pages[name] = html = browsers[name].get("/latest").get_data(as_text=True)
        header = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
        assert _csrf_tokens(html) == {header}  # the page's one token, in every form
    pressed = re.compile(r'id="post-\d+-(\w+)" aria-pressed="true"')
    assert pressed.findall(pages["ana"]) == ["like", "bookmark"]
    assert pressed.findall(pages["cyd"]) == [] and "/repost" in pages["cyd"]
    assert "Report" in pages["cyd"] and "Report" not in pages["bob"]  # nobody reports their own
    assert "/repost" not in pages["bob"]
    assert _csrf_tokens(pages["ana"]) != _csrf_tokens(pages["cyd"])
    logged_out = client.get("/latest").get_data(as_text=True)
    assert "csrf_token" not in logged_out.split("<main", 1)[1] and "aria-pressed" not in logged_out


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_a_cached_action_row_posts_with_the_viewers_own_token(app, client):
    ana, bob = person("ana"), person("bob")
    person("cyd")
    post = make_post(bob, "ink study")
    browsers = {name: app.test_client() for name in ("ana", "cyd")}
    for name, browser in browsers.items():
        page = browser.get("/login").get_data(as_text=True)
        form = {"login": name, "password": GOOD, "csrf_token": csrf_token_from(page)}
        assert browser.post("/login", data=form).status_code == 303
    browsers["cyd"].get("/latest")  # cyd's row is cached, with cyd's token in it
    html = browsers["ana"].get("/latest").get_data(as_text=True)
    action = f"/posts/{post.id}/like"
    form = re.search(rf'action="{action}".*?name="csrf_token" value="([^"]+)"', html, re.S)
    response = browsers["ana"].post(action, data={"csrf_token": form.group(1), "next": "/"})
    assert response.status_code == 303
    assert db.session.get(Like, (ana.id, post.id)) is not None
