"""admin area: settings and invites tables; users.email_verified and users.approved

Existing accounts count as confirmed and approved (server default true); sign-up clears both
for new ones (cara.accounts.auth.sign_up).

Revision ID: a7d3e9f1c2b4
Revises: 6fa52f7bf39c
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = 'a7d3e9f1c2b4'
down_revision = '6fa52f7bf39c'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('settings',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', cara.core.models.TZDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings'))
    )
    op.create_table('invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=43), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('expires_at', cara.core.models.TZDateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', cara.core.models.TZDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invites_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invites')),
    sa.UniqueConstraint('code', name=op.f('uq_invites_code'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('approved', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('approved')
        batch_op.drop_column('email_verified')
    op.drop_table('invites')
    op.drop_table('settings')
