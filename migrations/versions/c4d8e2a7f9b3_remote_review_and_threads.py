"""remote_posts.awaiting_review (an image the filter held, for moderators) and
remote_comments.parent_id (a reply to a reply from elsewhere: threads)

Revision ID: c4d8e2a7f9b3
Revises: e8c2f4a6b9d3
Create Date: 2026-12-03 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4d8e2a7f9b3"
down_revision = "e8c2f4a6b9d3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_review", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_remote_posts_awaiting_review", ["awaiting_review"])
    with op.batch_alter_table("remote_comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_remote_comments_parent_id", ["parent_id"])
        batch_op.create_foreign_key(
            "fk_remote_comments_parent_id_remote_comments",
            "remote_comments",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("remote_comments", schema=None) as batch_op:
        batch_op.drop_constraint("fk_remote_comments_parent_id_remote_comments", type_="foreignkey")
        batch_op.drop_index("ix_remote_comments_parent_id")
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("remote_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_remote_posts_awaiting_review")
        batch_op.drop_column("awaiting_review")
