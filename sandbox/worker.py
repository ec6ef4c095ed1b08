"""The in-process dispatcher: claims queued jobs and runs them on a small thread pool.

Submitting a job wakes the loop at once, so a job starts within milliseconds; a one-second poll picks
up jobs queued by other processes sharing the catalog.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from sandbox import run

if TYPE_CHECKING:
    from sandbox.runtime import Runtime

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, rt: Runtime, poll_s: float = 1.0) -> None:
        self.rt = rt
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slots = max(1, rt.settings.worker_threads)
        self._pool = ThreadPoolExecutor(self._slots, thread_name_prefix="job")
        self._inflight: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)

    def start(self) -> None:
        run.fail_interrupted(self.rt)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                free = self._slots - len(self._inflight)
            if free > 0:
                try:
                    for job_id in run.claim(self.rt, free):
                        fut = self._pool.submit(self._run, job_id)
                        with self._lock:
                            self._inflight.add(fut)
                        fut.add_done_callback(self._done)
                except Exception as e:  # catalog unavailable: try again on the next tick
                    log.error("claiming jobs failed: %s", type(e).__name__)
            self._wake.wait(self.poll_s)

    def _done(self, fut: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(fut)
        self._wake.set()

    def _run(self, job_id: str) -> None:
        run.run_claimed(self.rt, job_id)
