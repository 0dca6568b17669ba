"""hash lists: the last pull's time and count on each subscription (the admin page and `Pull
now`); instance_keys.rotation, the statement by which the previous key announces a new one

Revision ID: d2a7c4e9b1f3
Revises: c5e8f1a2b7d4
Create Date: 2026-12-03 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'd2a7c4e9b1f3'
down_revision = 'c5e8f1a2b7d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hash_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_pull_at', cara.core.models.TZDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column('last_pull_count', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('instance_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rotation', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('instance_keys', schema=None) as batch_op:
        batch_op.drop_column('rotation')
    with op.batch_alter_table('hash_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('last_pull_count')
        batch_op.drop_column('last_pull_at')
