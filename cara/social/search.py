"""Search: people, tags and captions.

Captions and tags are folded into `posts.search_text` by a flush hook (whatever code changes a
post's caption or tags) and indexed by each database's full-text engine, created by migrations:
SQLite FTS5 (`posts_fts`, kept in step by triggers) and a Postgres GIN index on its tsvector.
A search ranks (bm25, ts_rank) the newest CANDIDATES posts matching every word, so its cost does
not grow with the number of posts or with how common a word is.
"""

import re
import unicodedata

from sqlalchemy import (
    Float,
    bindparam,
    cast,
    event,
    func,
    inspect,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from cara.core import pagination, policy
from cara.core.extensions import db
from cara.core.models import Post, Tag, User, post_tags
from cara.core.pagination import inline
from cara.social import feeds

QUERY_MAX = 200
TERMS_MAX = 6  # words of a query that count
TERM_MIN = 2  # shorter words are neither indexed nor searched
TERM_MAX = 50
CANDIDATES = 1000  # the newest matching posts a search ranks (docs/social.md)
PEOPLE_MAX = 20
TAGS_MAX = 20
_WORD = re.compile(r"\w+")
_FTS = literal_column("posts_fts")  # the FTS5 table as a value: MATCH and bm25() take it
_FTS_ROWID = literal_column("posts_fts.rowid")


def words(text: str) -> list[str]:
    """Lower-case words without accents, in order, each once: 'Café sketches!' -> cafe, sketches."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    found = (w[:TERM_MAX] for w in _WORD.findall(plain) if len(w) >= TERM_MIN)
    return list(dict.fromkeys(found))


def _upper(prefix: str) -> str:
    """The smallest string after every string starting with `prefix` (a range's end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _prefix(column, prefix: str):
    # A range, not LIKE: LIKE 'x%' uses no index on Postgres (non-C collation) or SQLite.
    return column >= prefix, column < _upper(prefix)


def _tokens(text: str) -> list[str]:
    """Words as the indexes hold them: '_' separates words ('ink_wash' is 'ink', 'wash'), so
    tokens are letters and digits only, safe inside FTS5 and tsquery quotes."""
    parts = (p for w in words(text) for p in w.split("_"))
    return list(dict.fromkeys(p for p in parts if len(p) >= TERM_MIN))


def search_text(caption: str | None, tag_names) -> str:
    """What the full-text indexes hold for a post: the folded words of its caption and tags
    (a tsvector on Postgres, read from this space-separated form as is: no parser)."""
    return " ".join(_tokens(" ".join([caption or "", *tag_names])))


def _tsquery(query: str):
    return cast(inline(query), TSQUERY)


def _matches(viewer, tokens: list[str]):
    """(post_id, score): the newest CANDIDATES posts `viewer` may see with every token as a
    word, the last one as a prefix (search as you type), scored by the engine's relevance
    (higher is better)."""
    # Whole words but the last: a prefix makes Postgres gather every posting of every word it
    # starts (all 120,000 of a common word at 1M posts) before intersecting.
    *words_, last = tokens
    if db.session.get_bind().dialect.name == "postgresql":
        terms = [f"'{t}'" for t in words_] + [f"'{last}':*"]
        every = _tsquery(" & ".join(terms))
        window = (
            select(Post.id.label("post_id"), Post.search_text)
            .join(Post.author)
            .where(Post.search_text.op("@@")(every), *policy.visible(viewer))
            .order_by(Post.id.desc())
            .limit(inline(CANDIDATES))
            .subquery()
        )
        # Ranked after the limit, so only the window pays for ts_rank; with "any word": ts_rank
        # of an AND query needs positions, which are not kept.
        anyof = _tsquery(" | ".join(terms))
        score = cast(func.ts_rank(window.c.search_text, anyof, 1), Float)
        return select(window.c.post_id, score.label("score")).subquery("matches")
    # FTS5 yields its matches newest rowid first and the LIMIT stops it; bm25 is lower-better.
    match = " ".join([f'"{t}"' for t in words_] + [f'"{last}"*'])
    stmt = (
        select(Post.id.label("post_id"), cast(-func.bm25(_FTS), Float).label("score"))
        .select_from(table("posts_fts"))
        .join(Post, Post.id == _FTS_ROWID)
        .join(Post.author)
        .where(_FTS.op("MATCH")(match), *policy.visible(viewer))
        .order_by(_FTS_ROWID.desc())
        .limit(inline(CANDIDATES))
    )
    return stmt.subquery("matches")


def posts(viewer, q: str, before: str | None = None, limit: int = feeds.PAGE_SIZE) -> feeds.Page:
    """Posts whose caption or tags have each query word (the last as a prefix), best match
    first (then newest), among the newest CANDIDATES matches."""
    tokens = _tokens(q)[:TERMS_MAX]
    if not tokens:
        return feeds.FeedPage([], None)
    matches = _matches(viewer, tokens)
    key = pagination.decode_key(before, float, int)
    # Page the (id, score) window, then load the page's posts: joining posts to the window
    # would let Postgres hash-join (scan) all of posts.
    columns = (matches.c.score, matches.c.post_id)
    page = pagination.keyset(select(matches.c.post_id), columns, key, limit)
    items, marks = feeds.marked_cards(viewer, page.items)  # in the page's order
    return feeds.FeedPage(items, page.next_cursor, marks)


def people(viewer, q: str, limit: int = PEOPLE_MAX) -> list[User]:
    """Accounts whose username or display name contains the query ('ink' finds @mira_ink):
    the exact username first, then usernames starting with it, then the rest by name."""
    q = q.strip().lstrip("@").casefold()[:60]
    if not q:
        return []
    stmt = select(User).where(
        or_(
            func.lower(User.username).contains(q, autoescape=True),
            func.lower(User.display_name).contains(q, autoescape=True),
        ),
        policy.present(User.id),
    )
    if (viewer := policy.signed_in(viewer)) is not None:
        stmt = stmt.where(User.id.not_in(policy.blocked_either_way(viewer)))
    starts = func.lower(User.username).startswith(q, autoescape=True)
    stmt = stmt.order_by((User.username == q).desc(), starts.desc(), User.username).limit(
        inline(limit)
    )
    return list(db.session.scalars(stmt))


def tags(viewer, q: str, limit: int = TAGS_MAX) -> list[Tag]:
    """Tags starting with the query's first word that are on at least one post `viewer` may
    see: a tag used only on drafts, held or followers-only posts is not suggested."""
    terms = words(q.replace("#", " "))
    if not terms:
        return []
    seen = (
        select(post_tags.c.post_id)
        .join(Post, Post.id == post_tags.c.post_id)
        .join(Post.author)
        .where(post_tags.c.tag_id == Tag.id, *policy.visible(viewer))
    )
    stmt = select(Tag).where(*_prefix(Tag.name, terms[0]), seen.exists())
    return list(db.session.scalars(stmt.order_by(Tag.name).limit(inline(limit))))


def reindex(batch: int = 1000) -> int:
    """Write every post's search text again (after a bulk import, or on an existing database)."""
    total, last = 0, 0
    while rows := db.session.execute(
        select(Post.id, Post.caption).where(Post.id > last).order_by(Post.id).limit(batch)
    ).all():
        ids = [row.id for row in rows]
        names: dict[int, list[str]] = {i: [] for i in ids}
        for post_id, name in db.session.execute(
            select(post_tags.c.post_id, Tag.name)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(post_tags.c.post_id.in_(ids))
        ):
            names[post_id].append(name)
        posts = Post.__table__
        db.session.execute(
            update(posts).where(posts.c.id == bindparam("pid")).values(search_text=bindparam("st")),
            [{"pid": r.id, "st": search_text(r.caption, names[r.id])} for r in rows],
        )
        db.session.commit()
        total, last = total + len(ids), ids[-1]
    return total


def _text_changed(post: Post) -> bool:
    state = inspect(post)
    if state.transient or state.pending:
        return True
    return any(state.attrs[name].history.has_changes() for name in ("caption", "tags"))


@event.listens_for(Session, "before_flush")
def _index_changed_posts(session, flush_context, instances):
    """Keep search_text in step with captions and tags, in the same flush."""
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Post) and _text_changed(obj):
            obj.search_text = search_text(obj.caption, [t.name for t in obj.tags])
