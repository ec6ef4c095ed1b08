"""Benchmark: the per-job cost of each workspace backend on the same small job, in one run.

A tiny grouped aggregate over a small Parquet file, so what is measured is the backend (process
start, namespaces or a container, DuckDB start) rather than the query. Prints the median wall time
of `runner.run` per backend and its ratio to `namespace` (the default), measured in the same run.
The docker backend needs an engine: the one at `--docker-url`, or one started for the run as the
tests do (root, Debian's docker.io installed: `make docker`).

    .venv/bin/python bench/backends.py                # 20 jobs per backend
    .venv/bin/python bench/backends.py --repeat 50 --backends namespace,docker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from policies.levels import ColumnLevel
from sandbox.settings import Settings
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, run
from sandbox.workspace.units import with_reserved

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
import docker_engine  # the tests' engine starter, shared rather than copied

SQL = "SELECT district, COUNT(*) AS n, SUM(income) AS total FROM people GROUP BY district"


def request(root: Path, job: int) -> WorkspaceRequest:
    path = root / "people.parquet"
    if not path.exists():
        n = 1000
        table = pa.table(
            {
                "person_id": [f"p{i}" for i in range(n)],
                "district": [f"d{i % 5}" for i in range(n)],
                "income": [float(i) for i in range(n)],
            }
        )
        pq.write_table(with_reserved(table, "person_id"), path)
    view = ViewSpec(
        name="people",
        parquet_path=path,
        columns=(("district", ColumnLevel.group), ("income", ColumnLevel.aggregate)),
    )
    work = root / f"job-{job}"
    work.mkdir()
    return WorkspaceRequest(f"bench-{job}", (view,), SQL, work, Limits(memory_mb=256, timeout_s=30))


def measure(backend: str, root: Path, repeat: int, settings: Settings) -> list[float]:
    times = []
    for job in range(repeat + 1):  # the first one warms up (forkserver, image import)
        started = time.perf_counter()
        result = run(request(root / backend, job), backend, settings=settings)
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"{backend}: job failed with {result.error}")
        if job:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backends", default="inprocess,process,namespace,docker")
    parser.add_argument("--docker-url", default=Settings().docker_url)
    args = parser.parse_args()
    backends = args.backends.split(",")
    engine = docker_engine.engine(args.docker_url) if "docker" in backends else nullcontext(args.docker_url)
    with tempfile.TemporaryDirectory() as tmp, engine as url:
        settings = Settings(home=Path(tmp) / "home", docker_url=url)
        medians: dict[str, float] = {}
        for backend in backends:
            (Path(tmp) / backend).mkdir()
            times = measure(backend, Path(tmp), args.repeat, settings)
            medians[backend] = statistics.median(times)
            print(f"{backend:>10}: median {medians[backend] * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms")
        base = medians.get("namespace")
        if base:
            for backend, median in medians.items():
                extra = (median - base) * 1000
                print(f"{backend:>10} / namespace = {median / base:5.2f}x  ({extra:+.0f} ms a job)")


if __name__ == "__main__":
    main()
