"""Warm workspaces: many calls per workspace, never across views, never after a failure.

Isolation seen from inside a warm workspace (no network, only the granted files) is in
test_isolation.py, whose probes run in one-shot and warm workspaces alike.
"""

from __future__ import annotations

import dataclasses
import resource
import threading
import time
import types
from collections.abc import Callable, Iterator
from multiprocessing import Pipe
from pathlib import Path

import pyarrow as pa
import pytest

from policies.levels import ColumnLevel
from sandbox.errors import ErrorCode
from sandbox.runtime import Runtime
from sandbox.settings import Settings
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, namespace, process, warm
from sandbox.workspace.runner import _Status, encode_answer
from sandbox.workspace.warm import WarmPool, _Workspace

GROUPED = "SELECT district, COUNT(*) AS n FROM people GROUP BY district ORDER BY district"
COUNTS = [{"district": "东城", "n": 10}, {"district": "朝阳", "n": 10}, {"district": "西城", "n": 10}]
CROSS = "FROM people a, people b, people c, people d, people e, people f, people g"
SLOW = f"SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income - g.income) {CROSS}"
LIMITS = Limits(memory_mb=256, timeout_s=30)


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[type[WarmPool]]:
    """WarmPool(backend, ...) under tmp_path/warm, closed after the test."""
    pools: list[WarmPool] = []

    def make(backend: str, limits: Limits = LIMITS, **kw: float) -> WarmPool:
        pool = WarmPool(backend, limits, tmp_path / "warm", **kw)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make  # type: ignore[misc]
    for pool in pools:
        pool.close()


def _open(pool: WarmPool) -> list[_Workspace]:
    with pool._cond:
        return list(pool._all)


def _pid(ws: _Workspace) -> int | None:
    return ws.spare.process.pid if ws.spare is not None else None


def _settle(pool: WarmPool, count: int, timeout: float = 15.0) -> list[_Workspace]:
    """The pool's workspaces once `count` of them are open and idle (background opens finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workspaces = _open(pool)
        if len(workspaces) == count and all(w.state == "idle" for w in workspaces):
            return workspaces
        time.sleep(0.02)
    raise AssertionError(f"pool did not settle at {count}: {[(w.key, w.state) for w in _open(pool)]}")


@pytest.mark.parametrize("backend", ["inprocess", "process", "namespace"])
def test_one_workspace_serves_many_calls(make_pool, people_view: ViewSpec, backend: str) -> None:
    pool = make_pool(backend)
    for _ in range(5):
        result = pool.run("product:1", (people_view,), GROUPED)
        assert result.ok and result.error is None and result.table is not None
        assert result.table.to_pylist() == COUNTS
        assert 0 < result.query_s <= result.total_s
    (ws,) = _open(pool)
    assert ws.calls == 5 and ws.work_dir.is_dir()


def limits_probe(inside: WorkspaceRequest) -> list[int]:
    return [resource.getrlimit(resource.RLIMIT_CPU)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0]]


def test_a_warm_workspace_has_cpu_time_for_two_queries(make_request: Callable[..., WorkspaceRequest]) -> None:
    """Its CPU rlimit is cumulative; the pool retires it after one query's worth (see _release)."""
    request = make_request(GROUPED, Limits(memory_mb=256, threads=2, timeout_s=30))
    assert namespace.probe(request, limits_probe) == [30 * 2 + 10, 256]
    assert namespace.probe(request, limits_probe, body=warm._serve_namespace) == [2 * (30 * 2 + 10), 256]


def test_any_other_backend_name_means_namespace(make_pool) -> None:
    assert make_pool("docker").backend == "namespace"


@pytest.mark.parametrize("backend", ["inprocess", "namespace"])
def test_locked_configuration_and_foreign_reads_fail_with_a_code(
    make_pool, people_view: ViewSpec, backend: str
) -> None:
    pool = make_pool(backend)
    for sql in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT sql FROM duckdb_views()",
        "SELECT note FROM people",  # a hidden column is not in the view
    ):
        result = pool.run("k", (people_view,), sql)
        assert (result.ok, result.error, result.table) == (False, ErrorCode.query_failed, None), sql
        assert pool.run("k", (people_view,), GROUPED).ok  # the failed workspace was replaced


@pytest.mark.parametrize("backend", ["inprocess", "process", "namespace"])
def test_conversion_error_is_a_code_without_the_value(
    make_pool, people_view: ViewSpec, backend: str, capfd: pytest.CaptureFixture[str]
) -> None:
    result = make_pool(backend).run("k", (people_view,), "SELECT SUM(CAST(name AS INTEGER)) FROM people")
    assert (result.ok, result.error, result.table) == (False, ErrorCode.query_conversion_failed, None)
    out, err = capfd.readouterr()
    for text in (repr(result), out, err):
        assert "SECRET" not in text


def test_row_limit_is_the_runners(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace", dataclasses.replace(LIMITS, max_rows=3))
    assert pool.run("k", (people_view,), GROUPED).ok  # exactly max_rows
    result = pool.run("k", (people_view,), "SELECT district FROM people")
    assert (result.ok, result.error) == (False, ErrorCode.result_too_large)


def test_different_views_never_share_a_workspace(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace")
    narrow = dataclasses.replace(people_view, columns=(("district", ColumnLevel.group),))
    assert pool.run("k", (people_view,), GROUPED).ok
    (wide_ws,) = _open(pool)
    # same key, other views: a new workspace, and the old one is retired (its process and dir gone)
    assert pool.run("k", (narrow,), GROUPED).ok
    assert pool.run("k", (narrow,), "SELECT SUM(income) FROM people").error is ErrorCode.query_failed
    assert wide_ws not in _open(pool) and not wide_ws.spare.process.is_alive()  # type: ignore[union-attr]
    assert not wide_ws.work_dir.exists()
    # other keys, same views: separate workspaces
    assert pool.run("a", (people_view,), GROUPED).ok and pool.run("b", (people_view,), GROUPED).ok
    keyed = {w.key: w for w in _open(pool) if w.key in ("a", "b")}
    assert len({_pid(w) for w in keyed.values()}) == 2


def test_timed_out_workspace_is_discarded_and_the_next_call_works(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace", dataclasses.replace(LIMITS, timeout_s=0.5))
    assert pool.run("k", (people_view,), GROUPED).ok
    (ws,) = _open(pool)
    result = pool.run("k", (people_view,), SLOW)
    assert (result.ok, result.error) == (False, ErrorCode.query_timeout)
    assert result.total_s < 5
    assert ws not in _open(pool) and not ws.spare.process.is_alive()  # type: ignore[union-attr]
    assert not ws.work_dir.exists()
    after = pool.run("k", (people_view,), GROUPED)
    assert after.ok and after.table is not None and after.table.to_pylist() == COUNTS


@pytest.mark.parametrize("backend", ["process", "namespace"])
def test_a_warm_workspace_interrupts_its_own_overrun(
    make_pool, people_view: ViewSpec, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its one watchdog thread fires for the query that overruns, never for calls that only add up
    past the timeout; with the parent's kill 30 s away, a quick query_timeout is the workspace's."""
    monkeypatch.setattr(process, "_GRACE_S", 30.0)
    pool = make_pool(backend, dataclasses.replace(LIMITS, timeout_s=0.5))
    started = time.monotonic()
    while time.monotonic() - started < 1.2:
        assert pool.run("k", (people_view,), GROUPED).ok
    (ws,) = _open(pool)
    result = pool.run("k", (people_view,), SLOW)
    assert (result.ok, result.error) == (False, ErrorCode.query_timeout)
    assert result.total_s < 5
    assert ws not in _open(pool) and not ws.work_dir.exists()
    assert pool.run("k", (people_view,), GROUPED).ok  # in a fresh one


def _frame(status: bytes, body: bytes = b"") -> bytes:
    return len(status).to_bytes(4, "big") + status + body


_ONE_ROW = encode_answer(_Status(True, 1, None, 0.1), pa.table({"n": [1]})).to_pybytes()
_IPC = _ONE_ROW[4 + int.from_bytes(_ONE_ROW[:4], "big") :]


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\x00\x00",
        _Status(False, 0, ErrorCode.workspace_crashed, 0.0).encode(),  # unframed: a crashed body's report
        _frame(b'{"ok": false, "rows": 0, "error": null, "query_s": 0.0}' + b" " * 5000),  # status too long
        _frame(_Status(False, 0, ErrorCode.query_failed, 0.0).encode(), _IPC),  # a table on a failure
        _frame(_Status(True, 1, None, 0.1).encode()),  # ok without its table
        _frame(_Status(True, 2, None, 0.1).encode(), _IPC),  # the row count does not match
        _frame(_Status(True, 1, None, 0.1).encode(), b"not arrow"),
        _frame(b'{"ok": true, "rows": "1", "error": null, "query_s": 0.1}', _IPC),
        _frame(b'{"ok": true, "rows": 1}', _IPC),
        _frame(b"[1]", _IPC),
        _frame(b'{"ok": false, "rows": 0, "error": "made_up", "query_s": 0.0}'),
        _frame(b"\xff"),
    ],
)
def test_a_malformed_answer_is_workspace_crashed(make_pool, people_view: ViewSpec, reply: bytes) -> None:
    pool = make_pool("process")
    ws = _Workspace("k", (people_view,), Path("unused"), "busy")
    parent, child = Pipe()
    ws.spare = types.SimpleNamespace(conn=parent, process=None)  # type: ignore[assignment]
    child.send_bytes(reply)
    assert pool._ask(ws, "SELECT 1") == (_Status(False, 0, ErrorCode.workspace_crashed, 0.0), None)
    child.send_bytes(_ONE_ROW)  # the same path takes a well-formed one
    status, table = pool._ask(ws, "SELECT 1")
    assert status.ok and table is not None and table.to_pylist() == [{"n": 1}]


def test_crashed_workspace_is_discarded_and_the_next_call_works(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace", wait_s=30)
    assert pool.run("k", (people_view,), GROUPED).ok
    (ws,) = _open(pool)
    killer = threading.Timer(0.5, ws.spare.process.kill)  # type: ignore[union-attr]
    killer.start()
    result = pool.run("k", (people_view,), SLOW)  # killed mid-query
    killer.join()
    assert not result.ok and result.error in (ErrorCode.workspace_crashed, ErrorCode.query_out_of_memory)
    assert ws not in _open(pool) and not ws.work_dir.exists()
    # an idle workspace that died is noticed before it is used
    (ws,) = _settle(pool, 1)  # the background replacement
    ws.spare.process.kill()  # type: ignore[union-attr]
    ws.spare.process.join(5)  # type: ignore[union-attr]
    assert pool.run("k", (people_view,), GROUPED).ok


def test_evict_retires_by_key_prefix(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace")
    for key in ("product:1:a", "product:1:b", "product:2:a"):
        assert pool.run(key, (people_view,), GROUPED).ok
    before = {w.key: w for w in _open(pool)}
    pool.evict("product:1:")
    assert [w.key for w in _open(pool)] == ["product:2:a"]
    for key in ("product:1:a", "product:1:b"):
        assert not before[key].spare.process.is_alive()  # type: ignore[union-attr]
        assert not before[key].work_dir.exists()
    assert pool.run("product:1:a", (people_view,), GROUPED).ok  # opens a new one


def test_evict_retires_the_readers_of_destroyed_files(
    make_pool, people_view: ViewSpec, people_path: Path, tmp_path: Path
) -> None:
    pool = make_pool("inprocess")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    other = dataclasses.replace(people_view, parquet_path=elsewhere / "v1.parquet")
    other.parquet_path.write_bytes(people_path.read_bytes())
    assert pool.run("p:1", (people_view,), GROUPED).ok and pool.run("p:2", (other,), GROUPED).ok
    pool.evict("", files_under=people_path.parent)
    assert [w.key for w in _open(pool)] == ["p:2"]


def test_eight_threads_get_correct_results(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace", per_key=2, max_workspaces=3, wait_s=60)
    narrow = dataclasses.replace(people_view, name="p2")
    queries = {
        "a": ((people_view,), GROUPED, COUNTS),
        "b": ((narrow,), "SELECT COUNT(*) AS n FROM p2", [{"n": 30}]),
    }
    failures: list[object] = []
    peak: list[int] = []

    def client(i: int) -> None:
        key = "ab"[i % 2]
        views, sql, expected = queries[key]
        for _ in range(6):
            result = pool.run(key, views, sql)
            if not (result.ok and result.table is not None and result.table.to_pylist() == expected):
                failures.append((key, result.error))
            peak.append(len(_open(pool)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert max(peak) <= 3
    for key in "ab":
        assert len([w for w in _open(pool) if w.key == key]) <= 2


def test_callers_wait_then_get_busy(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("inprocess", dataclasses.replace(LIMITS, timeout_s=1), per_key=1, wait_s=0.2)
    slow = threading.Thread(target=pool.run, args=("k", (people_view,), SLOW))
    slow.start()
    deadline = time.monotonic() + 10
    while not any(w.state == "busy" and w.opened for w in _open(pool)) and time.monotonic() < deadline:
        time.sleep(0.01)
    result = pool.run("k", (people_view,), GROUPED)
    assert (result.ok, result.error) == (False, ErrorCode.workspace_busy)
    assert 0.2 <= result.total_s < 1
    slow.join()


def test_recycled_after_max_calls(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace", max_calls=3)
    pids = []
    for _ in range(7):
        assert pool.run("k", (people_view,), GROUPED).ok
        (ws,) = _settle(pool, 1)
        pids.append(_pid(ws))
    assert len(set(pids)) == 3  # calls 1-3, 4-6, 7 each in a new workspace, opened in the background
    assert pids[0] == pids[1] and pids[2] != pids[1]


def test_retired_before_its_cumulative_cpu_rlimit_could_bite(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace")
    pool._cpu_budget_s = 1e-6  # as if one query's CPU budget were used up by every call
    pids = []
    for _ in range(2):
        assert pool.run("k", (people_view,), GROUPED).ok
        pids.append(_pid(_settle(pool, 1)[0]))  # the replacement, opened in the background
    assert len(set(pids)) == 2


def test_idle_workspaces_close_and_lru_ones_make_room(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("inprocess", idle_s=0.2, max_workspaces=2)
    for key in ("a", "b", "c"):
        assert pool.run(key, (people_view,), GROUPED).ok
    assert sorted(w.key for w in _open(pool)) == ["b", "c"]  # "a" was the least recently used
    dirs = [w.work_dir for w in _open(pool)]
    deadline = time.monotonic() + 5
    while (_open(pool) or any(d.exists() for d in dirs)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open(pool) == [] and not any(d.exists() for d in dirs)


def test_prepare_opens_in_the_background_and_the_first_call_uses_it(make_pool, people_view: ViewSpec) -> None:
    pool = make_pool("namespace")
    pool.prepare("k", (people_view,))
    pool.prepare("k", (people_view,))  # one not busy is enough
    (ws,) = _settle(pool, 1)
    assert pool.run("k", (people_view,), GROUPED).ok
    assert _open(pool) == [ws] and ws.calls == 1


def test_runtime_warm_pool_is_lazy_and_closed_with_the_runtime(tmp_path: Path, people_view: ViewSpec) -> None:
    rt = Runtime(Settings(home=tmp_path / "home", workspace_backend="inprocess", warm_per_key=1))
    rt.evict_warm("k")  # starts no pool
    assert rt._warm_pool is None
    pool = rt.warm_pool()
    assert rt.warm_pool() is pool and pool.per_key == 1
    assert pool.run("k", (people_view,), GROUPED).ok
    rt.evict_warm(files_under=people_view.parquet_path.parent)
    assert _open(pool) == []
    rt.close()
    assert pool.run("k", (people_view,), GROUPED).error is ErrorCode.workspace_busy


@pytest.mark.parametrize("backend", ["inprocess", "process"])
def test_a_cached_view_is_read_from_the_file_once(
    make_pool, people_view: ViewSpec, people_path: Path, backend: str
) -> None:
    """With `cache_mb` the workspace reads (and decrypts) the file when it opens, then serves from
    memory: the calls after it still answer once the file is gone. Without it they fail."""
    cached = make_pool(backend, dataclasses.replace(LIMITS, cache_mb=64))
    plain = make_pool(backend)
    for pool in (cached, plain):
        assert pool.run("product:1", (people_view,), GROUPED).ok
    people_path.rename(people_path.with_suffix(".moved"))
    again = cached.run("product:1", (people_view,), GROUPED)
    assert again.ok and again.table is not None and again.table.to_pylist() == COUNTS
    assert not plain.run("product:1", (people_view,), GROUPED).ok
