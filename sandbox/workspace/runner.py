"""Run one job's SQL over raw rows: the only place rows are touched.

`run()` opens a locked in-memory DuckDB (limits and access rules set, then the granted views, then
the configuration frozen), checks that the SQL reads only those views, runs it and writes the result
to `work_dir/result.arrow` (a result longer than `Limits.max_rows` is not written at all). What
comes back is a small status: ok, row count, an ErrorCode, timings; never an engine message, because
engine messages quote raw values.

Backends:
- `namespace` (default): a `process` workspace in its own user, mount, network, IPC and PID
  namespaces, seeing only the granted files (`namespace.py`); `process` where Linux refuses them.
- `process`: the job runs in its own limited process (`process.py`).
- `docker`: a container per job with no network, a read-only root and only the granted files
  (`container.py`), for workers that must not rely on the host's namespaces.
- `inprocess`: the same steps in this process, for fast tests.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from sandbox.errors import ErrorCode
from sandbox.workspace import sanitize, views
from sandbox.workspace.views import ViewSpec, quote_str

if TYPE_CHECKING:
    from sandbox.settings import Settings

RESULT_NAME = "result.arrow"
STATUS_MAX = 4096  # bytes a status report may take; a longer one is nonsense
_HEADER = 4  # bytes of an answer's status length (see encode_answer)


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    threads: int = 2
    timeout_s: float = 300.0
    temp_mb: int = 8192  # spill space under work_dir/tmp (DuckDB max_temp_directory_size)
    max_rows: int = 100_000  # a larger result fails the job with result_too_large
    cache_mb: int = 0  # warm workspaces: views over files up to this size are copied into memory


def limits_of(settings: Settings) -> Limits:
    """The limits every workspace of this installation runs under, from its settings."""
    return Limits(
        memory_mb=settings.workspace_memory_mb,
        threads=settings.workspace_threads,
        timeout_s=settings.workspace_timeout_s,
        max_rows=settings.workspace_max_rows,
    )


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


def encode_answer(status: _Status, table: pa.Table | None) -> pa.Buffer:
    """A warm workspace's answer to one call, in one message: the status's length (4 bytes,
    big-endian), the status, then the table as an Arrow IPC stream when there is one. One buffer,
    written in place, sent at once, so the parent waits and receives once.

    >>> answer = encode_answer(_Status(True, 1, None, 0.5), pa.table({"n": [3]}))
    >>> status, table = decode_answer(answer.to_pybytes())
    >>> status.rows, table.to_pylist()
    (1, [{'n': 3}])
    """
    encoded = status.encode()
    sink = pa.BufferOutputStream()
    sink.write(len(encoded).to_bytes(_HEADER, "big") + encoded)
    if table is not None:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()


def decode_answer(data: bytes) -> tuple[_Status, pa.Table | None]:
    """A workspace's answer, parsed strictly: a status of at most `STATUS_MAX` bytes, a
    table exactly when it is ok, with its row count. Anything else raises (`workspace_crashed`)."""
    size = int.from_bytes(data[:_HEADER], "big")
    if len(data) < _HEADER + size or size > STATUS_MAX:
        raise ValueError("malformed workspace answer")
    status = _Status.decode(data[_HEADER : _HEADER + size])
    body = memoryview(data)[_HEADER + size :]
    if not status.ok:
        if body:
            raise ValueError("a failed workspace answer carries no table")
        return status, None
    table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    if table.num_rows != status.rows:
        raise ValueError("row count does not match the status")
    return status, table


def run(
    request: WorkspaceRequest,
    backend: str = "process",
    should_stop: Callable[[], bool] | None = None,
    settings: Settings | None = None,
) -> WorkspaceResult:
    """Run `request.sql` over its views in a workspace and report how it went. The isolated backends
    kill the workspace as soon as `should_stop()` is true (the job was cancelled or revoked);
    `settings` carries a backend's own settings (the docker engine's URL and image)."""
    started = time.perf_counter()
    result_path = request.work_dir / RESULT_NAME
    result_path.unlink(missing_ok=True)
    if backend == "inprocess":
        status = execute(request)
    elif backend == "process":
        from sandbox.workspace.process import run_in_child

        status = run_in_child(request, should_stop)
    elif backend == "namespace":
        from sandbox.workspace import namespace

        status = namespace.run(request, should_stop)
    elif backend == "docker":
        from sandbox.workspace import container

        status = container.run(request, should_stop, container.config_of(settings))
    else:
        raise ValueError(f"unknown workspace backend {backend!r}")
    total_s = time.perf_counter() - started
    if status.ok and result_path.is_file():
        return WorkspaceResult(True, result_path, status.rows, None, status.query_s, total_s)
    result_path.unlink(missing_ok=True)  # never leave a partial result behind
    return WorkspaceResult(
        False, None, 0, status.error or ErrorCode.workspace_crashed, status.query_s, total_s
    )


def open_locked(
    view_specs: Sequence[ViewSpec],
    limits: Limits,
    work_dir: Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read only the views' files, with its configuration frozen.

    Order matters: temp_directory and allowed_paths can no longer be set once external access is
    off, and the views must exist before lock_configuration, which also freezes every SET after it.
    """
    con = con or duckdb.connect(":memory:")  # a spare workspace opened it ahead of time, empty
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
        views.setup(con, view_specs, cache_mb=limits.cache_mb)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def execute(
    request: WorkspaceRequest, *, con: duckdb.DuckDBPyConnection | None = None, close: bool = True
) -> _Status:
    """Open, check, run, write: the workspace's steps, in whichever process runs them."""
    result_path = request.work_dir / RESULT_NAME
    try:
        con = open_locked(request.views, request.limits, request.work_dir, con)
        try:
            status, table = query(con, request.sql, [v.name for v in request.views], request.limits)
        finally:
            if close:  # a workspace child skips it: os._exit frees everything at once, sooner
                con.close()
        if table is None:
            return status
        with pa.OSFile(str(result_path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return status
    except Exception as exc:  # every failure becomes a code; the message is dropped right here
        result_path.unlink(missing_ok=True)
        return _failed(sanitize.code_of(exc))


_PREPARED_MAX = 1024  # statements a warm workspace keeps prepared; then it starts over
# DuckDB warns that Arrow from an executed result copies the rows: here at most max_rows + 1 of
# them, cheaper than the relation API's second bind (pyproject's pytest filters say the same).
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


class Watchdog:
    """Interrupts the connection's query once it runs past its timeout: one thread for all the
    queries of a warm workspace, where a `threading.Timer` per query starts (and waits for) a new
    thread on every call, about 0.1 ms of CPU and more of wall time.

    Arming only stores a deadline under the lock; the thread sleeps until the deadline it last saw
    and is woken only when the new one is earlier (it was idle, or a shorter timeout). At a deadline
    still armed it interrupts, under the lock, so a query already disarmed is never interrupted.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._cond = threading.Condition(threading.Lock())
        self._deadline: float | None = None  # monotonic; None: no query running
        self._wake_at = math.inf  # when the thread wakes up next (inf: when notified)
        self._closed = False
        threading.Thread(target=self._watch, name="query-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def armed(self, timeout_s: float) -> Iterator[None]:
        """Interrupt the query run inside this block if it is still running after `timeout_s`."""
        with self._cond:
            self._deadline = deadline = time.monotonic() + timeout_s
            if deadline < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._deadline = None

    def close(self) -> None:
        """End the thread (a workspace process need not: os._exit ends it with the rest)."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    self._con.interrupt()
                    self._deadline = None
                self._wake_at = math.inf if self._deadline is None else self._deadline
                self._cond.wait(None if self._deadline is None else self._wake_at - now)


class Session:
    """What a warm workspace keeps between its queries over its fixed views, so a repeated call
    costs DuckDB's execution and little else.

    - `prepared`: texts already found to read only the views, with their row limit (the key), each
      PREPAREd under a name of ours (`__q<n>`): the same text parses the same, so a repeat skips both
      the views-only check and DuckDB's parse (about 0.3 ms). EXECUTE reads the views as they are
      then, as the text would (`random()` is drawn anew); the views of a locked workspace never
      change anyway. A bounded map: past `_PREPARED_MAX` texts all are deallocated, then it refills.
    - `watchdog`: one thread interrupts the query at its timeout.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.prepared: dict[str, str] = {}
        self.watchdog = Watchdog(con)

    def close(self) -> None:
        self.watchdog.close()


def query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    view_names: Sequence[str],
    limits: Limits,
    session: Session | None = None,
) -> tuple[_Status, pa.Table | None]:
    """Check and run one query on an open locked connection: the step one-shot and warm workspaces
    share. The table comes back only when the status is ok (at most `limits.max_rows` rows). A warm
    workspace passes its `session` (fixed views and limits); a one-shot one starts a Timer thread."""
    try:
        # The row limit is the query as a subquery under LIMIT, which is what `con.sql(sql).limit(n)`
        # renders too: the engine stops after one row too many (a cross join is cut short), ORDER BY
        # is kept, and the text is checked below as one SELECT, so it can only be that subquery or
        # fail to parse. One execute binds it once; the relation API binds twice.
        limited = f"SELECT * FROM (\n{sql}\n) AS q LIMIT {int(limits.max_rows) + 1}"
        name = session.prepared.get(limited) if session is not None else None
        if name is None and not views.reads_only_views(con, sql, view_names):
            return _failed(ErrorCode.query_failed), None
        deadline = session.watchdog.armed(limits.timeout_s) if session is not None else _timer(con, limits)
        with deadline:
            started = time.perf_counter()
            if session is None:
                result = con.execute(limited)
            else:
                result = con.execute(f"EXECUTE {name or _prepare(con, session.prepared, limited)}")
            # Materialized, not streamed: a streamed reader turns engine errors into OSError
            # and the class, which is all that decides the code, would be lost.
            table = result.to_arrow_table()
        query_s = time.perf_counter() - started
    except Exception as exc:  # every failure becomes a code; the message is dropped right here
        return _failed(sanitize.code_of(exc)), None
    if table.num_rows > limits.max_rows:
        return _Status(False, 0, ErrorCode.result_too_large, query_s), None
    return _Status(True, table.num_rows, None, query_s), table


def _prepare(con: duckdb.DuckDBPyConnection, prepared: dict[str, str], limited: str) -> str:
    """PREPARE a checked text's limited form under a new name (errors are the same classes as
    when it runs directly: binding and constant folding happen here, the rest at EXECUTE)."""
    if len(prepared) >= _PREPARED_MAX:
        for name in prepared.values():
            con.execute(f"DEALLOCATE {name}")
        prepared.clear()
    name = f"__q{len(prepared)}"
    con.execute(f"PREPARE {name} AS {limited}")
    prepared[limited] = name
    return name


@contextlib.contextmanager
def _timer(con: duckdb.DuckDBPyConnection, limits: Limits) -> Iterator[None]:
    """A one-shot query's interrupt at the timeout: one thread for its one query."""
    timer = threading.Timer(limits.timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
