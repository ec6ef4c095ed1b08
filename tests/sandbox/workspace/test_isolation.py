"""The namespace backend, seen from inside a real workspace: no network, no file but the granted ones.

The probes run Python in a workspace set up by `namespace.enter`, the same code a job goes through;
they are module-level functions so the workspace process can import them by name. Each probe runs
in a one-shot workspace and in a warm one (warm.py) that has opened its views and served a query.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from sandbox.errors import ErrorCode
from sandbox.workspace import Limits, WorkspaceRequest, namespace, run, warm

MakeRequest = Callable[..., WorkspaceRequest]
HTTP = "http://127.0.0.1:5432/x.csv"
GROUPED = "SELECT district, COUNT(*) AS n FROM people GROUP BY district ORDER BY district"
Probe = Callable[[WorkspaceRequest, Callable[[WorkspaceRequest], Any]], Any]
WARM_PROBE = functools.partial(namespace.probe, body=warm._serve_namespace)  # views open, one query run
PROBES = pytest.mark.parametrize("probe", [namespace.probe, WARM_PROBE], ids=["one_shot", "warm"])


def _attempt(fn: Callable[[], Any]) -> str:
    """'ok', or the class of the error the attempt raised."""
    try:
        fn()
    except Exception as e:
        return type(e).__name__
    return "ok"


def _connect(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=2):
        pass


def network_probe(inside: WorkspaceRequest) -> dict[str, Any]:
    con = duckdb.connect(":memory:")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return {
        "interfaces": [name for _, name in socket.if_nameindex()],
        "postgres": _attempt(lambda: _connect("127.0.0.1", 5432)),
        "mariadb": _attempt(lambda: _connect("127.0.0.1", 3306)),
        "outside": _attempt(lambda: _connect("8.8.8.8", 53)),
        "duckdb_http": _attempt(lambda: con.sql(f"SELECT * FROM read_csv('{HTTP}')").fetchall()),
        "udp": _attempt(lambda: udp.sendto(b"x", ("10.0.0.1", 9))),
    }


def files_probe(inside: WorkspaceRequest, outside: list[str]) -> dict[str, Any]:
    granted = str(inside.views[0].parquet_path)
    table = duckdb.connect(":memory:").sql(f"SELECT COUNT(*) FROM read_parquet('{granted}')").fetchall()
    return {
        "root": sorted(os.listdir("/")),
        "data": sorted(os.listdir("/data")),
        "granted_rows": table[0][0],
        "outside": {path: _attempt(lambda p=path: open(p, "rb").close()) for path in outside},
        "write_granted": _attempt(lambda: open(granted, "r+b").close()),
        "write_root": _attempt(lambda: open("/escape", "wb").close()),
        "write_work": _attempt(lambda: Path("/work/ok").write_text("x")),
        "pid": os.getpid(),
    }


def files_probe_outside(paths: list[str]) -> Callable[[WorkspaceRequest], dict[str, Any]]:
    return functools.partial(files_probe, outside=paths)


@PROBES
def test_no_network_is_reachable_from_a_workspace(make_request: MakeRequest, probe: Probe) -> None:
    seen = probe(make_request(GROUPED), network_probe)
    assert seen["interfaces"] == ["lo"]
    for target in ("postgres", "mariadb", "outside", "udp"):
        assert seen[target] != "ok", target  # OSError: network unreachable
    assert seen["duckdb_http"] != "ok"


def test_the_host_can_reach_postgres_so_the_probe_means_something() -> None:
    assert _attempt(lambda: _connect("127.0.0.1", 5432)) == "ok"


@PROBES
def test_only_the_granted_files_can_be_opened(
    make_request: MakeRequest, people_path: Path, tmp_path: Path, probe: Probe
) -> None:
    other = people_path.parent / "other v1.parquet"
    other.write_bytes(people_path.read_bytes())
    catalog = tmp_path / "catalog.sqlite3"
    catalog.write_bytes(b"SQLite format 3\0")
    outside = [str(people_path), str(other), str(catalog), "/etc/passwd", "/proc/self/environ", __file__]
    seen = probe(make_request(GROUPED), files_probe_outside(outside))
    assert seen["root"] == ["data", "work"]
    assert seen["data"] == ["0.parquet"] and seen["granted_rows"] == 30
    assert set(seen["outside"].values()) == {"FileNotFoundError"}, seen["outside"]
    assert seen["write_granted"] != "ok" and seen["write_root"] != "ok"
    assert seen["write_work"] == "ok"  # the job's own directory is where its result goes
    assert seen["pid"] == 2  # under the new PID namespace's init


def test_a_job_runs_in_a_namespace_workspace_and_its_temp_dir_is_removed(
    make_request: MakeRequest, work_dir: Path
) -> None:
    (work_dir / "tmp").mkdir()
    (work_dir / "tmp" / "spill").write_bytes(b"x")
    result = run(make_request(GROUPED), "namespace")
    assert result.ok and result.rows == 3
    assert result.result_path is not None
    with pa.OSFile(str(result.result_path)) as f:
        assert pa.ipc.open_file(f).read_all().column("n").to_pylist() == [10, 10, 10]
    assert not (work_dir / "tmp").exists()


def test_a_namespace_workspace_over_its_time_is_killed_with_a_code(make_request: MakeRequest) -> None:
    cross = "FROM people a, people b, people c, people d, people e, people f"
    sql = f"SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income) {cross}"
    result = run(make_request(sql, Limits(memory_mb=256, timeout_s=0.5)), "namespace")
    assert result.error in (ErrorCode.query_timeout, ErrorCode.query_out_of_memory)
    assert run(make_request(GROUPED), "namespace").ok
