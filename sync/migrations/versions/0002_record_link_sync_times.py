"""record_link: last sync time each way (issue 9 item 3)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_synced_to_pardot', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_synced_to_salesforce', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.drop_column('last_synced_to_salesforce')
        batch_op.drop_column('last_synced_to_pardot')
