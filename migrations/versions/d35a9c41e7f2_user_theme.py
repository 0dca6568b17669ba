"""users.theme: the colour scheme the artist chose (system, light or dark)

Revision ID: d35a9c41e7f2
Revises: b4c5dc4f8c3d
Create Date: 2026-12-02 04:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd35a9c41e7f2'
down_revision = "b4c5dc4f8c3d"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('theme', sa.String(length=10), server_default='system', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('theme')
