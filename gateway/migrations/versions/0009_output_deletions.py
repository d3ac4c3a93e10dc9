"""released videos deleted on revocation or erasure: when and why, on the job and for the subject

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``generation_jobs`` gains ``output_deleted_at`` and ``output_deleted_reason``; the consent
registry gains ``consent_output_deletions`` (one row per deleted video, read by the subject's
management page), append-only like the other consent history tables (triggers, as in 0002).
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_TABLE = 'consent_output_deletions'


def upgrade() -> None:
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('output_deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('output_deleted_reason', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=True))
    op.create_table(_TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('generation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('generation_id', name='uq_consent_output_deletions_generation_id')
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_output_deletions_consent_id'), ['consent_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # consent_append_only() is 0002's
        op.execute(f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION consent_append_only()")
        op.execute(f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION consent_append_only()")
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {_TABLE}_no_{event.lower()} BEFORE {event} ON {_TABLE} BEGIN "
                   f"SELECT RAISE(ABORT, '{_TABLE} is append-only: consent history is never rewritten'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_append_only ON {_TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_truncate ON {_TABLE}")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_{event}")
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_output_deletions_consent_id'))
    op.drop_table(_TABLE)
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_column('output_deleted_reason')
        batch_op.drop_column('output_deleted_at')
