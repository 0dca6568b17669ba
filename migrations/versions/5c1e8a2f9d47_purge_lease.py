"""users.purge_lease_until: the account purge job's lease (one purge at a time)

Revision ID: 5c1e8a2f9d47
Revises: 24d130f257d7
Create Date: 2026-12-02 05:00:00.000000

"""

from alembic import op
import sqlalchemy as sa

import cara.core.models  # noqa: F401  (custom column types such as TZDateTime)


# revision identifiers, used by Alembic.
revision = "5c1e8a2f9d47"
down_revision = "24d130f257d7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purge_lease_until", cara.core.models.TZDateTime(), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("purge_lease_until")
