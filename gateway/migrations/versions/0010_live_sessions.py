"""live sessions: the stream of a live generation, and which generations were live

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

``generation_jobs`` gains ``kind`` (``batch``; ``live`` for a live session, which is never
queued); ``live_sessions`` holds each session's token hash and expiry, limits and state, and at
close its segments, frames, audio seconds and the head of the segments' hash chain.
``consent_generations`` gains ``kind`` (``video`` or ``live``) for the subject's management page.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_append_only_triggers, create_indexes, drop_append_only_triggers, drop_indexes

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_TABLE = 'live_sessions'
_INDEXED = ['partner_id', 'state']


def upgrade() -> None:
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='batch'))
    with op.batch_alter_table('consent_generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='video'))
    op.create_table(_TABLE,
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('token_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('max_seconds', sa.Float(), nullable=False),
    sa.Column('segment_seconds', sa.Float(), nullable=False),
    sa.Column('server', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('audio_seconds', sa.Float(), nullable=False),
    sa.Column('chain_head', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    create_indexes(_TABLE, columns=_INDEXED)


def downgrade() -> None:
    drop_indexes(_TABLE, columns=_INDEXED)
    op.drop_table(_TABLE)
    # dropping a column rebuilds the table on SQLite, which drops its triggers: made again after (0002's)
    drop_append_only_triggers(['consent_generations'])
    with op.batch_alter_table('consent_generations', schema=None) as batch_op:
        batch_op.drop_column('kind')
    create_append_only_triggers(['consent_generations'], function='consent_append_only', history='consent history')
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_column('kind')
