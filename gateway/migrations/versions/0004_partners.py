"""partners and API keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

partners, their api_keys (prefix + SHA-256 of the key, scopes, revocation) and the operators'
admin_tokens. No column holds a key or a token.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'partners',
        sa.Column('id', _str(length=40), nullable=False),
        sa.Column('name', _str(length=100), nullable=False),
        sa.Column('use_cases', sa.JSON(), nullable=False),
        sa.Column('status', _str(length=16), nullable=False),
        sa.Column('suspended_reason', _str(length=500), nullable=True),
        sa.Column('suspended_at', _time(), nullable=True),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('quota_period_days', sa.Integer(), nullable=False),
        sa.Column('rate_per_minute', sa.Integer(), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partners_name'), ['name'], unique=True)

    op.create_table(
        'api_keys',
        sa.Column('id', _str(length=40), nullable=False),
        sa.Column('partner_id', _str(length=40), nullable=False),
        sa.Column('prefix', _str(length=40), nullable=False),
        sa.Column('key_hash', _str(length=64), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('expires_at', _time(), nullable=True),
        sa.Column('revoked_at', _time(), nullable=True),
        sa.Column('last_used_at', _time(), nullable=True),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_keys_prefix'), ['prefix'], unique=True)

    op.create_table(
        'admin_tokens',
        sa.Column('id', _str(length=40), nullable=False),
        sa.Column('name', _str(length=100), nullable=False),
        sa.Column('prefix', _str(length=40), nullable=False),
        sa.Column('token_hash', _str(length=64), nullable=False),
        sa.Column('created_at', _time(), nullable=False),
        sa.Column('revoked_at', _time(), nullable=True),
        sa.Column('last_used_at', _time(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('admin_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_tokens_prefix'), ['prefix'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('admin_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_tokens_prefix'))
    op.drop_table('admin_tokens')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_prefix'))
        batch_op.drop_index(batch_op.f('ix_api_keys_partner_id'))
    op.drop_table('api_keys')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partners_name'))
    op.drop_table('partners')
