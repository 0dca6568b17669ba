"""media.byte_size: bytes of each original, for the per-account storage quota

Existing originals are measured on disk when the migration runs in the app (flask db upgrade);
a file that is missing counts as 0 bytes.

Revision ID: a7c3e9d2b514
Revises: 4ba5a1913820
Create Date: 2026-12-02 10:00:00.000000

"""
import os

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e9d2b514'
down_revision = '4ba5a1913820'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('byte_size', sa.BigInteger(), server_default='0', nullable=False))
    _measure_existing_originals()


def downgrade():
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_column('byte_size')


def _measure_existing_originals():
    from flask import current_app

    root = os.path.join(current_app.config['MEDIA_DIR'], 'orig')
    conn = op.get_bind()
    media = sa.table('media', sa.column('id'), sa.column('original_path'), sa.column('byte_size'))
    for media_id, relative in conn.execute(sa.select(media.c.id, media.c.original_path)).all():
        path = os.path.join(root, relative)
        if os.path.isfile(path):
            size = os.path.getsize(path)
            conn.execute(media.update().where(media.c.id == media_id).values(byte_size=size))
