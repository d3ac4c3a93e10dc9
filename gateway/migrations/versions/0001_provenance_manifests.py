"""provenance manifests: the manifest repository keyed by watermark id

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_indexes, drop_indexes

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provenance_manifests',
    sa.Column('watermark_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('generation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('manifest_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('manifest_store', sa.LargeBinary(), nullable=False),
    sa.Column('output_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('output_bytes', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('watermark_alg', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('signer_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy_version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('consent_ref_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('consent_self_attested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('watermark_id')
    )
    create_indexes('provenance_manifests', columns=['generation_id', 'output_sha256'], unique={'generation_id'})


def downgrade() -> None:
    drop_indexes('provenance_manifests', columns=['generation_id', 'output_sha256'])
    op.drop_table('provenance_manifests')
