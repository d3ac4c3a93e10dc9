"""admin sessions, admin token expiry, and the audit log's (consent_id, kind) index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

``admin_sessions``: a signed-in /admin page session, stored as the SHA-256 of its random id (the
cookie holds the id). ``admin_tokens.expires_at``: every admin token now expires; tokens issued
before this migration expire 90 days after it runs (re-issue them with ``likeness admin add``).
``ix_audit_entries_consent_kind``: the gate looks up a consent's logged grant on every request.
The index is created outside a batch, so audit_entries is never rebuilt (its triggers stay).
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import create_indexes, drop_indexes

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime
_GRACE = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table('admin_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', _time(), nullable=True))
    tokens = sa.table('admin_tokens', sa.column('expires_at', _time()))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None))
               .values(expires_at=datetime.now(UTC) + _GRACE))
    with op.batch_alter_table('admin_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=_time(), nullable=False)

    op.create_table(
        'admin_sessions',
        sa.Column('id_hash', _str(length=64), nullable=False),
        sa.Column('admin_id', _str(length=40), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('last_seen_at', _time(), nullable=False),
        sa.Column('expires_at', _time(), nullable=False),
        sa.ForeignKeyConstraint(['admin_id'], ['admin_tokens.id'], ),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    create_indexes('admin_sessions', columns=['admin_id', 'expires_at'])

    op.create_index('ix_audit_entries_consent_kind', 'audit_entries', ['consent_id', 'kind'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_entries_consent_kind', table_name='audit_entries')
    drop_indexes('admin_sessions', columns=['admin_id', 'expires_at'])
    op.drop_table('admin_sessions')
    with op.batch_alter_table('admin_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
