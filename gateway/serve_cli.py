"""``likeness serve`` and ``likeness worker``: the HTTP server and the job workers.

    $ likeness serve --host 127.0.0.1 --port 8000      # API, portal, admin; runs jobs in-process (SQLite queue)
    $ LIKENESS_REDIS_URL=redis://… likeness serve       # API only: jobs go to Redis
    $ LIKENESS_REDIS_URL=redis://… likeness worker -t 2 # a worker process (any machine with DB, Redis, storage)

Everything the server needs is built before it listens, so a broken policy file, a missing key
or an unreachable database stops it with one line, not a traceback.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        jobs: Annotated[bool | None, typer.Option("--jobs/--no-jobs", help="Run generation jobs inside the server "
                                                  "(default: yes unless LIKENESS_REDIS_URL is set).")] = None,
        workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64, help="Server processes (face matching "
                                             "and decoding run in parallel across them).")] = 1,
    ) -> None:
        """Serve the partner API (/v1), the consent portal (/consent) and the admin pages (/admin)."""
        import os

        import uvicorn

        from gateway.app import create_app
        from gateway.runtime import Runtime, ensure_keys, secure_data_dir_of
        from gateway.settings import get_settings

        settings = get_settings()
        secure_data_dir_of(settings)  # 0700/0600; an existing data dir open to others is tightened, with a warning
        ensure_keys(settings)
        run_jobs = (not settings.redis_url) if jobs is None else jobs
        runtime = Runtime.build(settings, with_worker=run_jobs and workers == 1)  # fails here, in one line
        typer.echo(f"likeness: serving on http://{host}:{port} ({workers} process{'es' if workers > 1 else ''}; "
                   f"jobs: {'in the server' if run_jobs else 'external workers'}, queue: {runtime.queue.backend}, "
                   f"generator: {settings.generator_backend})",
                   err=True)
        from gateway.sessions_api import WS_MAX_BYTES

        common: dict[str, Any] = {"host": host, "port": port, "log_level": "info", "access_log": False,
                                  "proxy_headers": False, "server_header": False, "ws_max_size": WS_MAX_BYTES}
        if workers == 1:
            uvicorn.run(create_app(settings, runtime=runtime, run_jobs=run_jobs), **common)
            return
        # Several processes: each builds its own services from the same settings (the environment).
        os.environ["LIKENESS_RUN_JOBS"] = "true" if run_jobs else "false"
        uvicorn.run("gateway.app:app_from_environment", factory=True, workers=workers, **common)

    @app.command()
    def worker(
        threads: Annotated[int, typer.Option("--threads", "-t", help="Jobs run at once.", min=1, max=64)] = 1,
    ) -> None:
        """Run generation jobs from the queue (Redis with LIKENESS_REDIS_URL, else the SQLite queue)."""
        from gateway.runtime import Runtime, secure_data_dir_of
        from gateway.settings import get_settings
        from generations import Recovery

        settings = get_settings()
        secure_data_dir_of(settings)
        runtime = Runtime.build(settings, with_worker=True)
        assert runtime.worker is not None
        recovery = Recovery(runtime.worker.recover, runtime.queue.enqueue, every_s=settings.recover_every_s)
        recovery.start()
        typer.echo(f"likeness: worker {runtime.worker.name} with {threads} thread(s) on the "
                   f"{runtime.queue.backend} queue, generator {runtime.worker.generator.name} "
                   f"{runtime.worker.generator.version}", err=True)
        try:
            runtime.queue.consumer(workers=threads, embedded=False).run()
        finally:
            recovery.stop()


__all__ = ["register"]
