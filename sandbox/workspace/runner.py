"""Run one job's SQL over raw rows: the only place rows are touched.

`run()` opens a locked in-memory DuckDB (limits and access rules set, then the granted views, then
the configuration frozen), checks that the SQL reads only those views, runs it and writes the result
to `work_dir/result.arrow`. What comes back is a small status: ok, row count, an ErrorCode, timings;
never an engine message, because engine messages quote raw values.

Backends:
- `process` (default): a child forked from a forkserver that already imported duckdb and pyarrow,
  so a job costs a fork, not an interpreter start. The child drops stdio to /dev/null, closes
  inherited descriptors and sets rlimits (address space, CPU, open files, no core dumps: a core
  would hold raw rows) before DuckDB opens. Its status comes back as JSON, not pickle. The parent
  kills it on wall-clock overrun.
- `inprocess`: the same steps in this process, for fast tests.
"""

from __future__ import annotations

import functools
import io
import json
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext, ForkServerProcess, set_spawning_popen
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sandbox.errors import ErrorCode
from sandbox.workspace import sanitize, views
from sandbox.workspace.views import ViewSpec, quote_str

RESULT_NAME = "result.arrow"
_MIB = 1024 * 1024
_GRACE_S = 1.0  # the child interrupts its own query at timeout_s; the parent kills it this much later
_JOIN_S = 5.0  # how long a child that already reported may take to exit before it is killed
_PRELOAD = ["duckdb", "pyarrow", "sandbox.workspace.runner"]


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    threads: int = 2
    timeout_s: float = 300.0
    temp_mb: int = 8192  # spill space under work_dir/tmp (DuckDB max_temp_directory_size)


@dataclass(frozen=True)
class WorkspaceRequest:
    job_id: str
    views: tuple[ViewSpec, ...]
    sql: str
    work_dir: Path  # private directory for this job (exists); result and temp files go here
    limits: Limits


@dataclass(frozen=True)
class WorkspaceResult:
    ok: bool
    result_path: Path | None  # Arrow IPC file (work_dir/"result.arrow") holding the query result
    rows: int
    error: ErrorCode | None
    query_s: float  # time DuckDB spent on the query (view setup excluded)
    total_s: float  # wall time of run() including process start/teardown


@dataclass(frozen=True)
class _Status:
    """What a workspace may report: no free text anywhere."""

    ok: bool
    rows: int
    error: ErrorCode | None
    query_s: float

    def encode(self) -> bytes:
        error = self.error.value if self.error else None
        return json.dumps(
            {"ok": self.ok, "rows": self.rows, "error": error, "query_s": self.query_s}
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> _Status:
        """Parse a child's report strictly; anything malformed is a ValueError."""
        raw = json.loads(data)
        ok, rows, error, query_s = raw["ok"], raw["rows"], raw["error"], raw["query_s"]
        if not (isinstance(ok, bool) and isinstance(rows, int) and isinstance(query_s, int | float)):
            raise ValueError("malformed workspace status")
        return cls(ok, rows, ErrorCode(error) if error is not None else None, float(query_s))


def _failed(code: ErrorCode) -> _Status:
    return _Status(False, 0, code, 0.0)


def run(request: WorkspaceRequest, backend: str = "process") -> WorkspaceResult:
    """Run `request.sql` over its views in a workspace and report how it went."""
    started = time.perf_counter()
    result_path = request.work_dir / RESULT_NAME
    result_path.unlink(missing_ok=True)
    if backend == "inprocess":
        status = execute(request)
    elif backend == "process":
        status = _run_in_child(request)
    else:
        raise ValueError(f"unknown workspace backend {backend!r}")
    total_s = time.perf_counter() - started
    if status.ok and result_path.is_file():
        return WorkspaceResult(True, result_path, status.rows, None, status.query_s, total_s)
    result_path.unlink(missing_ok=True)  # never leave a partial result behind
    return WorkspaceResult(
        False, None, 0, status.error or ErrorCode.workspace_crashed, status.query_s, total_s
    )


def open_locked(view_specs: Sequence[ViewSpec], limits: Limits, work_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read only the views' files, with its configuration frozen.

    Order matters: temp_directory and allowed_paths can no longer be set once external access is
    off, and the views must exist before lock_configuration, which also freezes every SET after it.
    """
    con = duckdb.connect(":memory:")
    try:
        paths = ", ".join(quote_str(p) for p in sorted({views.path_of(v) for v in view_specs}))
        for statement in (
            f"SET threads = {int(limits.threads)}",
            f"SET memory_limit = '{int(limits.memory_mb)}MiB'",
            f"SET temp_directory = {quote_str(str(Path(work_dir).absolute() / 'tmp'))}",
            f"SET max_temp_directory_size = '{int(limits.temp_mb)}MiB'",
            "SET python_enable_replacements = false",  # no Python variables as tables
            "SET autoinstall_known_extensions = false",
            "SET autoload_known_extensions = false",
            "SET allow_community_extensions = false",
            "SET allow_persistent_secrets = false",
            "SET enable_progress_bar = false",  # it would print to the terminal
            f"SET allowed_paths = [{paths}]",
            "SET enable_external_access = false",
        ):
            con.execute(statement)
        views.setup(con, view_specs)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def execute(request: WorkspaceRequest) -> _Status:
    """Open, check, run, write: the workspace's steps, in whichever process runs them."""
    result_path = request.work_dir / RESULT_NAME
    try:
        con = open_locked(request.views, request.limits, request.work_dir)
        try:
            if not views.reads_only_views(con, request.sql, [v.name for v in request.views]):
                return _failed(ErrorCode.query_failed)
            timer = threading.Timer(request.limits.timeout_s, con.interrupt)
            timer.daemon = True
            timer.start()
            started = time.perf_counter()
            try:
                # Materialized, not streamed: a streamed reader turns engine errors into OSError
                # and the class, which is all that decides the code, would be lost.
                table = con.sql(request.sql).to_arrow_table()
            finally:
                timer.cancel()
            query_s = time.perf_counter() - started
        finally:
            con.close()
        with pa.OSFile(str(result_path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return _Status(True, table.num_rows, None, query_s)
    except Exception as exc:  # every failure becomes a code; the message is dropped right here
        result_path.unlink(missing_ok=True)
        return _failed(sanitize.code_of(exc))


class _Popen(popen_forkserver.Popen):
    """Forkserver launch without re-running the parent's main module in the child.

    multiprocessing's spawn preparation makes every child import the parent's `__main__` script (a
    CLI, a benchmark, pytest) before running the target: seconds per job when that script imports
    the whole runtime. The workspace child needs nothing from `__main__`, so those keys are dropped.
    The body otherwise follows CPython's `popen_forkserver.Popen._launch` (3.11-3.13).
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _WorkspaceProcess(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


@functools.cache
def _forkserver() -> BaseContext:
    """The forkserver context, made on first use (never at import); the server starts on first job."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _run_in_child(request: WorkspaceRequest) -> _Status:
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    child = _WorkspaceProcess(
        target=_child_main, args=(request, sender), name=f"workspace-{request.job_id}", daemon=True
    )
    deadline = time.monotonic() + request.limits.timeout_s + _GRACE_S
    try:
        child.start()
        sender.close()
        if not receiver.poll(max(0.0, deadline - time.monotonic())):
            _kill(child)
            return _failed(ErrorCode.query_timeout)
        try:
            status: _Status | None = _Status.decode(receiver.recv_bytes(4096))
        except (EOFError, OSError, ValueError, KeyError, TypeError):
            status = None  # the child died before reporting, or reported nonsense
        child.join(_JOIN_S)
        if child.is_alive():
            _kill(child)
        return status if status is not None else _failed(_exit_code(child.exitcode))
    finally:
        receiver.close()
        sender.close()


def _kill(child: multiprocessing.process.BaseProcess) -> None:
    child.kill()
    child.join(_JOIN_S)


def _exit_code(exitcode: int | None) -> ErrorCode:
    """Why a child ended without reporting. SIGXCPU is our CPU rlimit; an unasked SIGKILL on Linux
    is almost always the kernel's OOM killer."""
    if exitcode == -signal.SIGXCPU:
        return ErrorCode.query_timeout
    if exitcode == -signal.SIGKILL:
        return ErrorCode.query_out_of_memory
    return ErrorCode.workspace_crashed


def _child_main(request: WorkspaceRequest, sender: Connection) -> None:
    """Entry point of the workspace process. Exits with os._exit: no teardown that could print."""
    try:
        _isolate(request.limits, keep=sender.fileno())
        status = execute(request)
    except BaseException:
        status = _failed(ErrorCode.workspace_crashed)
    try:
        sender.send_bytes(status.encode())
        sender.close()
    finally:
        os._exit(0)


def _isolate(limits: Limits, keep: int) -> None:
    """Cut the child off before DuckDB opens: quiet stdio, no inherited fds, private files, rlimits."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 2, os.sysconf("SC_OPEN_MAX")))
    os.umask(0o077)
    cpu_s = int(limits.timeout_s * max(1, limits.threads)) + 10
    _setrlimit(resource.RLIMIT_AS, (limits.memory_mb * 4 + 4096) * _MIB)
    _setrlimit(resource.RLIMIT_CPU, cpu_s, cpu_s + 5)  # SIGXCPU first, SIGKILL 5 s later
    _setrlimit(resource.RLIMIT_NOFILE, 256)
    _setrlimit(resource.RLIMIT_CORE, 0)
    # RLIMIT_NPROC is left alone: it counts every process of the user, not of this child, and
    # DuckDB SQL cannot start processes; `threads` bounds the engine's threads.


def _setrlimit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit; never try to raise a hard limit (an unprivileged process may not)."""
    _, current_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
