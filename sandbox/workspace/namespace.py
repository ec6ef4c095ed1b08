"""The `namespace` backend: the `process` backend's spare workspaces, each in its own Linux namespaces.

A spare leaves the host's namespaces before it opens DuckDB (every thread DuckDB starts is then
inside too): a new user namespace (its capabilities count only inside it; the caller's uid is mapped
to 0), and owned by it new mount, network (loopback only, down), IPC, UTS and PID namespaces. A new
PID namespace applies to the caller's children, so the unsharing process forks twice: a small init
(PID 1, which the kernel never lets die of an ordinary signal) and under it the workspace (PID 2),
which runs DuckDB.
Killing the spare (timeout) takes the init with it (parent-death signal), and the kernel ends the
whole namespace.

On its request the workspace builds its filesystem: a small tmpfs holding read-only bind mounts of
exactly the granted vault files (`/data/0.parquet`, ...) and the job's directory (`/work`), then
`pivot_root` into it and detaches the old root. Nothing else exists: no vault, no catalog, no
/etc, no /proc. The views point at `/data/...`; DuckDB's allowed_paths stays as a second fence.
The spill directory `/work/tmp` is private to the job and removed afterwards.

Where namespaces cannot be made (no CAP_SYS_ADMIN, user namespaces disabled, not Linux), `run` logs
one notice and uses the `process` backend.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import logging
import os
import platform
import resource
import shutil
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import duckdb

from sandbox.errors import ErrorCode
from sandbox.workspace import process
from sandbox.workspace.runner import WorkspaceRequest, _failed, _Status, execute

log = logging.getLogger(__name__)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_LOCKED = MS_NOSUID | MS_NODEV | MS_NOEXEC

DATA_DIR = "/data"
WORK_DIR = "/work"
_NPROC = 64  # tasks (threads count) the workspace's user may have: DuckDB's threads and no more
_SIGNAL_BASE = 128  # the init reports "the workspace died of signal N" as exit status 128 + N


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _unshare() -> None:
    """Leave the host's namespaces; map our uid to root inside the new user namespace."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc().unshare(_FLAGS), "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _die_with_parent() -> None:
    _check(_libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def _wait_and_report(pid: int) -> int:
    """Wait for `pid`; its end as an exit status (signals as 128 + N: an init cannot re-raise them)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return _SIGNAL_BASE + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1


Body = Callable[[Connection], None]  # what PID 2 runs: it reports on `conn` and ends with os._exit


def _spare_main(conn: Connection, body: Body | None = None) -> None:
    """Host side of a namespace spare; it mirrors how the workspace ended, for process._exit_code.

    The spare itself has threads (pyarrow's allocator starts one) and a threaded process may not
    make a user namespace, so a forked, single-threaded child does the unsharing. `body` is what the
    workspace does once inside: one job (default), a test probe, or a warm workspace's serving loop.
    """
    try:
        process._quiet(keep=conn.fileno())
        pid = os.fork()
    except BaseException:
        _report(conn, _failed(ErrorCode.workspace_crashed))
        os._exit(0)
    if pid == 0:
        _unshared_main(conn, body or _one_job)
    conn.close()
    _mirror(_wait_and_report(pid))


def _unshared_main(conn: Connection, body: Body) -> None:
    """Leave the host's namespaces, fork the new PID namespace's init, mirror how it ended."""
    try:
        _die_with_parent()
        _unshare()
        pid = os.fork()
    except BaseException:
        _report(conn, _failed(ErrorCode.workspace_crashed))
        os._exit(0)
    if pid == 0:
        _init_main(conn, body)
    conn.close()
    _mirror(_wait_and_report(pid))


def _mirror(code: int) -> None:
    """End as the child ended: of the same signal (not an init, so it can), or with its status."""
    if code > _SIGNAL_BASE:
        sig = code - _SIGNAL_BASE
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


def _init_main(conn: Connection, body: Body) -> None:
    """PID 1 of the new namespace: start the workspace and pass on how it ended."""
    code = 1
    try:
        _die_with_parent()
        pid = os.fork()
        if pid == 0:
            _workspace_main(conn, body)
        conn.close()
        code = _wait_and_report(pid)
    finally:
        os._exit(code)


def _workspace_main(conn: Connection, body: Body) -> None:
    """PID 2: tied to its init's life, then the body; it never returns."""
    try:
        _die_with_parent()
        body(conn)
    except BaseException:
        _report(conn, _failed(ErrorCode.workspace_crashed))
    finally:
        os._exit(0)


def _one_job(conn: Connection) -> None:
    """Open DuckDB, take one request, enter its filesystem, run, report, exit."""
    status = _failed(ErrorCode.workspace_crashed)
    try:
        con = duckdb.connect(":memory:")
        status = execute(enter(process.receive(conn)), con=con, close=False)
    except BaseException:
        status = _failed(ErrorCode.workspace_crashed)
    finally:
        try:
            conn.send_bytes(status.encode())
            conn.close()
        finally:
            os._exit(0)


def _probe_job(conn: Connection, check: Callable[[WorkspaceRequest], Any]) -> None:
    """Test-only body: set up exactly as for a job, then report `check(inside)` as JSON."""
    reply = _failed(ErrorCode.workspace_crashed).encode()
    try:
        reply = json.dumps(check(enter(process.receive(conn)))).encode()
    finally:
        try:
            conn.send_bytes(reply)
            conn.close()
        finally:
            os._exit(0)


def _report(conn: Connection, status: _Status) -> None:
    with contextlib.suppress(OSError):
        conn.send_bytes(status.encode())


def enter(request: WorkspaceRequest, lives: int = 1) -> WorkspaceRequest:
    """Limit this process, build its filesystem of granted files only, and pivot into it.

    Returns the request as seen from inside: views on `/data/N.parquet`, work dir `/work`. The one
    set-up jobs, warm workspaces (`lives` queries' CPU time, see process._limit) and the isolation
    tests' probe all go through.
    """
    process._limit(request.limits, lives)
    process._setrlimit(resource.RLIMIT_NPROC, _NPROC)
    sources = [os.open(v.parquet_path, os.O_PATH) for v in request.views]
    work = os.open(request.work_dir, os.O_PATH | os.O_DIRECTORY)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates to the host
    root = "/tmp"  # covered by our tmpfs in this mount namespace only; sources are held open above
    _mount("tmpfs", root, "tmpfs", _LOCKED, "size=1m,mode=0755")
    os.mkdir(f"{root}{DATA_DIR}")
    os.mkdir(f"{root}{WORK_DIR}")
    views = []
    for i, (view, fd) in enumerate(zip(request.views, sources, strict=True)):
        target = f"{root}{DATA_DIR}/{i}.parquet"
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
        _bind(fd, target, MS_RDONLY)
        views.append(dataclasses.replace(view, parquet_path=Path(f"{DATA_DIR}/{i}.parquet")))
    _bind(work, f"{root}{WORK_DIR}", 0)
    for fd in (*sources, work):
        os.close(fd)
    os.mkdir(f"{root}/old")
    pivot_root = _SYS_PIVOT_ROOT[platform.machine()]
    _check(_libc().syscall(pivot_root, root.encode(), f"{root}/old".encode()), "pivot_root")
    os.chdir("/")
    _check(_libc().umount2(b"/old", MNT_DETACH), "umount old root")
    os.rmdir("/old")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | _LOCKED)
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.environ["TMPDIR"] = f"{WORK_DIR}/tmp"
    return dataclasses.replace(request, views=tuple(views), work_dir=Path(WORK_DIR))


def _bind(fd: int, target: str, extra: int) -> None:
    """Bind the file or directory held by `fd` at `target`, then make it nosuid/nodev/noexec (+extra)."""
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | _LOCKED | extra)


def _probe_unshare() -> None:
    pid = os.fork()  # a threaded process may not unshare a user namespace (see _spare_main)
    if pid:
        _mirror(_wait_and_report(pid))
    try:
        _unshare()
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError:
        os._exit(1)
    os._exit(0)


_probe_lock = threading.Lock()


def usable() -> bool:
    """Whether this machine lets a process make the namespaces (checked once, in a forked child)."""
    with _probe_lock:  # concurrent first jobs wait for one probe
        return _usable()


@functools.cache
def _usable() -> bool:
    if platform.system() != "Linux" or platform.machine() not in _SYS_PIVOT_ROOT:
        return False
    process._forkserver()  # the server must start with its preloads, whoever asks first
    child = process._WorkspaceProcess(target=_probe_unshare, name="namespace-probe", daemon=True)
    child.start()  # the first one also starts the forkserver: slow on a loaded machine, so no short timeout
    child.join(120)
    if child.exitcode != 0:
        process._kill(child)
        log.warning("workspace backend namespace is not permitted here (unshare failed); using process")
        return False
    return True


@functools.cache
def _pool() -> process._Pool:
    return process._Pool(process._SPARES, target=_spare_main)


def run(request: WorkspaceRequest, should_stop: Callable[[], bool] | None = None) -> _Status:
    """Run a request in a namespace workspace (or a plain process one where namespaces are refused)."""
    try:
        if not usable():
            return process.run_in_child(request, should_stop)
        return process.run_in_child(request, should_stop, _pool())
    finally:
        shutil.rmtree(request.work_dir / "tmp", ignore_errors=True)


def probe(
    request: WorkspaceRequest,
    check: Callable[[WorkspaceRequest], Any],
    timeout_s: float = 30,
    body: Callable[..., None] | None = None,
) -> Any:
    """Test-only: run `check(inside_request)` in a workspace set up exactly as for a job (or by
    `body(conn, check=check)`, another workspace's set-up); its JSON."""
    target = functools.partial(_spare_main, body=functools.partial(body or _probe_job, check=check))
    spare = process._Spare(target)
    try:
        spare.conn.send(request)
        if not spare.conn.poll(timeout_s):
            raise TimeoutError("probe did not answer")
        return json.loads(spare.conn.recv_bytes())
    finally:
        spare.discard()


__all__ = ["DATA_DIR", "WORK_DIR", "enter", "probe", "run", "usable"]
