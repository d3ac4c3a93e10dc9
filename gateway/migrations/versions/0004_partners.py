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

from gateway.migrations._ops import create_indexes, drop_indexes

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
    create_indexes('partners', columns=['name'], unique={'name'})

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
    create_indexes('api_keys', columns=['partner_id', 'prefix'], unique={'prefix'})

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
    create_indexes('admin_tokens', columns=['prefix'], unique={'prefix'})


def downgrade() -> None:
    drop_indexes('admin_tokens', columns=['prefix'])
    op.drop_table('admin_tokens')
    drop_indexes('api_keys', columns=['partner_id', 'prefix'])
    op.drop_table('api_keys')
    drop_indexes('partners', columns=['name'])
    op.drop_table('partners')
