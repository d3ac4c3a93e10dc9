"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import audit.models  # noqa: F401  (registers the tables)
import consent.models  # noqa: F401  (registers the tables)
import generations.models  # noqa: F401  (registers the tables)
import partners.models  # noqa: F401  (registers the tables)
import provenance.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `likeness db upgrade`")
run_migrations_online()
