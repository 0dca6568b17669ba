"""removed remote replies, reports about remote content, edited replies sent out, deliveries signed by the instance actor

Revision ID: f3a9d2c6e1b8
Revises: a9e4c2d7b3f1
Create Date: 2026-12-03 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'f3a9d2c6e1b8'
down_revision = "a9e4c2d7b3f1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('remote_comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', cara.core.models.TZDateTime(), nullable=True))
        batch_op.add_column(sa.Column('removed_by', sa.String(length=10), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('removed_reason', sa.Text(), nullable=False, server_default=''))

    with op.batch_alter_table('remote_interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', cara.core.models.TZDateTime(), nullable=True))

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('subject_kind', existing_type=sa.String(length=10), type_=sa.String(length=20), existing_nullable=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM deliveries WHERE user_id IS NULL")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('subject_kind', existing_type=sa.String(length=20), type_=sa.String(length=10), existing_nullable=False)

    with op.batch_alter_table('remote_interactions', schema=None) as batch_op:
        batch_op.drop_column('updated_at')

    with op.batch_alter_table('remote_comments', schema=None) as batch_op:
        batch_op.drop_column('removed_reason')
        batch_op.drop_column('removed_by')
        batch_op.drop_column('removed_at')
