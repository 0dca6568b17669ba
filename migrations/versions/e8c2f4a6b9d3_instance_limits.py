"""instance limits (silencing): limited servers reach only those who follow their people

Revision ID: e8c2f4a6b9d3
Revises: d5a1b8e3c7f2
Create Date: 2026-12-03 13:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'e8c2f4a6b9d3'
down_revision = "d5a1b8e3c7f2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limited', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('limit_reason', sa.Text(), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('limit_reason')
        batch_op.drop_column('limited')
