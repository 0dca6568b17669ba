"""tombstones of objects served over ActivityPub that are gone (410 Gone)

Revision ID: c4f8e2a9d1b7
Revises: b7e2c9d4a1f6
Create Date: 2026-12-03 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'c4f8e2a9d1b7'
down_revision = "b7e2c9d4a1f6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'tombstones',
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('former_type', sa.String(length=20), nullable=False),
        sa.Column('deleted_at', cara.core.models.TZDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('path'),
    )


def downgrade():
    op.drop_table('tombstones')
