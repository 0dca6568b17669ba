"""shared AI-hash lists: hash_feed, hash_subscriptions, instance_keys; known rows keep their subscription

Revision ID: 09724faf5772
Revises: a3b9d2e4f610
Create Date: 2026-12-02 19:22:55.380336

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = '09724faf5772'
down_revision = 'a3b9d2e4f610'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('hash_feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op', sa.String(length=6), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('hashes', sa.JSON(), nullable=False),
    sa.Column('features', sa.LargeBinary(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cara.core.models.TZDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hash_feed')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('hash_feed', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hash_feed_ref'), ['ref'], unique=False)

    op.create_table('instance_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_pem', sa.Text(), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('created_at', cara.core.models.TZDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_keys'))
    )
    op.create_table('hash_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('trusted', sa.Boolean(), nullable=False),
    sa.Column('key_id', sa.String(length=500), nullable=False),
    sa.Column('public_pem', sa.Text(), nullable=False),
    sa.Column('cursor', sa.String(length=64), nullable=False),
    sa.Column('pulled_at', cara.core.models.TZDateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cara.core.models.TZDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_hash_subscriptions_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hash_subscriptions')),
    sa.UniqueConstraint('url', name=op.f('uq_hash_subscriptions_url'))
    )
    with op.batch_alter_table('known_features', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('feed_ref', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_known_features_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_known_features_subscription_id_hash_subscriptions'), 'hash_subscriptions', ['subscription_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('known_hashes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('feed_ref', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_known_hashes_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_known_hashes_subscription_id_hash_subscriptions'), 'hash_subscriptions', ['subscription_id'], ['id'], ondelete='CASCADE')


    _publish_earlier_confirmations()


def _publish_earlier_confirmations():
    """The images moderators confirmed before the feed existed become its first entries
    (one `add` per image, in the order they were confirmed; their local features when
    stored), as cara.posting.known writes them from now on."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT media_id, phash, pdq, variant FROM known_hashes "
            "WHERE source = 'moderator' AND allow = :no AND trusted = :yes "
            "AND media_id IS NOT NULL ORDER BY id"
        ),
        {"no": False, "yes": True},
    ).all()
    images: dict[int, list] = {}
    for media_id, phash, pdq, variant in rows:
        images.setdefault(media_id, []).append([phash, pdq, variant])
    if not images:
        return
    blobs = dict(
        bind.execute(
            sa.text(
                "SELECT media_id, data FROM known_features WHERE source = 'moderator' "
                "AND trusted = :yes AND media_id IS NOT NULL"
            ),
            {"yes": True},
        ).all()
    )
    feed = sa.table(
        "hash_feed",
        sa.column("op", sa.String),
        sa.column("ref", sa.String),
        sa.column("hashes", sa.JSON),
        sa.column("features", sa.LargeBinary),
        sa.column("note", sa.Text),
        sa.column("created_at", cara.core.models.TZDateTime),
    )
    now = cara.core.models.utcnow()
    op.bulk_insert(
        feed,
        [
            {
                "op": "add",
                "ref": f"m{media_id}",
                "hashes": hashes,
                "features": blobs.get(media_id),
                "note": "",
                "created_at": now,
            }
            for media_id, hashes in images.items()
        ],
    )


def downgrade():
    with op.batch_alter_table('known_hashes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_known_hashes_subscription_id_hash_subscriptions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_known_hashes_subscription_id'))
        batch_op.drop_column('feed_ref')
        batch_op.drop_column('subscription_id')

    with op.batch_alter_table('known_features', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_known_features_subscription_id_hash_subscriptions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_known_features_subscription_id'))
        batch_op.drop_column('feed_ref')
        batch_op.drop_column('subscription_id')

    op.drop_table('hash_subscriptions')
    op.drop_table('instance_keys')
    with op.batch_alter_table('hash_feed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hash_feed_ref'))

    op.drop_table('hash_feed')
