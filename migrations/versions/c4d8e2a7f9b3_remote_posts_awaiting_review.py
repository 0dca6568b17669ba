"""remote_posts.awaiting_review: a remote post with an image the filter held, for moderators

Revision ID: c4d8e2a7f9b3
Revises: b7e2c9d4a1f6
Create Date: 2026-12-03 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4d8e2a7f9b3"
down_revision = "b7e2c9d4a1f6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_review", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_remote_posts_awaiting_review", ["awaiting_review"])


def downgrade():
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_remote_posts_awaiting_review")
        batch_op.drop_column("awaiting_review")
