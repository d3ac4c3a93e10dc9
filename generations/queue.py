"""The job queue: Huey dispatches job ids to workers; the jobs table stays the source of truth.

``SqliteHuey`` under the data dir by default, drained by a consumer thread inside
``likeness serve`` (:class:`EmbeddedConsumer`); ``RedisHuey`` when ``LIKENESS_REDIS_URL`` is
set, drained by ``likeness worker`` processes on any machine that reaches the same database,
Redis and storage. A recovery loop in every consumer hands lost jobs back to the queue
(:meth:`generations.worker.GenerationWorker.recover`).

>>> import tempfile; from pathlib import Path
>>> queue = JobQueue.open(redis_url=None, sqlite_path=Path(tempfile.mkdtemp()) / "jobs.db")
>>> queue.backend
'sqlite'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer

from generations.errors import QueueError
from likeness.files import private_sqlite_file

logger = logging.getLogger(__name__)

RECOVER_EVERY_S = 15.0


class EmbeddedConsumer(Consumer):
    """Huey's consumer without its signal handlers: the server process owns SIGINT/SIGTERM."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    """A Huey instance with the one task Likeness runs: ``generate(job_id)``."""

    def __init__(self, huey: Huey, *, backend: str) -> None:
        self.huey = huey
        self.backend = backend
        self._runner: Callable[[str], str] | None = None

        @huey.task(name="likeness.generate")
        def generate(job_id: str) -> str:
            if self._runner is None:
                raise QueueError("this process has no worker attached (likeness worker / likeness serve)")
            return self._runner(job_id)

        self._task = generate

    @classmethod
    def open(cls, *, redis_url: str | None, sqlite_path: Path) -> JobQueue:
        """``RedisHuey`` on ``redis_url`` when one is given (LIKENESS_REDIS_URL), else ``SqliteHuey`` at
        ``sqlite_path``."""
        if redis_url:
            try:
                huey: Huey = RedisHuey("likeness", url=redis_url, results=False)
            except Exception as exc:  # redis-py raises several kinds for a bad URL
                raise QueueError(f"cannot use LIKENESS_REDIS_URL: {type(exc).__name__}: {exc}") from exc
            return cls(huey, backend="redis")
        try:
            private_sqlite_file(sqlite_path)  # 0600 before SQLite opens it (with its -wal and -shm)
        except OSError as exc:
            raise QueueError(f"cannot create the queue file {sqlite_path}: {exc.strerror or exc}") from exc
        return cls(SqliteHuey("likeness", filename=str(sqlite_path), results=False), backend="sqlite")

    def attach(self, runner: Callable[[str], str]) -> None:
        """The function that runs a job id in this process (a worker's :meth:`run`)."""
        self._runner = runner

    def enqueue(self, job_id: str) -> None:
        try:
            self._task(job_id)
        except Exception as exc:
            raise QueueError(f"could not queue the job: {type(exc).__name__}") from exc

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def consumer(self, *, workers: int = 1, embedded: bool) -> Consumer:
        cls = EmbeddedConsumer if embedded else Consumer
        return cls(self.huey, workers=workers, worker_type="thread", periodic=False, initial_delay=0.05,
                   max_delay=0.5, backoff=1.5, check_worker_health=not embedded)


class Recovery(threading.Thread):
    """Every few seconds, hand lost jobs back to the queue (the worker's :meth:`recover`)."""

    def __init__(self, recover: Callable[..., Any], enqueue: Callable[[str], None], *,
                 every_s: float = RECOVER_EVERY_S, queued_for: timedelta = timedelta(seconds=60)) -> None:
        super().__init__(name="likeness-recovery", daemon=True)
        self._recover = recover
        self._enqueue = enqueue
        self._every_s = every_s
        self._queued_for = queued_for
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._recover(self._enqueue, queued_for=self._queued_for)
            except Exception:
                logger.exception("recovery pass failed; trying again later")
            self._stop_event.wait(self._every_s)

    def stop(self) -> None:
        self._stop_event.set()


__all__ = ["EmbeddedConsumer", "JobQueue", "Recovery"]
