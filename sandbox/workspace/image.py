"""The docker backend's workspace image: an empty root filesystem, made here, never pulled.

No registry can be reached from a data authority's workers (nor from here), so the image is a
`docker import` of a tarball of a few empty directories and one unprivileged user. Everything that
runs comes from the host at run time, bound read-only at fixed places (`mounts()`): the Python
install at its own path (its RUNPATH is absolute), the environment's site-packages at
`/opt/site/N`, this project's packages at `/opt/code/<name>` (an editable install points outside
site-packages) and the system libraries they link against. Nothing else of the host is visible.

The tag is a hash of the tarball, so a changed layout gets a new image; it is made on first use,
once per engine, under a lock.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import os
import site
import sys
import tarfile
import threading
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

UID = 10001  # the workspace user: no other process on the host should have it
REPOSITORY = "sandbox-workspace"
CODE_DIR = "/opt/code"
SITE_DIR = "/opt/site"
PACKAGES = ("sandbox", "policies", "connectors")
_EMPTY_DIRS = ("data", "work", "tmp", "etc", "opt", "proc", "sys", "dev", "usr")
_LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")
_RESERVED = ("/data", "/work", "/tmp", "/etc", "/opt", "/proc", "/sys", "/dev")

_lock = threading.Lock()
_made: set[tuple[str, str]] = set()  # (engine URL, tag) known to exist


@functools.cache
def rootfs() -> bytes:
    """The image's tarball: byte for byte the same on every call and machine of the same layout."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in _EMPTY_DIRS:
            tar.addfile(_entry(name, tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755))
        for path in _LIBRARY_DIRS:  # merged-/usr systems link /lib to usr/lib: so must the image
            if os.path.islink(path):
                link = _entry(path.lstrip("/"), tarfile.SYMTYPE, 0o777)
                link.linkname = os.readlink(path)
                tar.addfile(link)
        for name, text in (
            ("etc/passwd", f"workspace:x:{UID}:{UID}:workspace:/nonexistent:/nonexistent\n"),
            ("etc/group", f"workspace:x:{UID}:\n"),
        ):
            data = text.encode()
            file = _entry(name, tarfile.REGTYPE, 0o644)
            file.size = len(data)
            tar.addfile(file, io.BytesIO(data))
    return buf.getvalue()


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
    return info


def tag(repository: str = REPOSITORY) -> str:
    return f"{repository}:{hashlib.sha256(rootfs()).hexdigest()[:16]}"


def ensure(client: docker.DockerClient, repository: str = REPOSITORY) -> str:
    """The image's tag, importing it into this engine first if it is missing (thread-safe)."""
    name = tag(repository)
    key = (client.api.base_url, name)
    with _lock:
        if key in _made:
            return name
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            repo, _, version = name.rpartition(":")
            client.api.import_image_from_data(rootfs(), repository=repo, tag=version)
            client.images.get(name)  # raises if the import did not take
        _made.add(key)
    return name


def forget(client: docker.DockerClient, repository: str = REPOSITORY) -> None:
    """Someone removed the image from this engine: the next `ensure` makes it again."""
    with _lock:
        _made.discard((client.api.base_url, tag(repository)))


@functools.cache
def interpreter() -> str:
    """The real interpreter (a venv's `python` is a link to it); run with -S and PYTHONPATH."""
    return os.path.realpath(sys.executable)


@functools.cache
def python_path() -> str:
    """PYTHONPATH inside the container: the project's packages, then every site-packages."""
    return ":".join([CODE_DIR, *(f"{SITE_DIR}/{i}" for i, _ in enumerate(_site_packages()))])


def _site_packages() -> list[str]:
    return [p for p in dict.fromkeys(os.path.realpath(p) for p in site.getsitepackages()) if os.path.isdir(p)]


@functools.cache
def _static_mounts() -> tuple[tuple[str, str], ...]:
    """(target, source) pairs of what every workspace sees, all read-only."""
    prefix = os.path.realpath(sys.base_prefix)
    if any(prefix == r or prefix.startswith(r + "/") for r in _RESERVED):
        raise RuntimeError("the Python install lies where the workspace's own directories go")
    pairs = [(prefix, prefix)]
    pairs += [(p, p) for p in _LIBRARY_DIRS if os.path.isdir(p) and not os.path.islink(p)]
    pairs += [(f"{SITE_DIR}/{i}", p) for i, p in enumerate(_site_packages())]
    for name in PACKAGES:
        module = importlib.import_module(name)
        pairs.append((f"{CODE_DIR}/{name}", str(Path(str(module.__file__)).resolve().parent)))
    return tuple(pairs)


def mounts() -> list[Mount]:
    """Read-only binds of the interpreter, its libraries and the code; the job adds /data and /work."""
    return [Mount(target, source, type="bind", read_only=True) for target, source in _static_mounts()]


__all__ = [
    "CODE_DIR",
    "REPOSITORY",
    "UID",
    "ensure",
    "forget",
    "interpreter",
    "mounts",
    "python_path",
    "rootfs",
    "tag",
]
