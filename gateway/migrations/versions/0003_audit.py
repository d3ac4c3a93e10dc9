"""audit log: entries and signed checkpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

The log is never rewritten: triggers refuse UPDATE and DELETE on audit_entries and
audit_checkpoints (and TRUNCATE on PostgreSQL). Every entry also carries a signed tree head, so
a change made around the triggers (dropped by a table owner) is still detected and named by
``likeness audit verify``. A later batch migration that rebuilds one of these tables on SQLite
drops its triggers: recreate them in the same migration (see ``_create_triggers``).
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from gateway.migrations._ops import (
    create_append_only_function,
    create_append_only_triggers,
    create_indexes,
    drop_append_only_triggers,
    drop_indexes,
    on_postgresql,
)

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_ENTRY_INDEXES = ('kind', 'created_at', 'partner', 'consent_id', 'generation_id')


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('leaf_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('partner', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('generation_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('subtree_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('root_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index')
    )
    create_indexes('audit_entries', columns=_ENTRY_INDEXES)

    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.Column('root_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('audit_checkpoints', columns=['tree_size'])
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    drop_indexes('audit_checkpoints', columns=['tree_size'])
    op.drop_table('audit_checkpoints')
    drop_indexes('audit_entries', columns=_ENTRY_INDEXES)
    op.drop_table('audit_entries')


APPEND_ONLY = ("audit_entries", "audit_checkpoints")
_HISTORY = "the audit log"


def _create_triggers() -> None:
    if on_postgresql():
        create_append_only_function("audit_append_only", history=_HISTORY)
    create_append_only_triggers(APPEND_ONLY, function="audit_append_only", history=_HISTORY)


def _drop_triggers() -> None:
    drop_append_only_triggers(APPEND_ONLY)
    if on_postgresql():
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
