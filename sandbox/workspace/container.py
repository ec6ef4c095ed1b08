"""The `docker` backend: each job in its own container, through the Docker SDK for Python.

The container has no network (`none`: loopback only), a read-only root of the empty image that
`image.py` makes, every capability dropped, `no-new-privileges`, memory and PID limits, a small
tmpfs on /tmp, an unprivileged user, docker's init as PID 1 and no log (`none`: a traceback
would quote values). It sees read-only binds of exactly the granted vault files (`/data/0.parquet`,
...), the interpreter and code (`image.mounts()`), and a fresh private directory of the job as
`/work`, the only writable place: the request goes in through a named pipe there (it holds
keys, which never touch a disk), the strict JSON status and `result.arrow` come out. Inside,
`main` runs the same steps as every backend (`runner.execute`, under the `process` backend's
rlimits).

The host kills the container at the deadline (`query_timeout`) or as soon as `should_stop()` is
true (`job_stopped`), removes it, moves the result into the job's directory and deletes the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import pickle
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import requests
from docker.types import LogConfig, Mount

from sandbox.errors import ErrorCode
from sandbox.workspace import image, process
from sandbox.workspace.runner import RESULT_NAME, WorkspaceRequest, _failed, _Status, execute

if TYPE_CHECKING:
    from sandbox.settings import Settings

log = logging.getLogger(__name__)

DATA_DIR = "/data"
WORK_DIR = "/work"
PROBE_DIR = "/probe"
PIDS = 64  # tasks (threads count) in the container: DuckDB's threads and no more
OVERHEAD_MB = 512  # the interpreter, pyarrow and DuckDB's own allocations beyond its memory_limit
_START_S = 10.0  # added to the deadline: creating and starting a container, importing DuckDB
_STOP_SLICE_S = 0.1
_REQUEST, _STATUS, _REPLY = "request", "status.json", "probe.json"
_MAX_STATUS = 4096
_PIPE_BUF = 65536  # a pipe's default capacity
_PROBE_API = "1.24"  # only used to ask the engine which version it speaks (an unversioned request)
_SIGNAL_BASE = 128  # docker's init reports "the workspace died of signal N" as exit status 128 + N


@dataclasses.dataclass(frozen=True)
class DockerConfig:
    url: str = "unix:///var/run/docker.sock"
    repository: str = image.REPOSITORY  # the image's name; its tag is a hash of what goes in


_DEFAULT = DockerConfig()


def config_of(settings: Settings | None) -> DockerConfig:
    if settings is None:
        return _DEFAULT
    return DockerConfig(url=settings.docker_url, repository=settings.docker_image)


_clients: dict[str, docker.DockerClient] = {}
_clients_lock = threading.Lock()


def client(url: str) -> docker.DockerClient:
    """One client per engine URL, made on first use at the API version the engine speaks. (The SDK's
    own `version="auto"` leaves a socket open when the engine does not answer.)"""
    with _clients_lock:
        if url not in _clients:
            if url.startswith("unix://") and not answers(url):
                raise docker.errors.DockerException("the engine does not answer")
            with contextlib.closing(docker.APIClient(base_url=url, version=_PROBE_API, timeout=10)) as api:
                version = api.version(api_version=False)["ApiVersion"]
            _clients[url] = docker.DockerClient(base_url=url, version=version, timeout=60)
        return _clients[url]


def answers(url: str) -> bool:
    """Whether an engine answers its ping at `url`. A local socket is asked directly: the SDK leaves a
    socket open when it cannot connect to one."""
    if url.startswith("unix://"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(url.removeprefix("unix://"))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return sock.recv(64).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False
    try:
        return bool(client(url).ping())
    except (docker.errors.DockerException, requests.RequestException):
        return False


def usable(config: DockerConfig = _DEFAULT) -> bool:
    """Whether the engine answers (for readiness); a job on an engine that does not fails as crashed."""
    return answers(config.url)


def run(
    request: WorkspaceRequest,
    should_stop: Callable[[], bool] | None = None,
    config: DockerConfig | None = None,
) -> _Status:
    """Run a request in a new container; the result lands in `request.work_dir` as for every backend."""
    box = Path(tempfile.mkdtemp(prefix="container-", dir=request.work_dir))
    try:
        status = _run_in(box, request, should_stop, config or _DEFAULT)
        result = box / RESULT_NAME
        if status.ok:
            if not _is_plain_file(result):
                return _failed(ErrorCode.workspace_crashed)
            os.replace(result, request.work_dir / RESULT_NAME)
        return status
    finally:
        shutil.rmtree(box, ignore_errors=True)
        shutil.rmtree(request.work_dir / "tmp", ignore_errors=True)  # as namespace: no spill outlives a job


def probe(
    request: WorkspaceRequest,
    check: Callable[[WorkspaceRequest], Any],
    timeout_s: float = 60,
    config: DockerConfig | None = None,
) -> Any:
    """Test-only: run `check(inside_request)` in a container set up exactly as for a job; its JSON.

    `check` must be a module-level function (or a partial of one): its module's file is bound
    read-only at /probe so the container can unpickle it.
    """
    box = Path(tempfile.mkdtemp(prefix="container-", dir=request.work_dir))
    try:
        limits = dataclasses.replace(request.limits, timeout_s=timeout_s)
        status = _run_in(box, dataclasses.replace(request, limits=limits), None, config or _DEFAULT, check)
        reply = _read(box / _REPLY, 1 << 20)
        if reply is None:
            raise RuntimeError(f"probe did not answer ({status.error})")
        return json.loads(reply)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _run_in(
    box: Path,
    request: WorkspaceRequest,
    should_stop: Callable[[], bool] | None,
    config: DockerConfig,
    check: Callable[[WorkspaceRequest], Any] | None = None,
) -> _Status:
    uid, gid = (image.UID, image.UID) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    views = tuple(
        dataclasses.replace(view, parquet_path=Path(f"{DATA_DIR}/{i}.parquet"))
        for i, view in enumerate(request.views)
    )
    inside = dataclasses.replace(request, views=views, work_dir=Path(WORK_DIR))
    if os.geteuid() == 0:
        os.chown(box, uid, gid)
    try:
        pipe = _hand_over(box / _REQUEST, pickle.dumps((inside, check)), uid, gid)
    except OSError:
        log.warning("workspace backend docker: the request did not fit a pipe")
        return _failed(ErrorCode.workspace_crashed)
    try:
        return _start(box, request, should_stop, config, check, uid, gid)
    finally:
        os.close(pipe)  # only now: a pipe's data goes with its last open end


def _start(
    box: Path,
    request: WorkspaceRequest,
    should_stop: Callable[[], bool] | None,
    config: DockerConfig,
    check: Callable[[WorkspaceRequest], Any] | None,
    uid: int,
    gid: int,
) -> _Status:
    mounts = image.mounts()
    mounts += [
        Mount(f"{DATA_DIR}/{i}.parquet", str(Path(v.parquet_path).resolve()), type="bind", read_only=True)
        for i, v in enumerate(request.views)
    ]
    mounts.append(Mount(WORK_DIR, str(box.resolve()), type="bind"))
    python_path = image.python_path()
    if check is not None:
        module = Path(str(sys.modules[_module_of(check)].__file__)).resolve()
        mounts.append(Mount(f"{PROBE_DIR}/{module.name}", str(module), type="bind", read_only=True))
        python_path = f"{PROBE_DIR}:{python_path}"
    try:
        container = _create(config, _confinement(request, uid, gid, mounts, python_path))
    except (docker.errors.DockerException, requests.RequestException):
        log.warning("workspace backend docker: the engine at %s could not make a container", config.url)
        return _failed(ErrorCode.workspace_crashed)
    try:
        budget_s = request.limits.timeout_s + process._GRACE_S + _START_S
        return _watch(container, box, budget_s, should_stop)
    except (docker.errors.DockerException, requests.RequestException):
        return _failed(ErrorCode.workspace_crashed)
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            container.remove(force=True)


def _hand_over(path: Path, data: bytes, uid: int, gid: int) -> int:
    """Put the request in a named pipe in the job's box: it holds the grant's keys (join-key secret,
    vault file key), which never touch a disk. The data sits in the kernel's pipe buffer (made large
    enough) until the container reads it; the returned end must stay open until then."""
    os.mkfifo(path, 0o600)
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    framed = len(data).to_bytes(8, "big") + data
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a FIFO opened read-write never blocks (Linux)
    try:
        if len(framed) > _PIPE_BUF:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, len(framed))  # up to fs.pipe-max-size (1 MiB)
        if os.write(fd, framed) != len(framed):
            raise OSError("the request did not fit the pipe")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _confinement(
    request: WorkspaceRequest, uid: int, gid: int, mounts: list[Mount], python_path: str
) -> dict[str, Any]:
    """Everything the container is and may do, as `containers.create` arguments."""
    memory = f"{request.limits.memory_mb + OVERHEAD_MB}m"
    return {
        "command": [image.interpreter(), "-S", "-s", "-m", __name__],
        "user": f"{uid}:{gid}",
        "environment": {
            "PYTHONPATH": python_path,
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": f"{WORK_DIR}/tmp",
            "HOME": "/tmp",
            # pyarrow's pools (decrypting scans) would size to the host's cores and run into the
            # PID limit on a large machine: as many threads as DuckDB gets, and a few for I/O
            "OMP_NUM_THREADS": str(max(1, request.limits.threads)),
            "ARROW_IO_THREADS": "4",
        },
        "working_dir": "/",
        "hostname": "workspace",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=16m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap: over the limit is the kernel's OOM kill
        "pids_limit": PIDS,
        "ipc_mode": "private",
        "init": True,  # docker's init as PID 1 reaps and passes signals on; the workspace is its child
        "log_config": LogConfig(type=LogConfig.types.NONE),  # a traceback could quote a value
        "mounts": mounts,
        "labels": {"sandbox.job": request.job_id},
    }


def _create(config: DockerConfig, spec: dict[str, Any]) -> Any:
    engine = client(config.url)
    try:
        return engine.containers.create(image.ensure(engine, config.repository), **spec)
    except docker.errors.ImageNotFound:  # removed from the engine since it was made: make it again
        image.forget(engine, config.repository)
        return engine.containers.create(image.ensure(engine, config.repository), **spec)


def _watch(container: Any, box: Path, budget_s: float, should_stop: Callable[[], bool] | None) -> _Status:
    """Start the container and wait for it to end, killing it on overrun or when asked to stop."""
    ended = threading.Event()
    outcome: dict[str, Any] = {}

    def wait() -> None:
        try:
            outcome.update(container.wait())
        except (docker.errors.DockerException, requests.RequestException):
            pass
        finally:
            ended.set()

    deadline = time.monotonic() + budget_s
    container.start()
    threading.Thread(target=wait, name="workspace-container", daemon=True).start()
    while not ended.wait(min(max(0.0, deadline - time.monotonic()), _STOP_SLICE_S)):
        killed = None
        if time.monotonic() >= deadline:
            killed = ErrorCode.query_timeout
        elif should_stop is not None and should_stop():
            killed = ErrorCode.job_stopped
        if killed is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                container.kill()
            ended.wait(process._JOIN_S)
            return _failed(killed)
    reported = _read(box / _STATUS)
    if reported is not None:
        try:
            return _Status.decode(reported)
        except (ValueError, KeyError, TypeError):
            return _failed(ErrorCode.workspace_crashed)
    container.reload()
    if container.attrs["State"].get("OOMKilled"):
        return _failed(ErrorCode.query_out_of_memory)
    code = int(outcome.get("StatusCode", 1))
    return _failed(process._exit_code(_SIGNAL_BASE - code if code > _SIGNAL_BASE else code))


def _module_of(check: Callable[..., Any]) -> str:
    return str(getattr(check, "func", check).__module__)


def _is_plain_file(path: Path) -> bool:
    """A regular file, not a link the container made to somewhere on the host."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _read(path: Path, limit: int = _MAX_STATUS) -> bytes | None:
    """A small report the container wrote (None if missing or too long); never follows a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    return data if 0 < len(data) <= limit else None


def _take_request(path: Path) -> bytes:
    """Read the framed request from the named pipe (the host holds its other end open)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        head = _read_exactly(fd, 8)
        return _read_exactly(fd, int.from_bytes(head, "big"))
    finally:
        os.close(fd)
        path.unlink()


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the request ended early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main() -> None:
    """Inside the container: read the request, run it, write the status, exit without teardown."""
    work = Path(WORK_DIR)
    status = _failed(ErrorCode.workspace_crashed)
    reply: bytes | None = None
    try:
        process._quiet(keep=2)  # stdio to /dev/null, umask 077, no core dumps
        inside, check = pickle.loads(_take_request(work / _REQUEST))
        if not isinstance(inside, WorkspaceRequest):
            raise TypeError("a workspace takes one WorkspaceRequest")
        process._limit(inside.limits)
        if check is not None:
            reply = json.dumps(check(inside)).encode()
        else:
            status = execute(inside, close=False)
    except BaseException:
        status = _failed(ErrorCode.workspace_crashed)
    finally:
        try:
            name, data = (_REPLY, reply) if reply is not None else (_STATUS, status.encode())
            fd = os.open(work / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)


if __name__ == "__main__":
    main()


__all__ = ["DATA_DIR", "WORK_DIR", "DockerConfig", "config_of", "probe", "run"]
