"""Search: people, tags and captions.

Captions and tags go into `search_terms`, a plain inverted index (word -> post) that is fast on
SQLite and Postgres alike: every query word is a prefix range on its primary key. The index is
kept up to date by a flush hook, whatever code changes a post's caption or tags.
"""

import re
import unicodedata

from sqlalchemy import and_, delete, event, exists, func, insert, inspect, or_, select
from sqlalchemy.orm import Session

from cara.core import pagination, policy
from cara.core.extensions import db
from cara.core.models import Post, SearchTerm, Tag, User, post_tags
from cara.social import feeds

QUERY_MAX = 200
TERMS_MAX = 6  # words of a query that count
TERM_MIN = 2  # shorter words are neither indexed nor searched
TERM_MAX = 50
RARE = 5000  # a word in at most this many posts drives the search (see posts())
PEOPLE_MAX = 20
TAGS_MAX = 20
_WORD = re.compile(r"\w+")


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
    return and_(column >= prefix, column < _upper(prefix))


def posts(viewer, q: str, before: str | None = None, limit: int = feeds.PAGE_SIZE) -> feeds.Page:
    """Posts whose caption or tags have a word starting with each query word; newest first.

    The plan adapts to the words: when one is rare, its posts are fetched and sorted; when all
    are common, the newest posts are walked and kept while they have every word, which fills a
    page quickly. Either way no more than about RARE rows are touched.
    """
    terms = words(q)[:TERMS_MAX]
    if not terms:
        return feeds.FeedPage([], None)
    counts = db.session.execute(
        select(
            *(
                select(func.count())
                .select_from(_matches(term).limit(RARE + 1).subquery())
                .scalar_subquery()
                for term in terms
            )
        )
    ).one()
    rarest = min(range(len(terms)), key=lambda i: counts[i])
    if counts[rarest] == 0:
        return feeds.FeedPage([], None)
    stmt = select(Post).join(Post.author).where(*policy.visible(viewer))
    others = terms
    if counts[rarest] <= RARE:
        stmt = stmt.where(Post.id.in_(_matches(terms[rarest])))
        others = terms[:rarest] + terms[rarest + 1 :]
    for term in others:
        stmt = stmt.where(
            exists().where(SearchTerm.post_id == Post.id, _prefix(SearchTerm.term, term))
        )
    key = pagination.time_key(before)
    return feeds.keyset_page(policy.signed_in(viewer), stmt, Post.published_at, key, limit)


def _matches(term: str):
    return select(SearchTerm.post_id).where(_prefix(SearchTerm.term, term))


def people(viewer, q: str, limit: int = PEOPLE_MAX) -> list[User]:
    """Accounts whose username starts with, or display name contains, the query."""
    q = q.strip().lstrip("@").casefold()[:60]
    if not q:
        return []
    stmt = select(User).where(
        or_(_prefix(User.username, q), func.lower(User.display_name).contains(q, autoescape=True)),
        policy.present(User.id),
    )
    if (viewer := policy.signed_in(viewer)) is not None:
        stmt = stmt.where(User.id.not_in(policy.blocked_either_way(viewer)))
    stmt = stmt.order_by((User.username == q).desc(), User.username).limit(limit)
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
    stmt = select(Tag).where(_prefix(Tag.name, terms[0]), seen.exists())
    return list(db.session.scalars(stmt.order_by(Tag.name).limit(limit)))


def index_posts(connection, post_ids: list[int]) -> None:
    """(Re)write the index rows of these posts from their caption and tags."""
    if not post_ids:
        return
    connection.execute(delete(SearchTerm).where(SearchTerm.post_id.in_(post_ids)))
    captions = connection.execute(select(Post.id, Post.caption).where(Post.id.in_(post_ids)))
    texts = {post_id: [caption or ""] for post_id, caption in captions}
    tag_rows = connection.execute(
        select(post_tags.c.post_id, Tag.name)
        .join(Tag, Tag.id == post_tags.c.tag_id)
        .where(post_tags.c.post_id.in_(post_ids))
    )
    for post_id, name in tag_rows:
        texts[post_id].append(name)
    rows = [
        {"term": term, "post_id": post_id}
        for post_id, parts in texts.items()
        for term in words(" ".join(parts))
    ]
    if rows:
        connection.execute(insert(SearchTerm), rows)


def reindex(batch: int = 1000) -> int:
    """Index every post again (after a bulk import, or on an existing database)."""
    total, last = 0, 0
    while ids := db.session.scalars(
        select(Post.id).where(Post.id > last).order_by(Post.id).limit(batch)
    ).all():
        index_posts(db.session.connection(), list(ids))
        db.session.commit()
        total, last = total + len(ids), ids[-1]
    return total


def _text_changed(post: Post) -> bool:
    state = inspect(post)
    return any(state.attrs[name].history.has_changes() for name in ("caption", "tags"))


@event.listens_for(Session, "after_flush")
def _index_changed_posts(session, flush_context):
    """Keep the index in step with captions and tags, in the same transaction."""
    changed = [
        obj.id
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Post) and obj.id is not None and _text_changed(obj)
    ]
    if changed:
        index_posts(session.connection(), changed)
