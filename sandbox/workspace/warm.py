"""Warm workspaces: isolated workspaces that stay open and serve many queries over the same views.

A product call (issue 10) runs one approved template again and again; a one-shot workspace pays a
process, namespaces, DuckDB's start and the view set-up every time, a warm one once. Bound at open
to one key and one exact tuple of views, it enters its filesystem (namespace: only the granted files
and its private directory), opens DuckDB with `runner.open_locked`, then takes SQL one request at a
time through `runner.query` (views-only check, interrupt at the timeout, row limit), exactly as a
one-shot job, and answers each in one message: the strict JSON `_Status` and, when ok, Arrow IPC
stream bytes (`runner.encode_answer`), so the parent waits and receives once per call.

What keeps it as safe as a one-shot workspace:
- different views never share a workspace: compared on every call, a key's others are retired;
- any failure, timeout or crash ends it and removes its private directory: one whose state is
  unknown is never reused;
- its CPU-time rlimit is cumulative (`_LIVES` queries' worth), so the pool retires it after one
  query's worth (wall time x (threads + 1), an upper bound), after `max_calls`, or idle `idle_s`.

Unbound spares (forked, namespaces made, DuckDB started) wait in a `process._Pool`, so opening one
for a new key costs only its views; a worn-out or failed one is replaced in the background.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sandbox.errors import ErrorCode
from sandbox.workspace import namespace, process, runner, sanitize
from sandbox.workspace.runner import Limits, WorkspaceRequest, _failed, _Status
from sandbox.workspace.views import ViewSpec

_LIVES = 2  # queries' worth of CPU time in a warm workspace's rlimit; the pool retires it after one
_READY = _Status(True, 0, None, 0.0)  # what a workspace reports once its views are open
_SPARES = 2  # unbound spares kept ready for new keys and replacements


@dataclass(frozen=True)
class WarmResult:
    ok: bool
    table: pa.Table | None
    error: ErrorCode | None
    query_s: float  # time DuckDB spent on the query
    total_s: float  # wall time of WarmPool.run, waiting and opening included


class _Workspace:
    """The parent's handle on one warm workspace; its fields change only under the pool's lock."""

    def __init__(self, key: str, views: tuple[ViewSpec, ...], work_dir: Path, state: str) -> None:
        self.key, self.views, self.work_dir = key, views, work_dir
        self.state = state  # opening (in the background) | busy (a caller has it) | idle
        self.retired = False  # close it as soon as nobody uses it
        self.opened = False  # bound to its views and ready
        self.calls = 0
        self.cpu_s = 0.0  # upper bound of the CPU time it has used
        self.last_used = time.monotonic()
        self.spare: process._Spare | None = None  # process and namespace backends
        self.con: duckdb.DuckDBPyConnection | None = None  # inprocess backend
        self.session: runner.Session | None = None  # inprocess backend (a workspace process keeps its own)


class WarmPool:
    """Warm workspaces per key, shared by threads: at most `per_key` per key and `max_workspaces` in
    all (least recently used idle ones make room); a caller waits `wait_s` for one, then gets
    `workspace_busy`. Backends: `inprocess` (tests), `process`, and `namespace` for any other name."""

    def __init__(
        self,
        backend: str,
        limits: Limits,
        root: Path,
        *,
        per_key: int = 2,
        idle_s: float = 300.0,
        max_workspaces: int = 16,
        max_calls: int = 1000,
        wait_s: float = 10.0,
    ) -> None:
        self.backend = backend if backend in ("inprocess", "process") else "namespace"
        self.limits, self.root = limits, Path(root)
        self.per_key, self.idle_s, self.wait_s = per_key, idle_s, wait_s
        self.max_workspaces, self.max_calls = max_workspaces, max_calls
        self._cpu_budget_s = float(process.cpu_budget_s(limits))
        self._cond = threading.Condition()
        self._all: list[_Workspace] = []
        self._waiting: dict[str, list[object]] = {}  # per key, the callers waiting, in arrival order
        self._closed = False
        self._spares: process._Pool | None = None
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def run(self, key: str, views: tuple[ViewSpec, ...], sql: str) -> WarmResult:
        """Run `sql` in a warm workspace bound to (key, views), opening one if there is none."""
        started = time.perf_counter()
        acquired = self._acquire(key, tuple(views))
        if isinstance(acquired, ErrorCode):
            return WarmResult(False, None, acquired, 0.0, time.perf_counter() - started)
        ws, must_open = acquired
        status, table, asked = _failed(ErrorCode.workspace_crashed), None, time.perf_counter()
        try:
            status = self._open(ws) if must_open else _READY
            asked = time.perf_counter()
            if status.ok:
                status, table = self._ask(ws, sql)
        finally:
            self._release(ws, status, time.perf_counter() - asked)
        total_s = time.perf_counter() - started
        return WarmResult(status.ok, table, status.error, status.query_s, total_s)

    def prepare(self, key: str, views: tuple[ViewSpec, ...]) -> None:
        """Open one for (key, views) in the background (at publish), unless one is idle or opening."""
        self._open_in_background(key, tuple(views))

    def evict(self, key_prefix: str, files_under: Path | None = None) -> None:
        """Retire the workspaces whose key starts with `key_prefix` (a product withdrawn) and that
        read a file under `files_under` if given (a dataset destroyed); busy ones after their call."""
        with self._cond:
            doomed = [self._retire(w) for w in list(self._all) if _matches(w, key_prefix, files_under)]
        self._bury(doomed)

    def close(self) -> None:
        """Kill every workspace and spare; calls still running get `workspace_crashed`."""
        with self._cond:
            self._closed = True
            doomed = [self._retire(w) for w in list(self._all)]
            running = [w.spare for w in self._all if w.spare is not None]
            spares, self._spares = self._spares, None
            self._cond.notify_all()
        self._stop.set()
        self._bury(doomed)
        for spare in running:  # their callers see the pipe end and release them
            process._kill(spare.process)
        if spares is not None:
            spares.close()

    # --- the pool's bookkeeping (under self._cond) ---

    def _acquire(self, key: str, views: tuple[ViewSpec, ...]) -> tuple[_Workspace, bool] | ErrorCode:
        """A workspace for the caller (True: it must open it first), or workspace_busy after
        `wait_s`. Callers of one key are served in arrival order, so none starves under load."""
        deadline = time.monotonic() + self.wait_s
        doomed: list[_Workspace | None] = []
        ticket = object()
        try:
            with self._cond:
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="warm-reaper", daemon=True)
                    self._reaper.start()
                queue = self._waiting.setdefault(key, [])
                queue.append(ticket)
                try:
                    while not self._closed:
                        if queue[0] is ticket:
                            got = self._take(key, views, doomed)
                            if got is not None:
                                return got
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return ErrorCode.workspace_busy
                        self._cond.wait(remaining)
                    return ErrorCode.workspace_busy
                finally:
                    queue.remove(ticket)
                    if not queue:
                        del self._waiting[key]
                    self._cond.notify_all()  # the next in line may go
        finally:
            self._bury(doomed)

    def _take(
        self, key: str, views: tuple[ViewSpec, ...], doomed: list[_Workspace | None]
    ) -> tuple[_Workspace, bool] | None:
        """An idle workspace of (key, views), or a new one if the limits allow; None: wait."""
        mine = [w for w in self._all if w.key == key and not w.retired]
        doomed += [self._retire(w) for w in mine if w.views != views]
        same = [w for w in mine if w.views == views]
        for ws in same:
            if ws.state != "idle":
                continue
            if ws.spare is not None and not ws.spare.process.is_alive():
                doomed.append(self._retire(ws))  # it died while idle: never used again
                continue
            ws.state = "busy"
            return ws, False
        same = [w for w in same if not w.retired]
        if len(same) < self.per_key and self._make_room(doomed):
            return self._new(key, views, "busy"), True
        return None

    def _make_room(self, doomed: list[_Workspace | None]) -> bool:
        """Whether one more workspace may open, after retiring the least recently used idle one."""
        if len(self._all) < self.max_workspaces:
            return True
        idle = [w for w in self._all if w.state == "idle"]
        if not idle:
            return False
        doomed.append(self._retire(min(idle, key=lambda w: w.last_used)))
        return len(self._all) < self.max_workspaces

    def _new(self, key: str, views: tuple[ViewSpec, ...], state: str) -> _Workspace:
        ws = _Workspace(key, views, self.root / f"warm-{uuid.uuid4().hex}", state)
        self._all.append(ws)
        return ws

    def _retire(self, ws: _Workspace) -> _Workspace | None:
        """Mark `ws` retired; an idle one leaves the pool now and is returned for `_bury`."""
        ws.retired = True
        if ws.state != "idle":
            return None
        self._all.remove(ws)
        self._cond.notify_all()  # room for a waiter
        return ws

    def _release(self, ws: _Workspace, status: _Status, asked_s: float) -> None:
        """After a call (`asked_s` in the workspace): keep it warm, or end and replace it."""
        ws.calls += 1  # while busy, only its holder touches these
        ws.cpu_s += asked_s * (self.limits.threads + 1)
        ws.last_used = time.monotonic()
        worn = ws.calls >= self.max_calls or ws.cpu_s >= self._cpu_budget_s * (_LIVES - 1)
        if self._park(ws, status.ok and not worn) and ws.opened:
            self._open_in_background(ws.key, ws.views)

    def _park(self, ws: _Workspace, ok: bool) -> bool:
        """Make `ws` idle if `ok` and still wanted, else end it. True when it ended unretired."""
        with self._cond:
            wanted = not ws.retired and not self._closed
            keep = ok and wanted
            if keep:
                ws.state = "idle"
            else:
                self._all.remove(ws)
            self._cond.notify_all()
        if not keep:
            self._bury([ws])
        return wanted and not keep

    def _open_in_background(self, key: str, views: tuple[ViewSpec, ...]) -> None:
        """Keep one workspace of the key warm, off every caller's path."""
        with self._cond:
            same = [w for w in self._all if w.key == key and w.views == views and not w.retired]
            full = len(same) >= self.per_key or len(self._all) >= self.max_workspaces
            if self._closed or full or any(w.state != "busy" for w in same):
                return
            ws = self._new(key, views, "opening")
        threading.Thread(
            target=lambda: self._park(ws, self._open(ws).ok), name="warm-open", daemon=True
        ).start()

    def _reap(self) -> None:
        """Retire workspaces idle longer than `idle_s`, until the pool closes."""
        interval = max(0.05, min(self.idle_s / 4, 10.0))
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._cond:
                stale = [w for w in self._all if w.state == "idle" and now - w.last_used >= self.idle_s]
                doomed = [self._retire(w) for w in stale]
            self._bury(doomed)

    # --- one workspace (outside the lock: only its holder touches it) ---

    def _spare_pool(self) -> process._Pool:
        isolated = self.backend == "namespace" and namespace.usable()  # slow once: not under the lock
        with self._cond:
            if self._spares is None:
                if isolated:
                    target = functools.partial(namespace._spare_main, body=_serve_namespace)
                    self._spares = process._Pool(_SPARES, target=target)
                else:  # process, or namespace where Linux refuses namespaces (logged by usable())
                    self._spares = process._Pool(_SPARES, target=_serve_process)
            return self._spares

    def _open(self, ws: _Workspace) -> _Status:
        """Bind a workspace to its views; a failure is a code (the caller then ends it)."""
        started = time.perf_counter()
        try:
            (ws.work_dir / "tmp").mkdir(parents=True, mode=0o700)
            if self.backend == "inprocess":
                ws.con = runner.open_locked(ws.views, self.limits, ws.work_dir)
                ws.session = runner.Session(ws.con)
                status = _READY
            else:
                spares = self._spare_pool()
                ws.spare = spares.take()
                spares.refill()
                ws.spare.conn.send(WorkspaceRequest(ws.key, ws.views, "", ws.work_dir, self.limits))
                deadline = time.monotonic() + self.limits.timeout_s + process._GRACE_S
                status = process.await_status(ws.spare, deadline)
            ws.opened = status.ok
            return status
        except Exception as exc:  # a code, never the message (it may quote a path or a value)
            inprocess = self.backend == "inprocess"
            return _failed(sanitize.code_of(exc) if inprocess else ErrorCode.workspace_crashed)
        finally:
            ws.cpu_s += (time.perf_counter() - started) * (self.limits.threads + 1)

    def _ask(self, ws: _Workspace, sql: str) -> tuple[_Status, pa.Table | None]:
        """One request to an open workspace: its status, and its result when ok."""
        if ws.con is not None:
            return runner.query(ws.con, sql, [v.name for v in ws.views], self.limits, ws.session)
        if ws.spare is None:
            return _failed(ErrorCode.workspace_crashed), None
        deadline = time.monotonic() + self.limits.timeout_s + process._GRACE_S
        try:
            ws.spare.conn.send_bytes(sql.encode())
            reply = process.await_reply(ws.spare, deadline)
            return (reply, None) if isinstance(reply, _Status) else runner.decode_answer(reply)
        except (OSError, EOFError, ValueError, KeyError, TypeError, pa.ArrowException):
            return _failed(ErrorCode.workspace_crashed), None

    def _bury(self, doomed: Sequence[_Workspace | None]) -> None:
        """End workspaces that left the pool: kill the process, close DuckDB, remove the directory."""
        for ws in filter(None, doomed):
            if ws.spare is not None:
                ws.spare.discard()
            if ws.session is not None:
                ws.session.close()
            if ws.con is not None:
                ws.con.close()
            shutil.rmtree(ws.work_dir, ignore_errors=True)


def _matches(ws: _Workspace, key_prefix: str, files_under: Path | None) -> bool:
    paths = [Path(v.parquet_path).absolute() for v in ws.views]
    under = files_under is None or any(p.is_relative_to(files_under.absolute()) for p in paths)
    return ws.key.startswith(key_prefix) and under


# --- inside a warm workspace ---


def _serve_namespace(conn: Connection, check: Callable[[WorkspaceRequest], Any] | None = None) -> None:
    """The namespace body (PID 2): enter the granted files only, then serve. With `check` (tests:
    `namespace.probe(..., body=_serve_namespace)`) it runs the request's SQL, reports `check(inside)`."""
    con = duckdb.connect(":memory:")
    inside = namespace.enter(process.receive(conn), lives=_LIVES)
    if check is None:
        _serve(conn, inside, con)
        return
    con = runner.open_locked(inside.views, inside.limits, inside.work_dir, con)
    status, _ = runner.query(con, inside.sql, [v.name for v in inside.views], inside.limits)
    reply = check(inside) if status.ok else {"query_failed": str(status.error)}
    conn.send_bytes(json.dumps(reply).encode())


def _serve_process(conn: Connection) -> None:
    """Entry point of a `process` warm workspace: cut off and limited like a one-shot one."""
    try:
        process._quiet(keep=conn.fileno())
        con = duckdb.connect(":memory:")
        request = process.receive(conn)
        process._limit(request.limits, _LIVES)
        _serve(conn, request, con)
    except BaseException:
        namespace._report(conn, _failed(ErrorCode.workspace_crashed))
    finally:
        os._exit(0)


def _serve(conn: Connection, opened: WorkspaceRequest, con: duckdb.DuckDBPyConnection) -> None:
    """Open the views, report ready, then answer SQL until a request fails or the parent hangs up."""
    try:
        con = runner.open_locked(opened.views, opened.limits, opened.work_dir, con)
    except Exception as exc:
        conn.send_bytes(_failed(sanitize.code_of(exc)).encode())
        return
    conn.send_bytes(_READY.encode())
    names, session = [v.name for v in opened.views], runner.Session(con)
    while True:
        try:
            sql = conn.recv_bytes().decode()
        except EOFError:
            return
        status, table = runner.query(con, sql, names, opened.limits, session)
        # a failure to send ends us: the parent sees no answer
        conn.send_bytes(runner.encode_answer(status, table))
        if table is None:
            return  # the parent ends a workspace after any failure; end first


__all__ = ["WarmPool", "WarmResult"]
