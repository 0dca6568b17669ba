"""Feed queries with keyset pagination on each feed's own sort key (never OFFSET).

A feed page costs a fixed number of queries whatever its length: the entries' ids, then their
cards (posts joined to authors and images) with the viewer's marks (liked, reposted,
bookmarked) in one query.
Pages are plain Card rows of the columns a card shows (CARD_POST, CARD_AUTHOR, CARD_MEDIA).
"""

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import (
    Float,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import selectinload

from cara.core.extensions import db
from cara.core.models import (
    Bookmark,
    Comment,
    Follow,
    Like,
    Media,
    Mute,
    Post,
    PostState,
    Repost,
    Tag,
    TrendingScore,
    User,
    Visibility,
    post_tags,
    utcnow,
)
from cara.core.pagination import (
    Page,
    decode_key,
    encode_cursor,
    inline,
    keyset,
    keyset_select,
    page_of,
    time_key,
)
from cara.core.policy import (
    followed_ids,
    hidden_authors,
    not_suspended,
    present,
    signed_in,
    suspended_ids,
    visible,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 24
NEVER = datetime.min.replace(tzinfo=UTC)
ATOM_ENTRIES = 50

# Trending: likes, comments and reposts of the last week, each worth less as it ages
# (half-life of a day), summed per post into a snapshot refreshed every few minutes.
TRENDING_WINDOW = timedelta(days=7)
TRENDING_HALF_LIFE_HOURS = 24
TRENDING_WEIGHTS = {"like": 1.0, "comment": 2.0, "repost": 3.0}
TRENDING_BUCKETS_HOURS = (3, 6, 12, 24, 48, 72, 120, 168)  # upper edges of the age buckets
TRENDING_REFRESH_SECONDS = 600
TRENDING_KEEP = 3  # snapshots kept, so a reader paging through an older one is not cut short


# What a feed card reads (feed/_card.html, social/_post_actions.html, cara.web.context.cards):
# a page loads nothing else, as plain rows (no ORM objects, no password hashes, bios or link
# lists of 24 authors): building ORM objects was a third of a signed-in page's time.
CARD_POST = (
    Post.id,
    Post.author_id,
    Post.caption,
    Post.state,
    Post.visibility,
    Post.mature,
    Post.like_count,
    Post.comment_count,
    Post.repost_count,
    Post.published_at,
    Post.updated_at,
)
CARD_AUTHOR = (User.id, User.username, User.display_name, User.is_private, User.avatar_media_id)
# The renditions as JSON text, decoded only when a card is rendered: a page whose cards come
# from the items cache never needs them (decoding was a tenth of a page's CPU).
CARD_MEDIA = (Media.id, Media.post_id, Media.position, Media.alt_text, cast(Media.renditions, Text))


@dataclass(slots=True)
class CardAuthor:
    """A card's author: the CARD_AUTHOR columns of a User."""

    id: int
    username: str
    display_name: str
    is_private: bool
    avatar_media_id: int | None

    name = User.name  # the same rule as the model's (display name, else username)


@dataclass(slots=True)
class CardMedia:
    """A card's image: the CARD_MEDIA columns of a Media row."""

    id: int
    post_id: int
    position: int
    alt_text: str
    renditions_json: str | None
    decoded: list | None = None

    @property
    def renditions(self) -> list:
        if self.decoded is None:
            self.decoded = json.loads(self.renditions_json or "[]")
        return self.decoded


def renditions_version(media) -> object:
    """What an image's card shows of its renditions, to version the card by: the JSON text of a
    CardMedia (not decoded), the rendition names of a Media row."""
    if isinstance(media, CardMedia):
        return media.renditions_json
    return tuple(r["name"] for r in media.renditions)


@dataclass(slots=True)
class Card:
    """A post as a feed shows it: the CARD_POST columns, its author and its images."""

    id: int
    author_id: int
    caption: str
    state: PostState
    visibility: Visibility
    mature: bool
    like_count: int
    comment_count: int
    repost_count: int
    published_at: datetime
    updated_at: datetime
    author: CardAuthor
    media: list[CardMedia]


@dataclass
class Marks:
    """Which posts of a page the viewer has liked, reposted and bookmarked."""

    liked: set[int] = field(default_factory=set)
    reposted: set[int] = field(default_factory=set)
    bookmarked: set[int] = field(default_factory=set)


@dataclass
class FeedPage(Page):
    """A page of posts (Card rows), with the viewer's marks on them."""

    marks: Marks = field(default_factory=Marks)
    reposted_by: dict[int, CardAuthor] = field(default_factory=dict)  # Following: post -> reposter
    entries: list[tuple[int, int]] = field(default_factory=list)  # Following: (kind, id) in order


MARKED = (("liked", Like), ("reposted", Repost), ("bookmarked", Bookmark))  # Marks' sets


def _card_query(marked: bool, ids=None, entries=None):
    """Posts `ids` (the list `:ids`, or a select of ids), or those of the subquery `entries`
    (post_id, at, reposted: its two columns come last), joined to authors and images, with the
    marks of `:viewer` when `marked`. Built once: building and keying a statement costs more
    CPU than running this one."""
    viewer = bindparam("viewer")
    flags = [exists().where(m.user_id == viewer, m.post_id == Post.id) for _, m in MARKED]
    stmt = select(*CARD_POST, *CARD_AUTHOR, *CARD_MEDIA, *(flags if marked else ()))
    if entries is None:
        stmt = stmt.where(Post.id.in_(bindparam("ids", expanding=True) if ids is None else ids))
    else:
        stmt = stmt.add_columns(entries.c.at, entries.c.reposted).select_from(entries)
        stmt = stmt.join(Post, Post.id == entries.c.post_id)
    return (
        stmt.join(User, User.id == Post.author_id)
        .outerjoin(Media, Media.post_id == Post.id)
        .order_by(Media.position)
    )


CARD_QUERY, MARKED_CARD_QUERY = _card_query(False), _card_query(True)


def marked_cards(viewer, ids: list[int]) -> tuple[list[Card], Marks]:
    """The cards of the posts `ids`, in that order, and the viewer's marks on them, in one
    query (the marks as EXISTS columns)."""
    viewer = signed_in(viewer)
    if not ids:
        return [], Marks()
    if viewer is None:
        marked, rows = (), db.session.connection().execute(CARD_QUERY, {"ids": ids})
    else:
        params = {"ids": ids, "viewer": viewer.id}
        marked, rows = MARKED, db.session.connection().execute(MARKED_CARD_QUERY, params)
    loaded, marks = _load_cards(rows, marked)
    return [loaded[i] for i in ids if i in loaded], marks


def _load_cards(rows, marked, tails: dict | None = None) -> tuple[dict[int, Card], Marks]:
    """Cards by id from a card query's rows (one per image), and the `marked` flags' marks;
    `tails` gets each post's columns after the flags (a query of `entries`)."""
    post_end = len(CARD_POST)
    author_end = post_end + len(CARD_AUTHOR)
    media_end = author_end + len(CARD_MEDIA)
    flags_end = media_end + len(marked)
    loaded: dict[int, Card] = {}
    marks = Marks()
    for row in rows:  # Core rows: the ORM's result layer is not needed
        card = loaded.get(row[0])
        if card is None:
            author = CardAuthor(*row[post_end:author_end])
            card = loaded[row[0]] = Card(*row[:post_end], author=author, media=[])
            for (kind, _), on in zip(marked, row[media_end:flags_end], strict=True):
                if on:
                    getattr(marks, kind).add(card.id)
            if tails is not None:
                tails[card.id] = row[flags_end:]
        if row[author_end] is not None:  # an image (the outer join's nulls: none)
            card.media.append(CardMedia(*row[author_end:media_end]))
    return loaded, marks


def keyset_page(viewer, stmt, sort, before_key, limit: int, prefix: tuple = ()) -> FeedPage:
    """Run `stmt` (a select of Post joined to its author) highest `sort` first, after
    `before_key` ((sort value, post id) from the previous page's cursor), with the viewer's marks.
    """
    ids = stmt.with_only_columns(Post.id)  # the page's ids, then its cards
    page = keyset(ids, (sort, Post.id), before_key, limit, prefix=prefix)
    posts, marks = marked_cards(viewer, page.items)
    return FeedPage(posts, page.next_cursor, marks)


def marks_for(viewer, posts: list[Post]) -> Marks:
    """The viewer's likes, reposts and bookmarks among `posts`, in one query."""
    viewer = signed_in(viewer)
    marks = Marks()
    if viewer is None or not posts:
        return marks
    ids = [p.id for p in posts]
    stmt = union_all(
        select(literal("liked").label("kind"), Like.post_id).where(
            Like.user_id == viewer.id, Like.post_id.in_(ids)
        ),
        select(literal("reposted"), Repost.post_id).where(
            Repost.user_id == viewer.id, Repost.post_id.in_(ids)
        ),
        select(literal("bookmarked"), Bookmark.post_id).where(
            Bookmark.user_id == viewer.id, Bookmark.post_id.in_(ids)
        ),
    )
    for kind, post_id in db.session.connection().execute(stmt):
        getattr(marks, kind).add(post_id)
    return marks


class _AnyViewer:
    """Stands for the viewer in a statement built once: its id is a bound parameter."""

    id = bindparam("viewer", type_=Integer)
    is_authenticated = True
    is_moderator = False


@functools.cache
def _by_time(feed: str, signed: bool, after: bool, limit: int):
    """The cards of a page of Latest or a tag (`:tag`), newest first, for a viewer (`:viewer`)
    or nobody, after the cursor (`:before_at`, `:before_id`) or from the top, at `:now`: the
    page's ids and its cards in one round trip. Built once per process: building and keying
    these statements cost more CPU than running them."""
    viewer, now = (_AnyViewer if signed else None), bindparam("now")
    # `author_id + 0`: past a cursor, SQLite would otherwise scan the accounts and gather each
    # one's posts before the cursor by (author, time), then sort them (2.4 ms at page 500 of
    # 100k posts instead of 0.24); the walk by time stops after a page.
    stmt = select(Post.id).join(User, User.id == Post.author_id + 0)
    if feed == "latest":  # public posts only, even from people the viewer follows
        stmt = stmt.where(*visible(None, now=now))
        if signed:
            stmt = stmt.where(Post.author_id.not_in(hidden_authors(viewer)))
        order = (Post.published_at, Post.id)
    else:
        # The tag rows' own copy of the time: the walk of (tag, time) stops after a page
        # instead of sorting every post of the tag.
        tag = select(Tag.id).where(Tag.name == bindparam("tag")).scalar_subquery()
        stmt = stmt.join(post_tags, post_tags.c.post_id == Post.id).where(
            post_tags.c.tag_id == tag, *visible(viewer, now=now)
        )
        order = (post_tags.c.published_at, post_tags.c.post_id)
    key = (bindparam("before_at"), bindparam("before_id")) if after else None
    page = keyset_select(stmt, order, key, limit).subquery()
    return _card_query(signed, select(page.c[0]))


def _page_by_time(feed: str, viewer, before: str | None, limit: int, **params) -> FeedPage:
    viewer = signed_in(viewer)
    key = time_key(before)
    stmt = _by_time(feed, viewer is not None, key is not None, limit)
    params["now"] = utcnow()
    if viewer is not None:
        params["viewer"] = viewer.id
    if key is not None:
        params["before_at"], params["before_id"] = key
    rows = db.session.connection().execute(stmt, params)
    loaded, marks = _load_cards(rows, MARKED if viewer is not None else ())
    # The database chose the page; this puts it in the same order (a post made live without
    # a time, as only tests do, last: SQLite's order).
    newest = sorted(loaded.values(), key=lambda c: (c.published_at or NEVER, c.id), reverse=True)
    page = page_of([(c, c.published_at, c.id) for c in newest], limit)
    return FeedPage(page.items, page.next_cursor, marks)


def latest(viewer: User | None, before: str | None = None, limit: int = PAGE_SIZE) -> FeedPage:
    """Public published posts, newest first (less what the viewer blocked or muted)."""
    return _page_by_time("latest", viewer, before, limit)


def by_author(viewer: User | None, author: User, before: str | None = None, limit=PAGE_SIZE):
    """An artist's timeline: what `viewer` may see of it, newest first."""
    viewer = signed_in(viewer)
    stmt = (
        select(Post)
        .join(Post.author)
        .where(Post.author_id == author.id, Post.published_at.is_not(None))
    )
    if viewer is None or viewer.id != author.id:
        stmt = stmt.where(*visible(viewer, moderator=True))
    return keyset_page(viewer, stmt, Post.published_at, time_key(before), limit)


def tagged(viewer: User | None, tag: str, before: str | None = None, limit=PAGE_SIZE) -> FeedPage:
    """Posts with a tag, newest first."""
    return _page_by_time("tag", viewer, before, limit, tag=tag)


def bookmarks(viewer: User, before: str | None = None, limit=PAGE_SIZE) -> FeedPage:
    """The viewer's private bookmarks, most recently saved first."""
    stmt = (
        select(Post)
        .join(Post.author)
        .join(Bookmark, and_(Bookmark.post_id == Post.id, Bookmark.user_id == viewer.id))
        .where(*visible(viewer))
    )
    return keyset_page(viewer, stmt, Bookmark.created_at, time_key(before), limit)


def follows_anyone(viewer) -> bool:
    viewer = signed_in(viewer)
    return viewer is not None and db.session.scalar(followed_ids(viewer).limit(1)) is not None


LOCAL, ELSEWHERE = 1, 0  # the kind of a Following entry: a post here, or a remote post


def _following_key(before: str | None) -> tuple | None:
    """(time, kind, id) of the last entry of the previous page; a cursor of two values (time,
    id: made before remote posts joined the feed) is a local post's."""
    key = decode_key(before, datetime, int, int)
    if key is None and (old := time_key(before)) is not None:
        key = (old[0], LOCAL, old[1])
    return key if key is None or key[1] in (LOCAL, ELSEWHERE) else None


def _entries_after(at, ident, kind: int, key: tuple):
    """Entries of `kind` after `key` in the feed's order: time, then local before remote,
    then id, all descending (`at <= v` first: an index range)."""
    at_key, kind_key, id_key = key
    if kind < kind_key:  # at the same time, this kind comes after the cursor's
        return at <= at_key
    if kind > kind_key:
        return at < at_key
    return and_(at <= at_key, or_(at < at_key, ident < id_key))


def following(
    viewer: User, before: str | None = None, limit: int = PAGE_SIZE, elsewhere=None
) -> FeedPage:
    """Posts of the accounts `viewer` follows (and their own), with what those accounts reposted,
    and `elsewhere`: a select of (post_id, at) of remote posts for the viewer (federation).

    A repost shows once, at its first repost by someone followed, and not at all when its artist
    is followed anyway (the original is in the feed, without a "Reposted by"). Muted accounts
    are left out. The page's local cards are `items`; `entries` is the whole page in order, as
    (kind, id).
    """
    key = _following_key(before)
    params = {"viewer": viewer.id, "now": utcnow(), "share": FOLLOWS_MANY}
    if key is not None:
        params["before_at"], params["before_id"] = key[0], key[2]
    if elsewhere is None:  # the statements are built once, the viewer a bound parameter
        sql = _bound_following(None if key is None else key[1], limit)
    else:
        sql = _following_sql(viewer, key, limit, elsewhere)
    run = db.session.connection().execute
    many = _walks_by_time(sql, params)
    loaded = None
    if elsewhere is None:  # posts here only: the entries and their cards in one round trip
        tails: dict = {}
        loaded, marks = _load_cards(run(sql.cards(many), params), MARKED, tails)
        rows = [_Entry(i, at, LOCAL, reposted) for i, (at, reposted) in tails.items()]
        rows.sort(key=lambda r: (r.at or NEVER, r.post_id), reverse=True)
    else:
        rows = run(sql.page(many), params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    local = [r.post_id for r in rows if r.kind == LOCAL]
    if loaded is None:
        posts, marks = marked_cards(viewer, local)
    else:
        posts = [loaded[i] for i in local]
    last = rows[-1] if rows else None
    cursor = encode_cursor(last.at, last.kind, last.post_id) if more else None
    page = FeedPage(posts, cursor, marks)
    page.entries = [(r.kind, r.post_id) for r in rows]
    shared = [r.post_id for r in rows if r.reposted]
    if shared:  # no query when the page holds no repost
        reposters = run(sql.reposters, {**params, "ids": shared})
        # The earliest repost wins: it comes last.
        page.reposted_by = {row[0]: CardAuthor(*row[1:]) for row in reposters}
    return page


@dataclass
class _FollowingSQL:
    many: object  # whether the viewer follows more than `:share` of all accounts
    reposters: object  # the first followed account to repost each of the posts `:ids`
    parts: tuple  # what page() builds from: (viewer, sources, authors, key, limit, elsewhere)
    pages: dict = field(default_factory=dict)  # the page of entries per answer of `many`

    def page(self, many: bool):
        """The plan's page of entries, built the first time it is asked for."""
        if many not in self.pages:
            viewer, sources, authors, key, limit, elsewhere = self.parts
            self.pages[many] = _following_page(
                viewer, sources, authors, many, key, limit, elsewhere
            )
        return self.pages[many]

    def cards(self, many: bool):
        """The plan's page of entries joined to their cards and the viewer's marks (for a page
        without posts from elsewhere), built the first time it is asked for."""
        if ("cards", many) not in self.pages:
            entries = self.page(many).subquery()
            self.pages["cards", many] = _card_query(True, entries=entries)
        return self.pages["cards", many]


class _Entry(NamedTuple):
    """A Following entry, as the page's query gives it."""

    post_id: int
    at: datetime
    kind: int
    reposted: bool


@functools.cache
def _bound_following(after_kind: int | None, limit: int) -> _FollowingSQL:
    """Following's statements for a viewer `:viewer` with no posts from elsewhere, after a
    cursor of `after_kind` (`:before_at`, `:before_id`) or from the top; built once per process:
    building and keying them cost more CPU than running them."""
    key = (
        None if after_kind is None else (bindparam("before_at"), after_kind, bindparam("before_id"))
    )
    return _following_sql(_AnyViewer, key, limit, None)


def _following_sql(viewer, key: tuple | None, limit: int, elsewhere) -> _FollowingSQL:
    me = viewer.id
    sources = followed_ids(viewer).where(
        Follow.followee_id.not_in(select(Mute.muted_id).where(Mute.muter_id == me))
    )
    # One IN list, not "IN (...) OR author = me": an OR makes SQLite gather every post of each
    # followed account before sorting (40 ms at 100k posts instead of 3).
    authors = union(
        sources.where(Follow.followee_id.not_in(suspended_ids(bindparam("now")))),
        select(cast(me, Integer)),
    )
    reposters = (
        select(Repost.post_id, *CARD_AUTHOR)
        .join(User, User.id == Repost.user_id)
        .where(Repost.post_id.in_(bindparam("ids", expanding=True)), Repost.user_id.in_(sources))
        .order_by(Repost.created_at.desc())
    )
    parts = (viewer, sources, authors, key, limit, elsewhere)
    return _FollowingSQL(_follows_many(authors), reposters, parts)


def _following_page(viewer, sources, authors, many: bool, key, limit: int, elsewhere):
    """The page's entries (post_id, at, kind, reposted), newest first. Following many: walk the
    posts newest first and stop at the page's end (`author_id + 0` keeps the planner off the
    author index); few: gather each author's posts and sort them."""
    me = viewer.id
    # Many: "IN (...) IS true" keeps Postgres from turning the IN into a join, which it walks
    # as a nested loop over every followed account per post; as a filter it is a hash lookup.
    followed = (Post.author_id + 0).in_(authors).is_(True) if many else Post.author_id.in_(authors)
    own = select(
        Post.id.label("post_id"),
        Post.published_at.label("at"),
        literal(LOCAL).label("kind"),
        literal(False).label("reposted"),
    ).where(Post.state == PostState.PUBLISHED, followed, present(Post.author_id))
    if key:
        own = own.where(_entries_after(Post.published_at, Post.id, LOCAL, key))
    own = own.order_by(Post.published_at.desc(), Post.id.desc()).limit(inline(limit + 1))

    first = func.min(Repost.created_at)
    shared = (
        select(
            Repost.post_id.label("post_id"),
            first.label("at"),
            literal(LOCAL).label("kind"),
            literal(True).label("reposted"),
        )
        .join(Post, Post.id == Repost.post_id)
        .join(User, User.id == Post.author_id)
        .where(
            Repost.user_id.in_(sources),
            Post.state == PostState.PUBLISHED,
            Post.visibility == Visibility.PUBLIC,
            User.is_private.is_(False),
            present(Post.author_id),
            Post.author_id != me,
            Post.author_id.not_in(sources),
            Post.author_id.not_in(hidden_authors(viewer)),
            not_suspended(bindparam("now")),
        )
        .group_by(Repost.post_id)
    )
    if key:
        shared = shared.having(_entries_after(first, Repost.post_id, LOCAL, key))
    shared = shared.order_by(first.desc(), Repost.post_id.desc()).limit(inline(limit + 1))

    parts = [select(own.subquery()), select(shared.subquery())]
    if elsewhere is not None:
        remote = elsewhere.subquery()
        far = select(
            remote.c.post_id,
            remote.c.at,
            literal(ELSEWHERE).label("kind"),
            literal(False).label("reposted"),
        )
        if key:
            far = far.where(_entries_after(remote.c.at, remote.c.post_id, ELSEWHERE, key))
        parts.append(
            select(
                far.order_by(remote.c.at.desc(), remote.c.post_id.desc())
                .limit(inline(limit + 1))
                .subquery()
            )
        )
    entries = union_all(*parts).subquery()
    return (
        select(entries.c.post_id, entries.c.at, entries.c.kind, entries.c.reposted)
        .order_by(entries.c.at.desc(), entries.c.kind.desc(), entries.c.post_id.desc())
        .limit(inline(limit + 1))
    )


FOLLOWS_MANY = 0.01  # the share of accounts above which Following walks the posts by time
# Which plan suits a viewer changes only when they follow or unfollow many accounts, and both
# plans give the same page: the answer is kept this long per process rather than counted on
# every page.
PLAN_SECONDS = 60


def _walks_by_time(sql: _FollowingSQL, params: dict) -> bool:
    # The app's answers: (viewer, share) -> (walk by time, until).
    plans = current_app.extensions.setdefault("cara.following_plans", {})
    key, now = (params["viewer"], params["share"]), time.monotonic()
    hit = plans.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    many = bool(db.session.connection().execute(sql.many, params).scalar())
    if len(plans) >= 10_000:
        plans.clear()
    plans[key] = (many, now + PLAN_SECONDS)
    return many


def _follows_many(authors):
    """Whether `authors` are more than `:share` (FOLLOWS_MANY) of all accounts: a walk of the
    posts by time then meets the page's posts within some thousand rows (at 20,000 posts,
    following 100 of 500 artists: 0.07 ms instead of 6-32 ms), while for a viewer who follows
    few it would read every post (12-40 ms instead of a sort of their few)."""
    followed = select(func.count()).select_from(authors.subquery()).scalar_subquery()
    everyone = select(func.count(User.id)).scalar_subquery()
    return select(followed > everyone * bindparam("share", type_=Float))


# --- trending --------------------------------------------------------------------------------


def _decay(at, now: datetime):
    """Weight of an event by its age: 1/2 per half-life, piecewise constant over the buckets."""
    whens, lower = [], 0
    for upper in TRENDING_BUCKETS_HOURS:
        middle = (lower + upper) / 2
        whens.append(
            (at >= now - timedelta(hours=upper), 0.5 ** (middle / TRENDING_HALF_LIFE_HOURS))
        )
        lower = upper
    return case(*whens, else_=0.0)


def refresh_trending(now: datetime | None = None) -> int:
    """Compute a new trending snapshot in one INSERT ... SELECT; return its generation."""
    now = now or utcnow()
    since = now - TRENDING_WINDOW
    w = TRENDING_WEIGHTS
    events = union_all(
        select(
            Like.post_id,
            Like.user_id.label("actor_id"),
            Like.created_at.label("at"),
            literal(w["like"]).label("weight"),
        ).where(Like.created_at >= since),
        select(Comment.post_id, Comment.author_id, Comment.created_at, literal(w["comment"])).where(
            Comment.created_at >= since
        ),
        select(Repost.post_id, Repost.user_id, Repost.created_at, literal(w["repost"])).where(
            Repost.created_at >= since
        ),
    ).subquery()
    current = current_generation() or 0
    generation = max(int(time.time()), current + 1)
    scores = (
        select(
            literal(generation, Integer),
            events.c.post_id,
            func.sum(events.c.weight * _decay(events.c.at, now)),
        )
        .join(Post, Post.id == events.c.post_id)
        .join(User, User.id == Post.author_id)
        .where(
            Post.state == PostState.PUBLISHED,
            Post.visibility == Visibility.PUBLIC,
            User.is_private.is_(False),
            events.c.actor_id != Post.author_id,  # your own likes do not make you trend
        )
        .group_by(events.c.post_id)
    )
    db.session.execute(
        insert(TrendingScore).from_select(["generation", "post_id", "score"], scores)
    )
    kept = select(TrendingScore.generation).distinct().order_by(TrendingScore.generation.desc())
    if kept_generations := db.session.scalars(kept.limit(TRENDING_KEEP)).all():
        oldest = kept_generations[-1]
        db.session.execute(delete(TrendingScore).where(TrendingScore.generation < oldest))
    db.session.commit()
    return generation


def current_generation() -> int | None:
    return db.session.scalar(select(func.max(TrendingScore.generation)))


_refresh_requested = 0.0  # per process: when this process last asked for a new snapshot


def _fresh(generation: int | None) -> int | None:
    """The snapshot to read; asks for a new one in the background when it is missing or stale."""
    global _refresh_requested
    now = time.time()
    stale = generation is None or now - generation > TRENDING_REFRESH_SECONDS
    # One request per process and period asks; the others read what there is.
    if stale and now - _refresh_requested > TRENDING_REFRESH_SECONDS:
        from cara.core import tasks

        _refresh_requested = now
        tasks.enqueue(refresh_trending_job)
        generation = current_generation()  # done already when jobs run inline
    return generation


def refresh_trending_job() -> None:
    """Background entry point (no arguments; idempotent: a newer snapshot replaces it)."""
    try:
        refresh_trending()
    except Exception:  # a concurrent refresh took the same generation: theirs will do
        db.session.rollback()
        log.exception("trending refresh failed")


def trending(viewer: User | None, before: str | None = None, limit: int = PAGE_SIZE) -> FeedPage:
    """Posts ranked by recent engagement, paged through one snapshot of the scores."""
    viewer = signed_in(viewer)
    generation, key = None, None
    if (values := decode_key(before, int, float, int)) is not None:
        generation, key = values[0], values[1:]
    if generation is not None:
        exists = select(TrendingScore.generation).where(TrendingScore.generation == generation)
        if db.session.scalar(exists.limit(1)) is None:  # pruned since: carry on in the newest
            generation = None
    if generation is None:
        generation = _fresh(current_generation())
    stmt = (
        select(Post)
        .join(Post.author)
        .join(TrendingScore, TrendingScore.post_id == Post.id)
        .where(TrendingScore.generation == generation, *visible(viewer))
    )
    return keyset_page(viewer, stmt, TrendingScore.score, key, limit, prefix=(generation,))


# --- Atom ------------------------------------------------------------------------------------


def atom_entries(author: User | None = None, tag: str | None = None) -> list[Post]:
    """The last public posts of an artist or a tag, for Atom feeds (nothing followers-only)."""
    stmt = select(Post).join(Post.author).where(*visible(None))
    if author is not None:
        stmt = stmt.where(Post.author_id == author.id)
    if tag is not None:
        stmt = (
            stmt.join(post_tags, post_tags.c.post_id == Post.id)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(Tag.name == tag)
        )
    stmt = stmt.options(selectinload(Post.media), selectinload(Post.author))
    stmt = stmt.order_by(Post.published_at.desc(), Post.id.desc())
    return list(db.session.scalars(stmt.limit(ATOM_ENTRIES)))


def atom_rendition(media: Media) -> dict | None:
    """The image a feed reader shows: the largest JPEG up to 1280 px wide (else any format)."""
    full = [r for r in media.renditions if not r.get("sq")]
    jpegs = [r for r in full if r["fmt"] == "jpeg"] or full
    fitting = [r for r in jpegs if r["w"] <= 1280] or jpegs
    return max(fitting, key=lambda r: r["w"], default=None)


def media_by_id(media_id: int) -> Media | None:
    return db.session.get(Media, media_id)


def media_by_ids(media_ids) -> dict[int, Media]:
    """Media rows by id, in one query (the avatars of a page's authors)."""
    ids = {i for i in media_ids if i}
    return (
        {m.id: m for m in db.session.scalars(select(Media).where(Media.id.in_(ids)))} if ids else {}
    )


def first_image(post: Post) -> Media | None:
    return next((m for m in post.media if m.renditions), None)
