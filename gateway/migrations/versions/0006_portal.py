"""consent portal: registrations in progress (drafts) and management sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Short-lived rows, purged when they expire; a draft is deleted when its consent is registered.
Neither table holds a photo, a plaintext embedding or a plaintext management token: the sealed
columns are AES-256-GCM under a key derived from a secret that only the person's cookie holds.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_indexes, drop_indexes

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_portal_drafts',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('references', sa.LargeBinary(), nullable=True),
    sa.Column('reference_count', sa.Integer(), nullable=False),
    sa.Column('reference_evidence', sa.JSON(), nullable=True),
    sa.Column('scope', sa.JSON(), nullable=True),
    sa.Column('scope_summary', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('challenge', sa.JSON(), nullable=True),
    sa.Column('statement', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('consent_portal_drafts', columns=['expires_at'])

    op.create_table('consent_portal_sessions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('sealed_token', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('consent_portal_sessions', columns=['expires_at'])


def downgrade() -> None:
    drop_indexes('consent_portal_sessions', columns=['expires_at'])
    op.drop_table('consent_portal_sessions')
    drop_indexes('consent_portal_drafts', columns=['expires_at'])
    op.drop_table('consent_portal_drafts')
