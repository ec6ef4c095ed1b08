"""A Docker engine for the docker backend's tests: the one that answers, or one started for the run.

A fresh machine has none running (`make docker` installs Debian's docker.io). The engine started
here uses the vfs storage driver and no bridge or iptables rules, which any root shell can run, and
keeps its data, state and log in one temporary directory removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sandbox.workspace.container import answers

START_S = 90.0  # dockerd's first start on a loaded 2-core machine (it also starts containerd)


class EngineUnavailable(Exception):
    """Why no engine could be had; the fixture skips with it locally and fails in CI."""


@contextlib.contextmanager
def engine(url: str) -> Iterator[str]:
    """Yield `url` with an engine answering there, starting dockerd first if none does."""
    if answers(url):
        yield url
        return
    if not url.startswith("unix://"):
        raise EngineUnavailable(f"no Docker engine answers at {url} and only a local socket can be started")
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")
    if dockerd is None:
        raise EngineUnavailable("dockerd is not installed (`make docker` installs Debian's docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers and starting dockerd needs root")
    root = Path(tempfile.mkdtemp(prefix="sandbox-dockerd-"))  # short: containerd's sockets live under it
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            dockerd,
            "--storage-driver=vfs",
            "--iptables=false",
            "--bridge=none",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'dockerd.pid'}",
            f"--host={url}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_S
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace")[-2000:]
                raise EngineUnavailable(f"dockerd did not start (exit {process.poll()}): {tail}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
