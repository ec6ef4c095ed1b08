"""The docker backend's own parts: its image, an engine that does not answer, an image removed under it.

What a container can and cannot reach is in test_isolation.py, beside the namespace backend.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors

from sandbox.errors import ErrorCode
from sandbox.metrics import workspace_check
from sandbox.settings import Settings
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, container, image, run

MakeRequest = Callable[..., WorkspaceRequest]
JOIN_SECRET = b"scenario-key-7"  # as conftest's people_view
GROUPED = "SELECT district, COUNT(*) AS n FROM people GROUP BY district"
NOWHERE = "unix:///nonexistent/docker.sock"


def test_the_image_is_a_few_empty_directories_and_one_user_and_its_tag_is_stable() -> None:
    with tarfile.open(fileobj=io.BytesIO(image.rootfs())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        files = {name: tar.extractfile(m).read() for name, m in members.items() if m.isfile()}  # type: ignore[union-attr]
    assert set(files) == {"etc/passwd", "etc/group"}
    assert files["etc/passwd"].decode().startswith(f"workspace:x:{image.UID}:{image.UID}:")
    assert all(m.isdir() or m.issym() for name, m in members.items() if name not in files)
    assert {"data", "work", "tmp"} <= set(members)
    assert image.rootfs() == image.rootfs() and image.tag() == image.tag()
    assert image.tag().startswith(f"{image.REPOSITORY}:") and image.tag("other").startswith("other:")


def test_the_request_and_its_keys_pass_through_a_pipe_never_a_file(tmp_path: Path) -> None:
    path = tmp_path / "request"
    data = JOIN_SECRET + os.urandom(200_000)  # past a pipe's default 64 KiB: it is made larger
    end = container._hand_over(path, data, os.getuid(), os.getgid())
    try:
        assert stat.S_ISFIFO(os.lstat(path).st_mode) and stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        assert container._take_request(path) == data  # what the container does on its side
    finally:
        os.close(end)
    assert not path.exists()


def test_an_engine_that_does_not_answer_fails_the_job_as_crashed_and_readiness_says_why(
    make_request: MakeRequest, work_dir: Path
) -> None:
    settings = Settings(docker_url=NOWHERE)
    result = run(make_request(GROUPED), "docker", settings=settings)
    assert (result.ok, result.error) == (False, ErrorCode.workspace_crashed)
    assert list(work_dir.iterdir()) == []
    assert workspace_check("docker", settings) == "docker engine unreachable"


def test_an_image_removed_from_the_engine_is_made_again_for_jobs_starting_together(
    people_view: ViewSpec, tmp_path: Path, docker_url: str
) -> None:
    settings = Settings(docker_url=docker_url)
    engine = docker.DockerClient(base_url=docker_url, version="auto")
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            engine.images.remove(image.tag(), force=True)
        requests = []
        for i in range(2):
            work = tmp_path / f"job-{i}"
            work.mkdir()
            requests.append(WorkspaceRequest(f"job-{i}", (people_view,), GROUPED, work, Limits()))
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda r: run(r, "docker", settings=settings), requests))
        assert [(r.ok, r.rows) for r in results] == [(True, 3), (True, 3)]
        assert [r.result_path for r in results] == [r.work_dir / "result.arrow" for r in requests]
        assert engine.images.get(image.tag()).id
    finally:
        engine.close()
    assert workspace_check("docker", settings) == "ok"
