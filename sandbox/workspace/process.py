"""The `process` backend: each job in its own process, forked from a clean server, limited, and killed
on overrun.

Children come from a multiprocessing forkserver that imported duckdb and pyarrow once, so a job costs
a fork, not an interpreter start. To take even that and DuckDB's start-up (about 30 ms in a fresh
process) off a job's path, a small pool of *spare* workspaces is kept: each was forked ahead of need,
cut off (quiet stdio, no inherited descriptors, private umask, no core dumps: a core would hold raw
rows) and has opened an empty in-memory DuckDB, and waits for exactly one request. On receipt it
takes the job's rlimits (address space, CPU, open files), sets the access rules and views, runs the
job, reports a small JSON status (never text) and exits. A spare serves one job only; the pool is
refilled after each job ends, so refilling never competes with a running query for CPU.
"""

from __future__ import annotations

import functools
import io
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext, ForkServerProcess, set_spawning_popen
from multiprocessing.process import BaseProcess
from typing import Any

import duckdb

from sandbox.errors import ErrorCode
from sandbox.workspace.runner import STATUS_MAX, Limits, WorkspaceRequest, _failed, _Status, execute

_MIB = 1024 * 1024
_GRACE_S = 1.0  # the child interrupts its own query at timeout_s; the parent kills it this much later
_JOIN_S = 5.0  # how long a child that already reported may take to exit before it is killed
_STOP_SLICE_S = 0.1  # how often a running job's stop check is asked
_SPARES = 2  # spare workspaces kept ready (the in-process dispatcher runs two jobs at once by default)
_PRELOAD = [
    "duckdb",
    "pyarrow",
    "sandbox.workspace.runner",
    "sandbox.workspace.process",
    "sandbox.workspace.namespace",
    "sandbox.workspace.warm",
]


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
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


class _Spare:
    """One workspace process, DuckDB open, waiting for its single request on `conn`."""

    def __init__(self, target: Callable[[Connection], None] | None = None) -> None:
        context = _forkserver()
        self.conn, child_end = context.Pipe(duplex=True)
        main = target or _spare_main  # the namespace backend passes its own entry point
        self.process = _WorkspaceProcess(target=main, args=(child_end,), name="workspace", daemon=True)
        self.process.start()
        child_end.close()

    def discard(self) -> None:
        self.conn.close()
        _kill(self.process)


class _Pool:
    """Spares ready to take; a job that finds none forks its own (the cold path)."""

    def __init__(self, size: int, target: Callable[[Connection], None] | None = None) -> None:
        self.size = size
        self.target = target
        self._ready: list[_Spare] = []
        self._lock = threading.Lock()
        self._refilling = False

    def take(self) -> _Spare:
        with self._lock:
            while self._ready:
                spare = self._ready.pop(0)  # the oldest: the likeliest to have DuckDB open already
                if spare.process.is_alive():
                    return spare
                spare.discard()
        return _Spare(self.target)

    def refill(self, reap: BaseProcess | None = None) -> None:
        """After a job: reap its process (it exits right after reporting; nobody waits for that on the
        job's path) and top the pool up, both in the background."""
        if reap is not None:
            threading.Thread(target=_kill_after, args=(reap, _JOIN_S), daemon=True).start()
        with self._lock:
            if self._refilling or len(self._ready) >= self.size:
                return
            self._refilling = True
        threading.Thread(target=self._refill, name="workspace-spares", daemon=True).start()

    def close(self) -> None:
        """Kill the spares kept ready; one a refill is still starting is killed when it is ready."""
        with self._lock:
            ready, self._ready = self._ready, []
            self.size = 0
        for spare in ready:
            spare.discard()

    def _refill(self) -> None:
        try:
            while True:
                with self._lock:
                    if len(self._ready) >= self.size:
                        return
                spare = _Spare(self.target)
                with self._lock:
                    closed = self.size == 0
                    if not closed:
                        self._ready.append(spare)
                if closed:
                    spare.discard()
        except Exception:  # the pool is an optimisation: a job without a spare forks its own
            return
        finally:
            with self._lock:
                self._refilling = False


@functools.cache
def _pool() -> _Pool:
    return _Pool(_SPARES)


def run_in_child(
    request: WorkspaceRequest, should_stop: Callable[[], bool] | None = None, pool: _Pool | None = None
) -> _Status:
    """Hand the request to a spare workspace and wait for its report, killing it on overrun, or as
    soon as `should_stop` (asked every `_STOP_SLICE_S`) says the job was cancelled or revoked.
    `pool` is the spares of another backend built on these processes (namespace)."""
    pool = pool or _pool()
    spare = pool.take()
    try:
        spare.conn.send(request)
        return await_status(spare, time.monotonic() + request.limits.timeout_s + _GRACE_S, should_stop)
    except (OSError, EOFError):
        _kill(spare.process)
        return _failed(ErrorCode.workspace_crashed)
    finally:
        spare.conn.close()
        pool.refill(reap=spare.process)


def await_status(spare: _Spare, deadline: float, should_stop: Callable[[], bool] | None = None) -> _Status:
    """The spare's next status report, or why none came: killed at `deadline` (monotonic) with
    query_timeout or once `should_stop()` with job_stopped; a child that died or reported nonsense
    is classified by how it ended. Shared by one-shot jobs and warm workspaces (warm.py)."""
    reply = await_reply(spare, deadline, should_stop, STATUS_MAX)
    if isinstance(reply, _Status):
        return reply
    try:
        return _Status.decode(reply)
    except (ValueError, KeyError, TypeError):  # nonsense
        spare.process.join(_JOIN_S)
        return _failed(_exit_code(spare.process.exitcode))


def await_reply(
    spare: _Spare,
    deadline: float,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = None,
) -> bytes | _Status:
    """The spare's next message, unparsed (a warm workspace's answer: see warm.py), or the failed
    status saying why none came, as in `await_status`."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill(spare.process)
            return _failed(ErrorCode.query_timeout)
        if spare.conn.poll(min(remaining, _STOP_SLICE_S) if should_stop else remaining):
            break
        if should_stop is not None and should_stop():
            _kill(spare.process)
            return _failed(ErrorCode.job_stopped)
    try:
        return spare.conn.recv_bytes(max_bytes)
    except (EOFError, OSError):  # died before reporting, or a message over max_bytes
        spare.process.join(_JOIN_S)
        return _failed(_exit_code(spare.process.exitcode))


def _kill_after(child: BaseProcess, grace_s: float) -> None:
    """Wait for a workspace that reported to exit; kill it if it lingers."""
    child.join(grace_s)
    _kill(child)


def _kill(child: BaseProcess) -> None:
    if child.is_alive():
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


def _spare_main(conn: Connection) -> None:
    """Entry point of a workspace process. Exits with os._exit: no teardown that could print."""
    status = _failed(ErrorCode.workspace_crashed)
    try:
        _quiet(keep=conn.fileno())
        con = duckdb.connect(":memory:")
        request = receive(conn)
        _limit(request.limits)
        status = execute(request, con=con, close=False)
    except BaseException:
        status = _failed(ErrorCode.workspace_crashed)
    finally:
        try:
            conn.send_bytes(status.encode())
            conn.close()
        finally:
            os._exit(0)


def receive(conn: Connection) -> WorkspaceRequest:
    """The one request a workspace is opened for."""
    request = conn.recv()
    if not isinstance(request, WorkspaceRequest):
        raise TypeError("a workspace takes one WorkspaceRequest")
    return request


def _quiet(keep: int) -> None:
    """Cut the child off: stdio to /dev/null, no inherited descriptors, private files, no core dumps."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 2, os.sysconf("SC_OPEN_MAX")))
    os.umask(0o077)
    _setrlimit(resource.RLIMIT_CORE, 0)


def _limit(limits: Limits, lives: int = 1) -> None:
    """The job's rlimits, set before its first access rule, view or query. A warm workspace serves
    many queries: its CPU time (cumulative) covers `lives` of them and its pool retires it before."""
    cpu_s = cpu_budget_s(limits) * max(1, lives)
    _setrlimit(resource.RLIMIT_AS, (limits.memory_mb * 4 + 4096) * _MIB)
    _setrlimit(resource.RLIMIT_CPU, cpu_s, cpu_s + 5)  # SIGXCPU first, SIGKILL 5 s later
    _setrlimit(resource.RLIMIT_NOFILE, 256)
    # RLIMIT_NPROC is left alone: it counts every process of the user, not of this child, and
    # DuckDB SQL cannot start processes; `threads` bounds the engine's threads.


def cpu_budget_s(limits: Limits) -> int:
    """CPU seconds one query may use: all its threads busy until the timeout, plus start-up."""
    return int(limits.timeout_s * max(1, limits.threads)) + 10


def _setrlimit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit; never try to raise a hard limit (an unprivileged process may not)."""
    _, current_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
