from __future__ import annotations

import hashlib
import hmac
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from policies.levels import ColumnLevel
from sandbox.errors import ErrorCode
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, WorkspaceResult, run, runner
from sandbox.workspace.process import _exit_code, _limit, _quiet
from sandbox.workspace.runner import RESULT_NAME, Session, _Status, open_locked, query

BACKENDS = ["inprocess", "process"]
MakeRequest = Callable[..., WorkspaceRequest]


def read(result: WorkspaceResult) -> pa.Table:
    assert result.ok and result.result_path is not None
    with pa.OSFile(str(result.result_path)) as source:
        return pa.ipc.open_file(source).read_all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_grouped_aggregate_is_written_to_result_arrow(make_request: MakeRequest, backend: str) -> None:
    sql = (
        "SELECT district, COUNT(*) AS n, SUM(income) AS total, COUNT(income) AS n_income, "
        "COUNT(DISTINCT person_id) AS units FROM people GROUP BY district ORDER BY district"
    )
    result = run(make_request(sql), backend)
    assert result.error is None and result.rows == 3
    assert result.result_path == result.result_path.parent / RESULT_NAME  # type: ignore[union-attr]
    assert 0 < result.query_s <= result.total_s
    table = read(result)
    assert table.column_names == ["district", "n", "total", "n_income", "units"]
    assert table.to_pylist()[0] == {"district": "东城", "n": 10, "total": 9135.0, "n_income": 9, "units": 10}


def test_process_backend_end_to_end(make_request: MakeRequest, people_view: ViewSpec, capfd) -> None:
    """A real job in its own process: hidden column unreachable, join key hashed, result read back."""
    hidden = run(make_request("SELECT note FROM people"), "process")
    assert (hidden.ok, hidden.error, hidden.result_path) == (False, ErrorCode.query_failed, None)
    assert "SECRET-NOTE" not in repr(hidden)

    ids = read(run(make_request("SELECT person_id, COUNT(*) AS n FROM people GROUP BY person_id"), "process"))
    expected = {
        hmac.new(people_view.join_key_secret, f"11010119900101{i:04d}".encode(), hashlib.sha256).hexdigest()
        for i in range(30)
    }
    assert set(ids.column("person_id").to_pylist()) == expected

    result = run(
        make_request("SELECT district, SUM(income) AS total FROM people GROUP BY 1 ORDER BY 1"), "process"
    )
    assert read(result).to_pylist() == [
        {"district": "东城", "total": 9135.0},
        {"district": "朝阳", "total": 27135.0},
        {"district": "西城", "total": 18135.0},
    ]
    out, err = capfd.readouterr()
    assert "SECRET" not in out + err


@pytest.mark.parametrize("backend", BACKENDS)
def test_conversion_error_never_carries_the_value(make_request: MakeRequest, backend: str, capfd) -> None:
    result = run(make_request("SELECT SUM(CAST(name AS INTEGER)) FROM people"), backend)
    assert (result.ok, result.error, result.rows, result.result_path) == (
        False,
        ErrorCode.query_conversion_failed,
        0,
        None,
    )
    out, err = capfd.readouterr()
    for text in (repr(result), out, err):
        assert "SECRET-ALICE" not in text


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT SUM(CAST(income AS INTEGER) // 0) FROM people", ErrorCode.query_division_by_zero),
        ("SELECT MAX(CAST(income AS INTEGER) * 2147483647) FROM people", ErrorCode.query_out_of_range),
        ("SELECT * FROM read_parquet('/etc/passwd')", ErrorCode.query_failed),
        ("SELECT sql FROM duckdb_views()", ErrorCode.query_failed),
        ("COPY (SELECT * FROM people) TO 'out.csv'", ErrorCode.query_failed),
        ("SELECT nope FROM people", ErrorCode.query_failed),
    ],
)
def test_failures_are_codes(make_request: MakeRequest, sql: str, code: ErrorCode) -> None:
    result = run(make_request(sql), "inprocess")
    assert (result.ok, result.error) == (False, code)


def test_stale_result_is_removed_when_a_job_fails(make_request: MakeRequest, work_dir: Path) -> None:
    (work_dir / RESULT_NAME).write_bytes(b"old")
    assert run(make_request("SELECT nope FROM people"), "inprocess").error is ErrorCode.query_failed
    assert not (work_dir / RESULT_NAME).exists()


# 30^7 rows through arithmetic no optimizer can skip: tens of seconds if not interrupted.
SLOW = (
    "SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income - g.income) "
    "FROM people a, people b, people c, people d, people e, people f, people g"
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_query_is_interrupted_at_the_timeout(make_request: MakeRequest, backend: str) -> None:
    result = run(make_request(SLOW, Limits(memory_mb=256, timeout_s=0.5)), backend)
    assert (result.ok, result.error) == (False, ErrorCode.query_timeout)
    assert result.total_s < 5


def test_one_watchdog_interrupts_each_overrun_and_only_overruns(make_request: MakeRequest) -> None:
    """A warm workspace's watchdog: queries that together outlast the timeout all finish; a
    shorter timeout after a longer one still fires on time (the sleeping thread is woken)."""
    request = make_request("SELECT 1")
    con = open_locked(request.views, request.limits, request.work_dir)
    session = Session(con)
    names, fast = ["people"], "SELECT COUNT(*) AS n FROM people"
    try:
        long = Limits(memory_mb=256, timeout_s=60)
        assert query(con, fast, names, long, session)[0].ok  # the thread now sleeps 60 s
        short = Limits(memory_mb=256, timeout_s=0.3)
        started = time.monotonic()
        while time.monotonic() - started < 0.6:  # past one query's deadline: nothing fires late
            assert query(con, fast, names, short, session)[0].ok
        for _ in range(2):  # after an interrupt the watchdog keeps serving
            started = time.perf_counter()
            status, table = query(con, SLOW, names, short, session)
            assert (status.error, table) == (ErrorCode.query_timeout, None)
            assert time.perf_counter() - started < 5
            assert query(con, fast, names, short, session)[0].ok
    finally:
        session.close()
        con.close()
    deadline = time.monotonic() + 5
    while any(t.name == "query-watchdog" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "query-watchdog" for t in threading.enumerate())


def test_a_session_prepares_each_checked_text_once_and_stays_bounded(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_PREPARED_MAX", 2)
    request = make_request("SELECT 1")
    con = open_locked(request.views, request.limits, request.work_dir)
    session = Session(con)
    try:
        texts = [f"SELECT COUNT(*) + {i} AS n FROM people" for i in range(3)]
        for sql in texts * 2:
            status, table = query(con, sql, ["people"], request.limits, session)
            assert status.ok and table is not None and table.to_pylist() == [{"n": 30 + texts.index(sql)}]
            assert len(session.prepared) <= 2
        drawn = [query(con, "SELECT random() AS r", ["people"], request.limits, session)[1] for _ in range(3)]
        assert len({t.column("r")[0].as_py() for t in drawn if t is not None}) == 3  # run, not replayed
        foreign = "SELECT * FROM read_parquet('/etc/passwd')"
        for _ in range(2):  # refused each time, never prepared
            assert query(con, foreign, ["people"], request.limits, session)[0].error is ErrorCode.query_failed
        assert not any(foreign in text for text in session.prepared)
        small = Limits(memory_mb=256, max_rows=2)  # the row limit is in the prepared text
        status, _ = query(con, "SELECT district FROM people", ["people"], small, session)
        assert status.error is ErrorCode.result_too_large
    finally:
        session.close()
        con.close()


def test_hung_child_is_killed_by_the_parent(tmp_path: Path, work_dir: Path) -> None:
    fifo = tmp_path / "hang.parquet"
    os.mkfifo(fifo)  # opening it for reading blocks forever: the child hangs before its query starts
    spec = ViewSpec("t", fifo, (("x", ColumnLevel.public),))
    started = time.perf_counter()
    result = run(WorkspaceRequest("hang", (spec,), "SELECT 1", work_dir, Limits(timeout_s=0.2)), "process")
    assert (result.ok, result.error) == (False, ErrorCode.query_timeout)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_limit_gives_out_of_memory(make_request: MakeRequest, backend: str) -> None:
    sql = "SELECT list(a.income) FROM people a, people b, people c, people d, people e"
    result = run(make_request(sql, Limits(memory_mb=64, timeout_s=30)), backend)
    assert (result.ok, result.error) == (False, ErrorCode.query_out_of_memory)


def test_unknown_backend_is_refused(make_request: MakeRequest) -> None:
    with pytest.raises(ValueError):
        run(make_request("SELECT 1"), "nosuch")


def test_exit_without_report_is_classified() -> None:
    assert _exit_code(-signal.SIGXCPU) is ErrorCode.query_timeout
    assert _exit_code(-signal.SIGKILL) is ErrorCode.query_out_of_memory
    assert _exit_code(-signal.SIGSEGV) is ErrorCode.workspace_crashed
    assert _exit_code(1) is ErrorCode.workspace_crashed


def test_status_carries_no_text() -> None:
    status = _Status(False, 0, ErrorCode.query_failed, 0.0)
    assert _Status.decode(status.encode()) == status
    for junk in (
        b'{"ok": "yes", "rows": 0, "error": null, "query_s": 0}',
        b'{"ok": false}',
        b"not json",
        b'{"ok": false, "rows": 0, "error": "Conversion Error: SECRET", "query_s": 0}',
    ):
        with pytest.raises((ValueError, KeyError)):
            _Status.decode(junk)


def test_child_isolation_sets_limits_and_drops_fds() -> None:
    """Run _quiet and _limit, as a workspace does, in a forked child; it reports what it sees."""
    read_fd, write_fd = os.pipe()
    extra = os.open(os.devnull, os.O_RDONLY)  # an inherited descriptor the child must not keep
    pid = os.fork()
    if pid == 0:  # child
        try:
            _quiet(keep=write_fd)
            _limit(Limits(memory_mb=100, threads=2, timeout_s=10))
            fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
            facts = [
                resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024),
                resource.getrlimit(resource.RLIMIT_CPU)[0],
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                resource.getrlimit(resource.RLIMIT_CORE)[1],
                int(os.readlink("/proc/self/fd/1") == os.devnull),
                int(extra in fds),
            ]
            os.write(write_fd, repr(facts).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.close(extra)
    data = os.read(read_fd, 1000)
    os.waitpid(pid, 0)
    os.close(read_fd)
    assert data.decode() == repr([100 * 4 + 4096, 10 * 2 + 10, 256, 0, 1, 0])
