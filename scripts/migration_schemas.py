"""Dump the schema after every migration step, up and down, so a change to the migrations can be
checked to leave every revision's schema as it was.

    .venv/bin/python scripts/migration_schemas.py sqlite > before-sqlite.txt
    .venv/bin/python scripts/migration_schemas.py postgresql+psycopg://USER:PASSWORD@HOST/EMPTY_DB > before-pg.txt
    # change gateway/migrations, dump again into after-*.txt: cmp before-sqlite.txt after-sqlite.txt

A fresh database is upgraded one revision at a time to head, then downgraded one revision at a
time to base. After each step the dump holds the inspector's view (tables, columns with types,
nullability, defaults, primary keys, foreign keys, indexes, unique and check constraints) and the
database's own: ``sqlite_master`` by type and name on SQLite, ``pg_dump --schema-only`` (its
version lines and random restrict keys left out) on PostgreSQL, which includes triggers and
functions. Last comes every statement the migrations sent, in order, without their parameters
(0007 stamps the time). A batch rebuild on SQLite recreates a table's indexes in no fixed order,
so ``sqlite_master`` is sorted and so is each run of consecutive CREATE INDEX statements.
The PostgreSQL database must exist and be empty; the script leaves it empty again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's migrations, not an installed copy

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url

from gateway.db import alembic_config, make_engine, upgrade


def _inspected(engine: Engine) -> list[str]:
    lines: list[str] = []
    insp = inspect(engine)
    for table in sorted(insp.get_table_names()):
        lines.append(f"table {table}")
        for col in insp.get_columns(table):
            lines.append(f"  column {col['name']} {col['type']!r} nullable={col['nullable']} "
                         f"default={col.get('default')!r} autoincrement={col.get('autoincrement')!r}")
        lines.append(f"  pk {insp.get_pk_constraint(table)}")
        for key, getter in (("fk", insp.get_foreign_keys), ("index", insp.get_indexes),
                            ("unique", insp.get_unique_constraints), ("check", insp.get_check_constraints)):
            for item in sorted(getter(table), key=repr):
                lines.append(f"  {key} {item}")
    return lines


def _native(engine: Engine) -> list[str]:
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))
            return [f"{row.type} {row.name} on {row.tbl_name}: {row.sql}" for row in rows]
    url = engine.url
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    out = subprocess.run(
        ["pg_dump", "--schema-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "", url.database or ""],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    noise = ("-- Dumped ", "\\restrict ", "\\unrestrict ")  # versions; a random key per dump
    return [line for line in out.splitlines() if not line.startswith(noise)]


def _dump(title: str, engine: Engine) -> list[str]:
    return [f"===== {title}", *_inspected(engine), "--- native", *_native(engine)]


def main(target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'mig.db'}" if target == "sqlite" else target
        engine = make_engine(url)
        if engine.dialect.name == "postgresql" and inspect(engine).get_table_names():
            raise SystemExit(f"{make_url(url).database} is not empty")
        statements: list[str] = []
        recording = [False]  # only the migrations' statements, not the dumps' queries

        @event.listens_for(engine, "before_cursor_execute")
        def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if recording[0]:
                statements.append(" ".join(statement.split()))

        config = alembic_config(engine)
        revisions = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions("base", "heads")]
        revisions.reverse()
        out: list[str] = []
        for revision in revisions:
            statements.append(f"-- upgrade {revision}")
            recording[0] = True
            upgrade(engine, revision)
            recording[0] = False
            out += _dump(f"up to {revision}", engine)
        for revision in [*reversed(revisions[:-1]), "base"]:
            statements.append(f"-- downgrade to {revision}")
            recording[0] = True
            command.downgrade(config, revision)
            recording[0] = False
            out += _dump(f"down to {revision}", engine)
        engine.dispose()
        if engine.dialect.name == "postgresql":
            with make_engine(url).begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        sys.stdout.write("\n".join([*out, "===== statements", *_indexes_sorted(statements)]) + "\n")


def _indexes_sorted(statements: list[str]) -> list[str]:
    out: list[str] = []
    run: list[str] = []
    for statement in [*statements, ""]:
        if statement.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            run.append(statement)
            continue
        out += sorted(run)
        run = []
        out.append(statement)
    return out[:-1]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "sqlite")
