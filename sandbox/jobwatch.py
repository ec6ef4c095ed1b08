"""Long polls on job states: one reader per process answers every waiting request.

A poll used to re-read its own job every 250 ms in a worker thread of its own: fifty clients waiting
on their jobs were two hundred reads a second, and forty of them held the whole thread pool of the
API, so every other request queued behind them for the length of a poll. Here a waiting request is
an event on the event loop; one task reads the states of all waited-on jobs in one query, at once
when this process changed a job (`Runtime.job_changed`) and every `poll_s` for jobs that other
processes (queue workers) move, and wakes exactly the requests whose job changed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from sandbox.catalog import Catalog
from sandbox.catalog.models import Job


@dataclass(eq=False)
class _Waiter:
    job_id: str
    seen: str  # the state the request last answered with
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class JobWatch:
    """Serves the long polls of one event loop (the API's); `nudge` may be called from any thread."""

    def __init__(self, catalog: Catalog, poll_s: float = 0.25) -> None:
        self.catalog = catalog
        self.poll_s = poll_s
        self._waiters: set[_Waiter] = set()
        self._lock = threading.Lock()  # guards the loop and nudge event seen by other threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nudged: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def wait(self, job_id: str, seen: str, timeout: float) -> None:
        """Until the job is in a state other than `seen` (or gone), or `timeout` seconds."""
        waiter = _Waiter(job_id, seen)
        self._waiters.add(waiter)
        if self._task is None:
            with self._lock:
                self._loop, self._nudged = asyncio.get_running_loop(), asyncio.Event()
            self._task = asyncio.create_task(self._watch(), name="job-watch")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.changed.wait(), timeout)
        finally:
            self._waiters.discard(waiter)

    def nudge(self) -> None:
        """A job changed in this process: read the waited-on states now instead of at the next tick."""
        with self._lock:
            loop, nudged = self._loop, self._nudged
        if loop is not None and nudged is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(nudged.set)

    async def _watch(self) -> None:
        assert self._nudged is not None
        try:
            while self._waiters:
                self._nudged.clear()  # before the read: a change committed during it nudges again
                ids = sorted({w.job_id for w in self._waiters})
                states = await asyncio.to_thread(self._states, ids)
                for w in list(self._waiters):
                    if states.get(w.job_id) != w.seen:
                        w.changed.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self.poll_s)
        finally:
            self._task = None
            with self._lock:
                self._loop = self._nudged = None

    def _states(self, ids: list[str]) -> dict[str, str]:
        with self.catalog.reading() as s:
            return {i: st for i, st in s.execute(select(Job.id, Job.state).where(Job.id.in_(ids)))}
