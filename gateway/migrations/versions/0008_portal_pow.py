"""consent portal: spent proof-of-work challenges of the start form

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

One row per accepted start challenge (its random nonce), kept until the challenge expires, so a
solved challenge starts one registration only. No personal data.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_indexes, drop_indexes

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_portal_pow',
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )
    create_indexes('consent_portal_pow', columns=['expires_at'])


def downgrade() -> None:
    drop_indexes('consent_portal_pow', columns=['expires_at'])
    op.drop_table('consent_portal_pow')
