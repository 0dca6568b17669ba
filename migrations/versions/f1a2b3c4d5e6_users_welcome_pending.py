"""users.welcome_pending: the onboarding after sign-up is still to be shown

Revision ID: f1a2b3c4d5e6
Revises: d2a7c4e9b1f3
Create Date: 2026-12-03 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a2b3c4d5e6'
down_revision = "d2a7c4e9b1f3"
branch_labels = None
depends_on = None


def upgrade():
    # Accounts made before this change have settled in: no welcome for them.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('welcome_pending', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('welcome_pending')
