"""consent registry: subjects, consents, signed revisions, data keys, encrypted references, evidence, generations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

History is never rewritten: triggers refuse UPDATE and DELETE on consent_revisions,
consent_evidence and consent_generations (and TRUNCATE on PostgreSQL), and allow an UPDATE of
consent_reference_embeddings only when it wipes the ciphertext (erasure). Every revision is also
signed, so a change made around the triggers (dropped by a table owner) is still detected.
A later batch migration that rebuilds one of these tables on SQLite drops its triggers: recreate
them in the same migration (see ``_create_triggers``).
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

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_subjects',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('consent_data_keys',
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('master_key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['consent_subjects.id'], ),
    sa.PrimaryKeyConstraint('subject_id')
    )
    op.create_table('consent_reference_embeddings',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['consent_subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('consent_reference_embeddings', columns=['subject_id'])

    op.create_table('consents',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('current_revision', sa.Integer(), nullable=False),
    sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('token_prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('signing_key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('head_signature', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['consent_subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('consents', columns=['subject_id', 'token_prefix'])

    op.create_table('consent_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('media_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('challenge_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('model_versions', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    create_indexes('consent_evidence', columns=['consent_id'])

    op.create_table('consent_generations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('generation_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('watermark_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('partner', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('generation_id', name='uq_consent_generations_generation_id')
    )
    create_indexes('consent_generations', columns=['consent_id'])

    op.create_table('consent_revisions',
    sa.Column('consent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('partners', sa.JSON(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('prohibited_purposes', sa.JSON(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=True),
    sa.Column('territories', sa.JSON(), nullable=True),
    sa.Column('valid_from', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('valid_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('evidence_hashes', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('signing_key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('consent_id', 'revision')
    )
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_table('consent_revisions')
    drop_indexes('consent_generations', columns=['consent_id'])
    op.drop_table('consent_generations')
    drop_indexes('consent_evidence', columns=['consent_id'])
    op.drop_table('consent_evidence')
    drop_indexes('consents', columns=['subject_id', 'token_prefix'])
    op.drop_table('consents')
    drop_indexes('consent_reference_embeddings', columns=['subject_id'])
    op.drop_table('consent_reference_embeddings')
    op.drop_table('consent_data_keys')
    op.drop_table('consent_subjects')


APPEND_ONLY = ("consent_revisions", "consent_evidence", "consent_generations")
_HISTORY = "consent history"
_WIPE_ONLY = "consent_reference_embeddings: a reference is only ever wiped (erasure), never changed or deleted"


def _create_triggers() -> None:
    postgresql = on_postgresql()
    if postgresql:
        create_append_only_function("consent_append_only", history=_HISTORY)
        op.execute(f"""
            CREATE FUNCTION consent_embeddings_wipe_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.ciphertext IS NULL AND NEW.id = OLD.id
                   AND NEW.subject_id = OLD.subject_id AND NEW.model_version = OLD.model_version
                   AND NEW.dim = OLD.dim AND NEW.created_at = OLD.created_at THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '{_WIPE_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
            END $$
        """)
    create_append_only_triggers(APPEND_ONLY, function="consent_append_only", history=_HISTORY)
    if postgresql:
        op.execute("CREATE TRIGGER consent_reference_embeddings_wipe_only BEFORE UPDATE OR DELETE "
                   "ON consent_reference_embeddings FOR EACH ROW EXECUTE FUNCTION consent_embeddings_wipe_only()")
        return
    op.execute("CREATE TRIGGER consent_reference_embeddings_wipe_only BEFORE UPDATE ON consent_reference_embeddings "
               "WHEN NEW.ciphertext IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.subject_id IS NOT OLD.subject_id "
               "OR NEW.model_version IS NOT OLD.model_version OR NEW.dim IS NOT OLD.dim "
               f"OR NEW.created_at IS NOT OLD.created_at BEGIN SELECT RAISE(ABORT, '{_WIPE_ONLY}'); END")
    op.execute("CREATE TRIGGER consent_reference_embeddings_no_delete BEFORE DELETE ON consent_reference_embeddings "
               f"BEGIN SELECT RAISE(ABORT, '{_WIPE_ONLY}'); END")


def _drop_triggers() -> None:
    drop_append_only_triggers(APPEND_ONLY)
    if on_postgresql():
        op.execute("DROP TRIGGER IF EXISTS consent_reference_embeddings_wipe_only ON consent_reference_embeddings")
        op.execute("DROP FUNCTION IF EXISTS consent_append_only()")
        op.execute("DROP FUNCTION IF EXISTS consent_embeddings_wipe_only()")
        return
    op.execute("DROP TRIGGER IF EXISTS consent_reference_embeddings_wipe_only")
    op.execute("DROP TRIGGER IF EXISTS consent_reference_embeddings_no_delete")
