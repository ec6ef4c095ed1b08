"""The shared job queue: procrastinate on the PostgreSQL catalog, for `sandbox worker` processes anywhere.

The embedded default (SQLite) runs jobs with the in-process dispatcher (`worker.py`); with a
PostgreSQL catalog each allowed job is deferred as one procrastinate task, `sandbox.run_job(job_id)`,
and any number of worker processes on any machines take them. Procrastinate gives the locks (one
task per job at a time: `lock` and `queueing_lock` are the job id), worker heartbeats and the list of
stalled jobs; the catalog stays the authority on a job's state:

- a task first claims its job (`queued -> running`, a conditional update: one claimer wins);
- a worker killed mid-run stops beating; after `queue_stalled_s` any live worker's recovery loop
  retries its task, and the retried task, finding the job running or checking, fails it with
  `worker_lost` (never resumed, so never run or released twice; release always needs a review);
- a task whose job is no longer queued and that is not a retry (a duplicate) does nothing;
- the recovery loop also defers queued jobs that have no task (the API died between commit and
  deferral): procrastinate's queueing lock makes that a no-op for jobs already waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sandbox import run

if TYPE_CHECKING:
    from sandbox.runtime import Runtime

log = logging.getLogger(__name__)

TASK = "sandbox.run_job"
QUEUE = "jobs"


def conninfo(catalog_url: str) -> str:
    """The catalog's SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(catalog_url).set(drivername="postgresql").render_as_string(hide_password=False)


def execute(rt: Runtime, job_id: str, *, retried: bool) -> str:
    """The job function every queue worker runs; returns what it did (for logs and tests)."""
    if run.claim_job(rt, job_id):
        run.run_claimed(rt, job_id)
        return "ran"
    if retried and run.fail_abandoned(rt, job_id):
        log.warning("job %s failed: its worker stopped beating mid-run", job_id)
        return "failed_abandoned"
    return "skipped"


class Deferrer:
    """Defers tasks from the API (synchronous; its own connection pool, opened on first use)."""

    def __init__(self, catalog_url: str) -> None:
        connector = procrastinate.SyncPsycopgConnector(conninfo=conninfo(catalog_url))
        self.app = procrastinate.App(connector=connector)
        self._open = False
        self._lock = threading.Lock()

    def defer(self, job_id: str) -> None:
        with self._lock:
            if not self._open:
                self.app.open()
                self._open = True
        with contextlib.suppress(AlreadyEnqueued):  # its task is already waiting
            _configure(self.app, job_id).defer(job_id=job_id)

    def close(self) -> None:
        with self._lock:
            if self._open:
                self.app.close()
                self._open = False


def _configure(app: procrastinate.App, job_id: str) -> Any:
    return app.configure_task(TASK, queue=QUEUE, lock=job_id, queueing_lock=job_id)


def worker_app(rt: Runtime) -> procrastinate.App:
    """A procrastinate app (async connector) with the job task bound to this runtime."""
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(rt.settings.catalog_url()))
    app = procrastinate.App(connector=connector)

    @app.task(name=TASK, queue=QUEUE, pass_context=True)
    def run_job_task(context: procrastinate.JobContext, job_id: str) -> None:
        attempts = context.job.attempts if context.job is not None else 0
        execute(rt, job_id, retried=attempts > 0)

    return app


async def work(rt: Runtime, *, concurrency: int, install_signal_handlers: bool = True) -> None:
    """Run one queue worker until cancelled (or SIGINT/SIGTERM when it owns the main thread)."""
    settings = rt.settings
    app = worker_app(rt)
    async with app.open_async():
        recovery = asyncio.create_task(_recover(app, rt), name="sandbox-recovery")
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                update_heartbeat_interval=settings.queue_heartbeat_s,
                stalled_worker_timeout=settings.queue_stalled_s,
                install_signal_handlers=install_signal_handlers,
                delete_jobs="successful",
            )
        finally:
            recovery.cancel()


async def _recover(app: procrastinate.App, rt: Runtime) -> None:
    """Every `queue_recover_s`: retry the tasks of workers that stopped beating; defer lost jobs."""
    while True:
        await asyncio.sleep(rt.settings.queue_recover_s)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=rt.settings.queue_stalled_s
            )
            for job in stalled:
                try:
                    await app.job_manager.retry_job(job)
                except Exception:  # another worker's recovery retried it first
                    continue
            for job_id in await asyncio.to_thread(_undeferred, rt):
                try:
                    await _configure(app, job_id).defer_async(job_id=job_id)
                except AlreadyEnqueued:
                    continue
        except Exception as e:  # catalog or queue briefly unavailable: next round
            log.error("queue recovery failed: %s", type(e).__name__)


def _undeferred(rt: Runtime) -> list[str]:
    """Jobs queued for longer than a recovery period with no task waiting or running for them."""
    before = datetime.now(UTC) - timedelta(seconds=rt.settings.queue_recover_s)
    with rt.catalog.session() as s:
        q = text(
            "SELECT j.id FROM jobs j WHERE j.state = 'queued' AND j.created_at < :before AND NOT EXISTS"
            " (SELECT 1 FROM procrastinate_jobs p WHERE p.lock = j.id AND p.status IN ('todo', 'doing'))"
            " LIMIT 1000"
        )
        return list(s.execute(q, {"before": before}).scalars())


class QueueDispatcher:
    """A queue worker inside the API process (embedded use with a PostgreSQL catalog, tests)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="queue-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def wake(self) -> None:
        """Nothing to do: deferral notifies every worker through PostgreSQL LISTEN/NOTIFY."""

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=15)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()  # type: ignore[assignment]
            self._ready.set()
            concurrency = max(1, self.rt.settings.worker_threads)
            await work(self.rt, concurrency=concurrency, install_signal_handlers=False)

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except Exception as e:
            log.error("queue worker stopped: %s", type(e).__name__)
        finally:
            self._ready.set()
