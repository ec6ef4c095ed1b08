"""The result row limit: a result over `Limits.max_rows` fails with a code and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from sandbox.errors import ErrorCode
from sandbox.workspace import Limits, WorkspaceRequest, WorkspaceResult, run
from sandbox.workspace.runner import RESULT_NAME

BACKENDS = ["inprocess", "process", "namespace"]
MakeRequest = Callable[..., WorkspaceRequest]
ROWS = 30  # the fixture's people
SECRETS = ("SECRET-ALICE", "SECRET-NOTE")  # seeded by conftest.people_path
EVERY_ROW = "SELECT district, income, name FROM people ORDER BY income DESC NULLS LAST, name"
# 30^6 = 729 million rows if it ran to the end: far past any limit, memory or patience.
CROSS = "FROM people a, people b, people c, people d, people e, people f"
EXPLOSION = f"SELECT a.name, b.district, c.income {CROSS}"


def read(result: WorkspaceResult) -> pa.Table:
    assert result.ok and result.result_path is not None
    with pa.OSFile(str(result.result_path)) as source:
        return pa.ipc.open_file(source).read_all()


def assert_failed_cleanly(result: WorkspaceResult, code: ErrorCode, work_dir: Path, capfd) -> None:
    assert (result.ok, result.error, result.rows, result.result_path) == (False, code, 0, None)
    assert not (work_dir / RESULT_NAME).exists()
    out, err = capfd.readouterr()
    for text in (repr(result), out, err):
        assert not any(secret in text for secret in SECRETS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_result_over_the_row_limit_fails_with_result_too_large(
    make_request: MakeRequest, work_dir: Path, backend: str, capfd
) -> None:
    (work_dir / RESULT_NAME).write_bytes(b"stale")
    result = run(make_request(EVERY_ROW, Limits(memory_mb=256, timeout_s=30, max_rows=ROWS - 1)), backend)
    assert_failed_cleanly(result, ErrorCode.result_too_large, work_dir, capfd)
    assert [p.name for p in work_dir.iterdir() if p.is_file()] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_result_at_the_row_limit_is_written_whole_and_in_order(
    make_request: MakeRequest, backend: str
) -> None:
    result = run(make_request(EVERY_ROW, Limits(memory_mb=256, timeout_s=30, max_rows=ROWS)), backend)
    assert result.error is None and result.rows == ROWS
    table = read(result)
    incomes = [v for v in table.column("income").to_pylist() if v is not None]
    assert table.num_rows == ROWS and incomes == sorted(incomes, reverse=True)


def test_order_and_limit_of_the_query_are_kept_under_the_row_limit(make_request: MakeRequest) -> None:
    sql = "SELECT district, COUNT(*) AS n FROM people GROUP BY district ORDER BY district DESC LIMIT 2"
    result = run(make_request(sql, Limits(memory_mb=256, timeout_s=30, max_rows=2)), "inprocess")
    assert read(result).to_pylist() == [{"district": "西城", "n": 10}, {"district": "朝阳", "n": 10}]


def test_default_limit_is_the_settings_default() -> None:
    from sandbox.settings import Settings

    assert Limits().max_rows == Settings().workspace_max_rows == 100_000


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_join_explosion_fails_cleanly_and_the_next_job_runs(
    make_request: MakeRequest, work_dir: Path, backend: str, capfd
) -> None:
    limits = Limits(memory_mb=256, timeout_s=10, max_rows=1000)
    result = run(make_request(EXPLOSION, limits), backend)
    assert_failed_cleanly(result, ErrorCode.result_too_large, work_dir, capfd)
    assert result.total_s < 5  # stopped after one row too many, not at the timeout

    # An explosion that returns one row is held by the timeout instead; still a code, still quick.
    aggregate = f"SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income) {CROSS}"
    result = run(make_request(aggregate, Limits(memory_mb=256, timeout_s=0.5, max_rows=1000)), backend)
    assert result.error in (ErrorCode.query_timeout, ErrorCode.query_out_of_memory)
    assert_failed_cleanly(result, result.error, work_dir, capfd)

    after = run(make_request("SELECT district, COUNT(*) AS n FROM people GROUP BY 1 ORDER BY 1"), backend)
    assert after.ok and read(after).column("n").to_pylist() == [10, 10, 10]
