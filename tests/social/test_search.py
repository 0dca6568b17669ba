"""Search: people, tags and captions through each database's full-text index."""

import re

from sqlalchemy import func, select, text, update

from cara.core.extensions import db
from cara.core.models import Post, PostState, Tag
from cara.social import actions, search
from tests.factories import hx, login, make_post, person


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card" id="post-(\d+)"', html)]


def test_words_are_folded_and_unique():
    assert search.words("Café SKETCHES, café-sketches! a #Ink_wash") == [
        "cafe",
        "sketches",
        "ink_wash",
    ]
    assert search.words("") == [] and search.words("x") == []


def indexed(word: str) -> int:
    """Posts the full-text index holds for a word (on SQLite the FTS5 table itself, so a row
    left behind by a deleted post counts)."""
    if db.engine.dialect.name == "sqlite":
        fts = text("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH :word")
        return db.session.scalar(fts, {"word": word})
    return db.session.scalar(select(func.count()).select_from(search._matches(None, [word])))


def test_posts_match_every_word_the_last_by_prefix(client):
    bob = person("bob")
    dusk = make_post(bob, "Dusk over the ridge, watercolour", tags=["landscape"])
    make_post(bob, "Morning ridge study in ink")
    assert [p.id for p in search.posts(None, "ridge WATER").items] == [dusk.id]
    assert search.posts(None, "ridg water").items == []  # whole words, but the last
    assert [p.id for p in search.posts(None, "landsc").items] == [dusk.id]  # tags count
    assert len(search.posts(None, "ridge").items) == 2
    assert search.posts(None, "ridge nothing").items == []
    assert search.posts(None, "!!").items == []
    ink = make_post(bob, "x", tags=["ink_wash"])  # '_' separates words on both databases
    assert [p.id for p in search.posts(None, "wash").items] == [ink.id]
    assert [p.id for p in search.posts(None, "#ink_wash").items] == [ink.id]


def test_best_matches_come_first_then_the_newest(app):
    bob = person("bob")
    short = make_post(bob, "Dusk")
    make_post(bob, "A long walk by the river at dusk with friends and a sketchbook")
    newer = make_post(bob, "dusk study")
    assert [p.id for p in search.posts(None, "dusk").items][:2] == [short.id, newer.id]


def test_only_the_newest_candidates_are_ranked(app, monkeypatch):
    monkeypatch.setattr(search, "CANDIDATES", 2)
    bob = person("bob")
    posts = [make_post(bob, f"sketch {i}") for i in range(3)]
    assert {p.id for p in search.posts(None, "sketch").items} == {posts[1].id, posts[2].id}


def test_search_page_people_tags_posts_and_fragment(client):
    bob = person("bob_paints", display_name="Roberta Ink")
    person("inkling"), person("mira_ink")
    post = make_post(bob, "An ink study", tags=["inktober"])
    html = client.get("/search?q=ink").get_data(as_text=True)
    assert '<label for="search-q">Search people, tags and captions</label>' in html
    assert "@bob_paints" in html and "@inkling" in html  # display name, username
    assert "@mira_ink" in html  # part of a username
    assert [u.username for u in search.people(None, "INK")][:2] == ["inkling", "bob_paints"]
    assert '<a href="/tags/inktober">#inktober</a>' in html
    assert card_ids(html) == [post.id]
    fragment = client.get("/search?q=ink", headers=hx("feed-more")).get_data(as_text=True)
    assert "<html" not in fragment and card_ids(fragment) == [post.id]
    empty = client.get("/search").get_data(as_text=True)
    assert "<h2" not in empty and 'role="search"' in empty


def test_long_queries_are_refused(client):
    response = client.get("/search?q=" + "x" * 201)
    assert response.status_code == 400 and "at most 200" in response.get_data(as_text=True)


def test_search_pages_with_a_cursor(client):
    bob = person("bob")
    for i in range(30):
        make_post(bob, f"sketch {i}", commit=False)
    db.session.commit()
    html = client.get("/search?q=sketch").get_data(as_text=True)
    assert len(card_ids(html)) == 24
    next_url = re.search(r'id="feed-more">\s*<a href="([^"]+)"', html).group(1)
    more = client.get(next_url.replace("&amp;", "&"), headers=hx("feed-more"))
    assert len(card_ids(more.get_data(as_text=True))) == 6
    assert not set(card_ids(html)) & set(card_ids(more.get_data(as_text=True)))
    tampered = client.get("/search?q=sketch&before=not-a-cursor")
    assert tampered.status_code == 200
    assert card_ids(tampered.get_data(as_text=True)) == card_ids(html)


def test_search_respects_visibility_and_blocks(client):
    ana, bob, cyd = person("ana"), person("bob"), person("cyd")
    only = make_post(bob, "secret sketch", visibility="followers")
    shown = make_post(cyd, "public sketch")
    actions.block(ana, cyd)
    assert card_ids(client.get("/search?q=sketch").get_data(as_text=True)) == [shown.id]
    login(client, "ana")
    html = client.get("/search?q=sketch").get_data(as_text=True)
    assert card_ids(html) == []
    assert "@cyd" not in client.get("/search?q=cyd").get_data(as_text=True)
    actions.follow(ana, bob)
    assert card_ids(client.get("/search?q=sketch").get_data(as_text=True)) == [only.id]


def test_index_follows_edits_and_deletes(app):
    bob = person("bob")
    post = make_post(bob, "old words")
    post.caption = "new words"
    post.tags = [Tag(name="fresh")]
    db.session.commit()
    assert (indexed("old"), indexed("new"), indexed("words"), indexed("fresh")) == (0, 1, 1, 1)
    db.session.delete(db.session.get(Post, post.id))
    db.session.commit()
    assert indexed("words") == 0 and search.posts(None, "words").items == []


def test_reindex_rebuilds_everything(app):
    bob = person("bob")
    make_post(bob, "alpha beta")
    make_post(bob, "gamma", tags=["delta"])
    db.session.execute(update(Post).values(search_text=""))  # as a bulk import leaves posts
    db.session.commit()
    assert indexed("gamma") == 0
    assert search.reindex(batch=1) == 2
    assert len(search.posts(None, "gam").items) == 1 and indexed("delta") == 1
    result = app.test_cli_runner().invoke(args=["search", "reindex"])
    assert result.exit_code == 0 and "Indexed 2 posts" in result.output


def test_tag_suggestions_only_name_tags_on_posts_the_viewer_may_see(app):
    """Tags used only on hidden posts (draft, held, rejected, followers-only, a private
    account, a blocking author) are not suggested; one visible post is enough."""
    ana, eve, viewer = person("ana"), person("eve"), person("viewer")
    hidden_by = {
        "tagdraft": {"state": PostState.DRAFT},
        "tagheld": {"state": PostState.HELD},
        "tagrejected": {"state": PostState.REJECTED},
        "tagfollowers": {"visibility": "followers"},
    }
    for tag, fields in hidden_by.items():
        make_post(ana, "x", tags=[tag], **fields)
    make_post(person("priv", is_private=True), "x", tags=["tagprivate"])
    make_post(eve, "x", tags=["tagblocked"])
    actions.block(eve, viewer)
    make_post(ana, "x", tags=["tagshown"])
    make_post(ana, "x", tags=["tagshown"], state=PostState.HELD)
    assert [t.name for t in search.tags(viewer, "ta")] == ["tagshown"]
    assert [t.name for t in search.tags(None, "#ta")] == ["tagblocked", "tagshown"]
