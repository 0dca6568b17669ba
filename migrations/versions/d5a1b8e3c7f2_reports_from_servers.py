"""reports sent by other servers (incoming ActivityPub Flags): the reporting server's domain

Revision ID: d5a1b8e3c7f2
Revises: c4f8e2a9d1b7
Create Date: 2026-12-03 13:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'd5a1b8e3c7f2'
down_revision = "c4f8e2a9d1b7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reporter_domain', sa.String(length=255), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('reporter_domain')
