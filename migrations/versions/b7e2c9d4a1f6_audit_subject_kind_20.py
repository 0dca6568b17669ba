"""audit_entries.subject_kind: 20 characters (remote_comment, remote_actor)

Revision ID: b7e2c9d4a1f6
Revises: f3a9d2c6e1b8
Create Date: 2026-12-03 11:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b7e2c9d4a1f6"
down_revision = "f3a9d2c6e1b8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column(
            "subject_kind", existing_type=sa.String(length=10), type_=sa.String(length=20)
        )


def downgrade():
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column(
            "subject_kind", existing_type=sa.String(length=20), type_=sa.String(length=10)
        )
