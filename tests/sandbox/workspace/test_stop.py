"""A running workspace is killed as soon as its stop check says so (revocation, cancellation)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox.errors import ErrorCode
from sandbox.workspace import Limits, WorkspaceRequest, run
from sandbox.workspace.runner import RESULT_NAME

CROSS = "FROM people a, people b, people c, people d, people e, people f"
SLOW = f"SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income) {CROSS}"


def test_stop_check_kills_a_running_workspace(make_request: Callable[..., WorkspaceRequest]) -> None:
    asked: list[float] = []
    started = time.monotonic()

    def should_stop() -> bool:  # true from the third question on
        asked.append(time.monotonic() - started)
        return len(asked) >= 3

    request = make_request(SLOW, Limits(memory_mb=256, timeout_s=30, max_rows=10))
    result = run(request, "process", should_stop=should_stop)
    elapsed = time.monotonic() - started
    assert result.error is ErrorCode.job_stopped and not result.ok and result.result_path is None
    assert len(asked) == 3  # asked while the query ran, and it stopped on the first true
    assert elapsed - asked[-1] < 2  # killed right after the check turned true, not at the 30 s timeout
    assert not (request.work_dir / RESULT_NAME).exists()
    after = run(make_request("SELECT district, COUNT(*) AS n FROM people GROUP BY 1"), "process")
    assert after.ok  # the pool recovers


def test_a_check_that_never_fires_changes_nothing(make_request: Callable[..., WorkspaceRequest]) -> None:
    result = run(make_request("SELECT COUNT(*) AS n FROM people"), "process", should_stop=lambda: False)
    assert result.ok and result.rows == 1
