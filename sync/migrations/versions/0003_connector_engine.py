"""connector engine (R35) and the outcome of a reactivation's unpause (R37)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
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
