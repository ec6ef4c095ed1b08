"""Spare workspaces: each serves exactly one job, a dead one is never used, and the pool refills."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox.workspace import WorkspaceRequest, run
from sandbox.workspace.process import _pool, _Spare

MakeRequest = Callable[..., WorkspaceRequest]
GROUPED = "SELECT district, COUNT(*) AS n FROM people GROUP BY district ORDER BY district"


def _wait_for_spares(count: int, timeout: float = 10.0) -> list[_Spare]:
    pool = _pool()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pool._lock:
            ready = list(pool._ready)
        if len(ready) >= count:
            return ready
        time.sleep(0.02)
    raise AssertionError("the spare pool did not refill")


def test_each_spare_serves_one_job_and_the_pool_refills(make_request: MakeRequest) -> None:
    assert run(make_request(GROUPED), "process").ok
    spares = _wait_for_spares(_pool().size)
    pids = {s.process.pid for s in spares}
    assert len(pids) == _pool().size
    assert run(make_request(GROUPED), "process").ok
    # the spare that ran the job is gone; the pool was topped up with a new process
    deadline = time.monotonic() + 10
    while (
        any(s.process.is_alive() for s in spares if s not in _pool()._ready) and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    used = [s for s in spares if s not in _pool()._ready]
    assert len(used) == 1 and not used[0].process.is_alive()
    refilled = _wait_for_spares(_pool().size)
    assert {s.process.pid for s in refilled} != pids


def test_a_dead_spare_is_discarded_not_used(make_request: MakeRequest) -> None:
    assert run(make_request(GROUPED), "process").ok
    for spare in _wait_for_spares(_pool().size):
        spare.process.kill()
        spare.process.join(5)
    result = run(make_request(GROUPED), "process")
    assert result.ok and result.rows == 3
