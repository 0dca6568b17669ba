"""media.blurhash: the image's BlurHash, sent with federated attachments

Revision ID: a3b9d2e4f610
Revises: 5e1f7a2c9d30
Create Date: 2026-12-02 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3b9d2e4f610'
down_revision = "5e1f7a2c9d30"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blurhash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_column('blurhash')
