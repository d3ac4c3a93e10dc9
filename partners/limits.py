"""Rate limits: requests a partner made in fixed one-minute windows, counted in the database.

Every gateway replica counts in the same ``rate_windows`` table, so a partner's rate holds
across replicas; one upsert per request, and windows older than an hour are forgotten.

>>> from datetime import UTC, datetime
>>> from sqlmodel import SQLModel, create_engine
>>> import partners.models
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> limiter = RateLimiter(engine)
>>> now = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
>>> [limiter.hit("ptn_1", now=now)[0] for _ in range(3)], limiter.hit("ptn_1", now=now)[1]
([1, 2, 3], 30)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from partners.errors import PartnerStoreError


class RateLimiter:
    """Counts a partner's requests per minute (the caller compares with the partner's ``rate_per_minute``)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._clock = clock

    def hit(self, partner_id: str, *, now: datetime | None = None) -> tuple[int, int]:
        """Count one request in the partner's current minute; returns (count so far, seconds until the next minute)."""
        moment = now or self._clock()
        epoch = int(moment.timestamp())
        minute = epoch // 60
        statement = text(
            "INSERT INTO rate_windows (partner_id, minute, count) VALUES (:p, :m, 1) "
            "ON CONFLICT (partner_id, minute) DO UPDATE SET count = rate_windows.count + 1 RETURNING count")
        try:
            with Session(self._engine) as session:
                # sqlmodel's exec() is typed for select/update/delete only; it runs text() as SQLAlchemy does
                count = session.exec(statement.bindparams(p=partner_id, m=minute)).scalar_one()  # type: ignore[call-overload]
                if epoch % 60 < 2:  # about once a minute, forget windows older than an hour
                    session.exec(text("DELETE FROM rate_windows WHERE minute < :old").bindparams(  # type: ignore[call-overload]
                        old=minute - 60))
                session.commit()
        except SQLAlchemyError as exc:
            raise PartnerStoreError(f"rate windows unavailable: {type(exc).__name__}") from exc
        return int(count), 60 - epoch % 60


__all__ = ["RateLimiter"]
