"""search, trending and tag-feed indexes

A portable inverted index (search_terms) rather than SQLite FTS5 / a Postgres tsvector index:
FTS5 shadow tables and expression indexes are invisible to the models, so autogenerate would
try to drop them. See docs/social.md. Existing posts are indexed by `flask --app app search reindex`.

Revision ID: 0c6911c89be6
Revises: ca2de7711e0b
Create Date: 2026-11-27 05:39:40.518993

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = '0c6911c89be6'
down_revision = 'ca2de7711e0b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_terms',
    sa.Column('term', sa.String(length=50), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_search_terms_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'post_id', name=op.f('pk_search_terms'))
    )
    with op.batch_alter_table('search_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_terms_post_id'), ['post_id'], unique=False)

    op.create_table('trending_scores',
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_trending_scores_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('generation', 'post_id', name=op.f('pk_trending_scores'))
    )
    with op.batch_alter_table('trending_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trending_scores_post_id'), ['post_id'], unique=False)
        batch_op.create_index('ix_trending_scores_rank', ['generation', 'score', 'post_id'], unique=False)

    with op.batch_alter_table('post_tags', schema=None) as batch_op:
        batch_op.create_index('ix_post_tags_tag_id', ['tag_id', 'post_id'], unique=False)


def downgrade():
    with op.batch_alter_table('post_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_post_tags_tag_id')

    with op.batch_alter_table('trending_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_trending_scores_rank')
        batch_op.drop_index(batch_op.f('ix_trending_scores_post_id'))

    op.drop_table('trending_scores')
    with op.batch_alter_table('search_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_terms_post_id'))

    op.drop_table('search_terms')
