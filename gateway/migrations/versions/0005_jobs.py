"""generation jobs (the source of truth for job state) and per-partner rate windows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_indexes, drop_indexes

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'generation_jobs',
        sa.Column('id', _str(length=20), nullable=False),
        sa.Column('partner_id', _str(length=40), nullable=False),
        sa.Column('partner_name', _str(length=100), nullable=False),
        sa.Column('api_key_id', _str(length=40), nullable=False),
        sa.Column('idempotency_key', _str(length=200), nullable=True),
        sa.Column('request_sha256', _str(length=64), nullable=False),
        sa.Column('consent_id', _str(length=40), nullable=False),
        sa.Column('consent_revision', sa.Integer(), nullable=False),
        sa.Column('purpose', _str(length=64), nullable=False),
        sa.Column('controls', sa.JSON(), nullable=False),
        sa.Column('transcript', _str(length=2000), nullable=True),
        sa.Column('portrait_sha256', _str(length=64), nullable=False),
        sa.Column('portrait_mime', _str(length=40), nullable=False),
        sa.Column('audio_sha256', _str(length=64), nullable=False),
        sa.Column('audio_mime', _str(length=40), nullable=False),
        sa.Column('policy_version', _str(length=64), nullable=False),
        sa.Column('decision', sa.JSON(), nullable=False),
        sa.Column('status', _str(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('worker', _str(length=80), nullable=True),
        sa.Column('lease_until', _time(), nullable=True),
        sa.Column('error_code', _str(length=64), nullable=True),
        sa.Column('error', _str(length=500), nullable=True),
        sa.Column('watermark_id', _str(length=16), nullable=True),
        sa.Column('manifest_id', _str(length=200), nullable=True),
        sa.Column('output_sha256', _str(length=64), nullable=True),
        sa.Column('output_bytes', sa.Integer(), nullable=True),
        sa.Column('duration_s', sa.Float(), nullable=True),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('updated_at', _time(), nullable=False),
        sa.Column('started_at', _time(), nullable=True),
        sa.Column('finished_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('partner_id', 'idempotency_key', name='uq_generation_jobs_idempotency'),
    )
    op.create_index('ix_generation_jobs_partner_created', 'generation_jobs', ['partner_id', 'created_at'], unique=False)
    create_indexes('generation_jobs', columns=['consent_id', 'status'])
    op.create_table(
        'rate_windows',
        sa.Column('partner_id', _str(length=40), nullable=False),
        sa.Column('minute', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('partner_id', 'minute'),
    )


def downgrade() -> None:
    op.drop_table('rate_windows')
    drop_indexes('generation_jobs', columns=['consent_id', 'status'])
    op.drop_index('ix_generation_jobs_partner_created', table_name='generation_jobs')
    op.drop_table('generation_jobs')
