"""Operations the migrations repeat: a table's one-column indexes, and the triggers that keep a
history table append-only on SQLite and PostgreSQL.

    from gateway.migrations._ops import create_indexes, drop_indexes

    def upgrade() -> None:
        op.create_table('consent_portal_pow', ...)
        create_indexes('consent_portal_pow', columns=['expires_at'])

    def downgrade() -> None:
        drop_indexes('consent_portal_pow', columns=['expires_at'])
        op.drop_table('consent_portal_pow')

Revisions already applied somewhere call these, so what each function sends is part of their
history: never change the statements a function sends (``scripts/migration_schemas.py`` dumps
every revision's schema, up and down, to check that); add a function for anything new.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from alembic import op

__all__ = [
    "create_append_only_function",
    "create_append_only_triggers",
    "create_indexes",
    "drop_append_only_triggers",
    "drop_indexes",
    "on_postgresql",
]


def on_postgresql() -> bool:
    """Whether the migration runs on PostgreSQL (otherwise SQLite)."""
    return op.get_bind().dialect.name == "postgresql"


def create_indexes(table: str, *, columns: Sequence[str], unique: Collection[str] = ()) -> None:
    """An index ``ix_<table>_<column>`` on each of ``columns`` in turn, unique for those in ``unique``."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=column in unique)


def drop_indexes(table: str, *, columns: Sequence[str]) -> None:
    """Drop the indexes :func:`create_indexes` made on ``columns``, the last made first."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in reversed(columns):
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))


def create_append_only_function(name: str, *, history: str) -> None:
    """PostgreSQL's trigger function ``name()``, which refuses the change that fired it:
    "<table> is append-only: <history> is never rewritten"."""
    # the text between the $$ is the function's stored source: its spacing is kept as first written
    op.execute(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: {history} is never rewritten', TG_TABLE_NAME
                    USING ERRCODE = 'integrity_constraint_violation';
            END $$
        """)


def create_append_only_triggers(tables: Iterable[str], *, function: str, history: str) -> None:
    """Triggers refusing UPDATE and DELETE on each of ``tables``: on PostgreSQL ``<table>_append_only``
    and ``<table>_no_truncate`` (TRUNCATE too), run by the trigger function ``function`` (made by
    :func:`create_append_only_function`); on SQLite ``<table>_no_update`` and ``<table>_no_delete``,
    saying "<table> is append-only: <history> is never rewritten".

    A batch migration that rebuilds one of these tables on SQLite drops its triggers: call this
    again for it in the same migration.
    """
    if on_postgresql():
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {function}()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        return
    for table in tables:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} is append-only: {history} is never rewritten'); END")


def drop_append_only_triggers(tables: Iterable[str]) -> None:
    """Drop the triggers :func:`create_append_only_triggers` made on ``tables`` (not the function)."""
    if on_postgresql():
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        return
    for table in tables:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
