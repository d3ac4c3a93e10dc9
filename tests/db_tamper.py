"""Changing rows behind the append-only triggers, as someone holding the database could: for the tests that
prove such a change is caught (a module of its own: ``conftest`` is not importable by name)."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine


def tamper_tables(engine: Engine, sql: str, *, prefix: str, **params: object) -> int:
    """Run ``sql`` (one or more statements split at ``;``) with the triggers of the tables named ``prefix…``
    out of the way; the rows changed.

    SQLite: drop those tables' triggers, change, recreate them. PostgreSQL: the table owner disables its
    user triggers for the change. Parameters a statement does not name are ignored.
    """
    used = {name: value for name, value in params.items() if f":{name}" in sql}
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                         "AND tbl_name LIKE :prefix"), {"prefix": prefix + "%"}).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            count = _run(conn, sql, used)
            for _, definition in triggers:
                conn.exec_driver_sql(definition)
            return count
        tables = [t for t in inspect(conn).get_table_names() if t.startswith(prefix)]
        for table in tables:
            conn.execute(text(f'ALTER TABLE "{table}" DISABLE TRIGGER USER'))
        count = _run(conn, sql, used)
        for table in tables:
            conn.execute(text(f'ALTER TABLE "{table}" ENABLE TRIGGER USER'))
        return count


def _run(conn: Connection, sql: str, params: dict[str, object]) -> int:
    return sum(conn.execute(text(statement), params).rowcount for statement in sql.split(";") if statement.strip())
