"""post_tags.published_at: the post's publication time on its tag rows, indexed with the tag, so
that a tag page walks its index like Latest instead of sorting every post of the tag; an index on
users.suspended_at, so that listing the suspended accounts (every Following page) reads only them

Revision ID: b8f3d1e6a2c9
Revises: c4d8e2a7f9b3
Create Date: 2026-12-07 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'b8f3d1e6a2c9'
down_revision = 'c4d8e2a7f9b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('post_tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', cara.core.models.TZDateTime(), nullable=True))
        batch_op.drop_index('ix_post_tags_tag_id')
        batch_op.create_index(
            'ix_post_tags_tag_published', ['tag_id', 'published_at', 'post_id'], unique=False
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_suspended_at'), ['suspended_at'], unique=False)
    op.execute(
        "UPDATE post_tags SET published_at ="
        " (SELECT posts.published_at FROM posts WHERE posts.id = post_tags.post_id)"
    )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_suspended_at'))
    with op.batch_alter_table('post_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_post_tags_tag_published')
        batch_op.create_index('ix_post_tags_tag_id', ['tag_id', 'post_id'], unique=False)
        batch_op.drop_column('published_at')
