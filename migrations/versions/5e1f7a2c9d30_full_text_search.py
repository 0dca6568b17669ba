"""full-text search: posts.search_text with SQLite FTS5 / a Postgres GIN index

Replaces the portable word table (search_terms). `posts.search_text` (folded words of caption
and tags, written by cara.social.search) is indexed by what each database has:

- SQLite: an external-content FTS5 table `posts_fts` over posts.search_text, kept in step by
  triggers on posts (so core writes and cascades are indexed too). A later batch migration
  that *recreates* posts on SQLite drops these triggers and must create them again
  (tests/social/test_search.py fails if it does not).
- Postgres: search_text is a tsvector (the words as they are, no parser) with a GIN index.

Neither is in the models: cara.core.extensions.include_name hides them from autogenerate and
from the models-vs-migrations test. Existing posts keep their words (copied from
search_terms); `flask --app app search reindex` rebuilds them from captions and tags.

Revision ID: 5e1f7a2c9d30
Revises: d35a9c41e7f2
Create Date: 2026-12-02 04:40:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '5e1f7a2c9d30'
down_revision = "d35a9c41e7f2"
branch_labels = None
depends_on = None

FTS_TRIGGERS = {
    "posts_fts_insert": "AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "posts_fts_delete": "AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "posts_fts_update": "AFTER UPDATE OF search_text ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO posts_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
}


def upgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), server_default='', nullable=False))
    postgres = op.get_bind().dialect.name == "postgresql"
    # The words the old index held ('_' now separates words, as in cara.social.search).
    words = "replace(term, '_', ' ')"
    words = f"string_agg({words}, ' ')::tsvector" if postgres else f"group_concat({words}, ' ')"
    op.execute(
        f"UPDATE posts SET search_text = coalesce((SELECT {words} FROM search_terms "
        "WHERE search_terms.post_id = posts.id), '')"
    )
    with op.batch_alter_table('search_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_terms_post_id'))
    op.drop_table('search_terms')
    if postgres:
        op.execute(
            "CREATE INDEX ix_posts_search ON posts "
            "USING gin (search_text)"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE posts_fts USING fts5(search_text, content='posts', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
    )
    op.execute("INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')")
    for name, body in FTS_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_posts_search")
    else:
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE posts_fts")
    # Empty: `flask --app app search reindex` of that revision fills it again.
    op.create_table('search_terms',
    sa.Column('term', sa.String(length=50), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_search_terms_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'post_id', name=op.f('pk_search_terms'))
    )
    with op.batch_alter_table('search_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_terms_post_id'), ['post_id'], unique=False)
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_column('search_text')
