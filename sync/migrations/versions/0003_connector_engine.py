"""connector engine (R35) and the outcome of a reactivation's unpause (R37)

Revision ID: 0003
Revises: 0001 (until helper 'readstate''s 0002 is merged; then chain it: down_revision = '0002')
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0001'  # TEMPORARY: the lead sets '0002' when 0002_record_link_sync_times.py is merged
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.add_column(sa.Column('engine', sa.String(length=16), nullable=False, server_default='builtin'))
    with op.batch_alter_table('reactivation_request') as batch:
        batch.add_column(sa.Column('outcome', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reactivation_request') as batch:
        batch.drop_column('outcome')
    with op.batch_alter_table('connector') as batch:
        batch.drop_column('engine')
