"""users.banner_media_id: the profile's optional banner image

Revision ID: a9e4c2d7b3f1
Revises: f1a2b3c4d5e6
Create Date: 2026-12-03 07:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9e4c2d7b3f1'
down_revision = "f1a2b3c4d5e6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('banner_media_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_users_banner_media_id_media'), 'media', ['banner_media_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_banner_media_id_media'), type_='foreignkey')
        batch_op.drop_column('banner_media_id')
