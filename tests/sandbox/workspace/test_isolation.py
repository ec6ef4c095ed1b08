"""The isolated backends, seen from inside a real workspace: no network, no file but the granted ones.

Each test runs on `namespace` and on `docker`; the two probe tests also in a warm workspace (warm.py)
that has opened its views and served a query. The probes run Python in a workspace set up exactly as
for a job (`namespace.enter`, or the job's container); they are module-level functions so the
workspace process can import them by name.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import duckdb
import pyarrow as pa
import pytest

from sandbox.errors import ErrorCode
from sandbox.settings import Settings
from sandbox.workspace import (
    Limits,
    WorkspaceRequest,
    WorkspaceResult,
    container,
    image,
    namespace,
    run,
    warm,
)

MakeRequest = Callable[..., WorkspaceRequest]
StopCheck = Callable[[], bool]
Probe = Callable[[WorkspaceRequest, Callable[[WorkspaceRequest], Any]], Any]
HTTP = "http://127.0.0.1:5432/x.csv"
GROUPED = "SELECT district, COUNT(*) AS n FROM people GROUP BY district ORDER BY district"
CROSS = "FROM people a, people b, people c, people d, people e, people f"
SLOW = f"SELECT SUM(a.income * b.income - c.income * d.income + e.income * f.income) {CROSS}"


class Backend:
    """One isolated backend: run a job on it, or a probe inside one of its workspaces (`probe_with`
    names another way into the same backend's workspaces, such as a warm one)."""

    def __init__(self, name: str, docker_url: str | None = None, probe_with: Probe | None = None) -> None:
        self.name = name
        self.settings = Settings(docker_url=docker_url) if docker_url else None
        self.probe_with = probe_with

    def run(self, request: WorkspaceRequest, should_stop: StopCheck | None = None) -> WorkspaceResult:
        return run(request, self.name, should_stop, self.settings)

    def probe(self, request: WorkspaceRequest, check: Callable[[WorkspaceRequest], Any]) -> Any:
        if self.probe_with is not None:
            return self.probe_with(request, check)
        if self.name == "namespace":
            return namespace.probe(request, check)
        return container.probe(request, check, config=container.config_of(self.settings))


@pytest.fixture(params=["namespace", "docker"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "docker":
        return Backend("docker", request.getfixturevalue("docker_url"))
    return Backend(request.param)


@pytest.fixture(params=["namespace", "warm", "docker"])
def prober(request: pytest.FixtureRequest) -> Backend:
    """The backends probed from inside: `backend`'s, plus a warm namespace workspace."""
    if request.param == "warm":
        return Backend("namespace", probe_with=functools.partial(namespace.probe, body=warm._serve_namespace))
    if request.param == "docker":
        return Backend("docker", request.getfixturevalue("docker_url"))
    return Backend(request.param)


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
        "passwd": Path("/etc/passwd").read_text() if os.path.exists("/etc/passwd") else None,
        "pid": os.getpid(),
    }


def confinement_probe(inside: WorkspaceRequest) -> dict[str, Any]:
    """What the kernel says of this process, and how many more threads it may start."""
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines())
    release, started = threading.Event(), 0
    try:
        for _ in range(200):
            threading.Thread(target=release.wait, daemon=True).start()
            started += 1
    except RuntimeError:  # can't start new thread: the PID limit
        pass
    finally:
        release.set()
    root_write = ""
    try:
        open("/escape", "wb").close()
    except OSError as e:
        root_write = os.strerror(e.errno or 0)
    return {
        "uid": os.getuid(),
        "cap_eff": status["CapEff"].strip(),
        "cap_bnd": status["CapBnd"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "threads_started": started,
        "root_write": root_write,
        "tmp": sorted(os.listdir("/tmp")),
        "arrow_threads": [pa.cpu_count(), pa.io_thread_count()],
    }


def memory_probe(inside: WorkspaceRequest) -> int:
    """Touch 1 GiB outside DuckDB's own accounting: only the container's memory limit can stop it."""
    return len(b"x" * (1 << 30))


def test_no_network_is_reachable_from_a_workspace(make_request: MakeRequest, prober: Backend) -> None:
    seen = prober.probe(make_request(GROUPED), network_probe)
    assert seen["interfaces"] == ["lo"]
    for target in ("postgres", "mariadb", "outside", "udp"):
        assert seen[target] != "ok", target  # OSError: network unreachable
    assert seen["duckdb_http"] != "ok"


def test_the_host_can_reach_postgres_so_the_probe_means_something() -> None:
    assert _attempt(lambda: _connect("127.0.0.1", 5432)) == "ok"


def test_only_the_granted_files_can_be_opened(
    make_request: MakeRequest, people_path: Path, tmp_path: Path, prober: Backend
) -> None:
    other = people_path.parent / "other v1.parquet"
    other.write_bytes(people_path.read_bytes())
    catalog = tmp_path / "catalog.sqlite3"
    catalog.write_bytes(b"SQLite format 3\0")
    outside = [str(people_path), str(other), str(catalog), __file__, os.path.expanduser("~/.bash_history")]
    if prober.name == "namespace":  # a container has its own /etc and /proc; the probe reads them below
        outside += ["/etc/passwd", "/proc/self/environ"]
    seen = prober.probe(make_request(GROUPED), functools.partial(files_probe, outside=outside))
    assert seen["data"] == ["0.parquet"] and seen["granted_rows"] == 30
    assert set(seen["outside"].values()) == {"FileNotFoundError"}, seen["outside"]
    assert seen["write_granted"] != "ok" and seen["write_root"] != "ok"
    assert seen["write_work"] == "ok"  # the job's own directory is where its result goes
    if prober.name == "namespace":
        assert seen["root"] == ["data", "work"]
        assert seen["pid"] == 2  # under the new PID namespace's init
    else:
        assert {"data", "work", "tmp", "usr", "opt"} <= set(seen["root"])
        assert not {"home", "srv", "var", "mnt", "boot"} & set(seen["root"]), seen["root"]
        assert seen["passwd"].splitlines() == ["workspace:x:10001:10001:workspace:/nonexistent:/nonexistent"]
        assert seen["pid"] < 10  # under docker's init, in the container's own PID namespace


def test_a_job_runs_in_a_workspace_and_its_temp_dir_is_removed(
    make_request: MakeRequest, work_dir: Path, backend: Backend
) -> None:
    (work_dir / "tmp").mkdir()
    (work_dir / "tmp" / "spill").write_bytes(b"x")
    result = backend.run(make_request(GROUPED))
    assert result.ok and result.rows == 3
    assert result.result_path is not None
    with pa.OSFile(str(result.result_path)) as f:
        assert pa.ipc.open_file(f).read_all().column("n").to_pylist() == [10, 10, 10]
    assert sorted(p.name for p in work_dir.iterdir()) == ["result.arrow"]


def test_a_workspace_over_its_time_is_killed_with_a_code(make_request: MakeRequest, backend: Backend) -> None:
    result = backend.run(make_request(SLOW, Limits(memory_mb=256, timeout_s=0.5)))
    assert result.error in (ErrorCode.query_timeout, ErrorCode.query_out_of_memory)
    assert backend.run(make_request(GROUPED)).ok


def test_a_container_is_confined(make_request: MakeRequest, docker_url: str) -> None:
    request = make_request(GROUPED, Limits(memory_mb=256, timeout_s=30, threads=1))
    seen = Backend("docker", docker_url).probe(request, confinement_probe)
    assert seen["uid"] == 10001  # the image's workspace user, never root
    assert int(seen["cap_eff"], 16) == 0 and int(seen["cap_bnd"], 16) == 0  # every capability dropped
    assert seen["no_new_privs"] == "1"
    assert 0 < seen["threads_started"] < container.PIDS  # the PID limit stops it, not our loop's 200
    assert seen["root_write"] == os.strerror(30)  # EROFS: the root filesystem is read-only
    assert seen["tmp"] == []  # a fresh tmpfs, not the host's /tmp
    assert seen["arrow_threads"] == [1, 4]  # DuckDB's thread count, not the host's cores


def test_a_container_over_its_memory_is_killed_by_the_kernel_with_a_code(
    make_request: MakeRequest, docker_url: str
) -> None:
    request = make_request(GROUPED, Limits(memory_mb=64, timeout_s=30))  # limit: 64 + 512 MiB
    with pytest.raises(RuntimeError, match="query_out_of_memory"):
        Backend("docker", docker_url).probe(request, memory_probe)


def test_a_stopped_container_is_killed_and_every_container_removed(
    make_request: MakeRequest, work_dir: Path, docker_url: str
) -> None:
    asked: list[float] = []
    started = time.monotonic()

    def should_stop() -> bool:
        asked.append(time.monotonic() - started)
        return time.monotonic() - started > 1.5

    request = make_request(SLOW, Limits(memory_mb=256, timeout_s=60))
    result = Backend("docker", docker_url).run(request, should_stop)
    assert (result.ok, result.error) == (False, ErrorCode.job_stopped)
    assert time.monotonic() - started - asked[-1] < 10  # killed on the check, not at the 60 s timeout
    assert list(work_dir.iterdir()) == []
    engine = docker.DockerClient(base_url=docker_url, version="auto")
    try:
        assert engine.containers.list(all=True, filters={"label": f"sandbox.job={request.job_id}"}) == []
        attrs = engine.images.get(image.tag()).attrs
        assert attrs["Size"] < 4096  # the image is empty: everything that runs is bound read-only
    finally:
        engine.close()
