"""The manifest repository: look up a released video's manifest by watermark or generation id.

>>> from sqlmodel import create_engine, SQLModel
>>> from provenance.repository import ManifestRepository
>>> engine = create_engine("sqlite://")
>>> SQLModel.metadata.create_all(engine)
>>> ManifestRepository(engine).by_watermark_id(42) is None
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, func, select

from likeness import errors as kinds
from likeness.db import store_session
from provenance.errors import ProvenanceError
from provenance.models import ManifestRecord


class RepositoryError(kinds.StoreUnavailableError, ProvenanceError):
    """The manifest repository could not be read or written."""


class ManifestRepository:
    """Reads and writes :class:`ManifestRecord` rows through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=RepositoryError, what="the manifest repository",
                             expire_on_commit=True)

    @contextmanager
    def pending(self, record: ManifestRecord) -> Iterator[None]:
        """Insert ``record`` and commit only if the body finishes; roll back otherwise.

        The release path renames the finished file inside this block, so a row exists exactly
        when the file was released.
        """
        with self._session() as session:
            session.add(record)
            try:
                session.flush()
            except SQLAlchemyError as exc:
                session.rollback()
                raise RepositoryError(f"could not record the manifest: {type(exc).__name__}") from exc
            try:
                yield
            except BaseException:
                session.rollback()
                raise
            try:
                session.commit()
            except SQLAlchemyError as exc:
                raise RepositoryError(f"could not record the manifest: {type(exc).__name__}") from exc

    def by_watermark_id(self, watermark_id: int) -> ManifestRecord | None:
        with self._session() as session:
            return session.get(ManifestRecord, f"{watermark_id:016x}")

    def by_generation_id(self, generation_id: str) -> ManifestRecord | None:
        with self._session() as session:
            statement = select(ManifestRecord).where(ManifestRecord.generation_id == generation_id)
            return session.exec(statement).first()

    def count(self) -> int:
        with self._session() as session:
            return session.exec(select(func.count()).select_from(ManifestRecord)).one()
