"""`sandbox worker`: a queue worker process (PostgreSQL catalog), on this or any other machine."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from sandbox.cli.common import app
from sandbox.settings import Settings


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: SANDBOX_WORKER_THREADS).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Take jobs from the shared queue until SIGINT or SIGTERM (needs a PostgreSQL catalog)."""
    from sandbox.jobqueue import work
    from sandbox.runtime import Runtime

    settings = Settings()
    if not settings.uses_queue():
        typer.echo("sandbox worker needs the shared queue: a PostgreSQL SANDBOX_DATABASE_URL.", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rt = Runtime(settings)
    try:
        if metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, registry=rt.metrics.registry)
        asyncio.run(work(rt, concurrency=concurrency or max(1, settings.worker_threads)))
    finally:
        rt.close()
