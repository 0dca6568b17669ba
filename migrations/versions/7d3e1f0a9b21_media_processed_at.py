"""media.processed_at: when processing last finished (the upload-to-done latency in /metrics)

Revision ID: 7d3e1f0a9b21
Revises: a7d3e9f1c2b4
Create Date: 2026-11-28 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = '7d3e1f0a9b21'
down_revision = 'a7d3e9f1c2b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processed_at', cara.core.models.TZDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_media_processed_at'), ['processed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_processed_at'))
        batch_op.drop_column('processed_at')
