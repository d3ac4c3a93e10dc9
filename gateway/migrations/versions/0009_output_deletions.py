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

from gateway.migrations._ops import create_append_only_triggers, create_indexes, drop_append_only_triggers, drop_indexes

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
    create_indexes(_TABLE, columns=['consent_id'])
    # on PostgreSQL through 0002's consent_append_only()
    create_append_only_triggers([_TABLE], function='consent_append_only', history='consent history')


def downgrade() -> None:
    drop_append_only_triggers([_TABLE])
    drop_indexes(_TABLE, columns=['consent_id'])
    op.drop_table(_TABLE)
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_column('output_deleted_reason')
        batch_op.drop_column('output_deleted_at')
