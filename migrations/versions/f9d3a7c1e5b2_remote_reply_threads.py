"""remote reply threads: a remote reply to a remote reply of a local post keeps its thread

Revision ID: f9d3a7c1e5b2
Revises: e8c2f4a6b9d3
Create Date: 2026-12-03 13:25:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'f9d3a7c1e5b2'
down_revision = "e8c2f4a6b9d3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('remote_comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_remote_comments_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_remote_comments_parent_id_remote_comments'), 'remote_comments', ['parent_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('remote_comments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_remote_comments_parent_id_remote_comments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_remote_comments_parent_id'))
        batch_op.drop_column('parent_id')
