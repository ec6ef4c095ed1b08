"""Benchmark: jobs per second with 1, 2 and 4 workers on small aggregate jobs, and the API's rate for
job status reads at 1, 10 and 50 concurrent clients with p50/p99 latency, on both catalogs.

- PostgreSQL: jobs go through the shared queue to `sandbox worker` processes (one job at a time each).
- SQLite (the embedded default): the in-process dispatcher with 1, 2 and 4 job threads.
Job rates are ratios against 1 worker measured in the same run. The API runs as its own `sandbox serve
--no-dispatch` process, so the clients here do not share its interpreter. A fresh PostgreSQL database
is made on the server of `--postgres-url` (default: SANDBOX_TEST_POSTGRES_URL) and dropped afterwards.

    .venv/bin/python bench/throughput.py --jobs 20 --seconds 5          # small
    .venv/bin/python bench/throughput.py --jobs 60 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from sandbox import datasets, jobs, scenarios
from sandbox.api.schemas import ColumnChange, ColumnsIn, DatasetIn, DecisionIn, JobIn, ScenarioIn
from sandbox.auth import Role, add_user
from sandbox.catalog.models import Job
from sandbox.demo_data import residents
from sandbox.jobqueue import conninfo
from sandbox.runtime import Runtime
from sandbox.server import free_port
from sandbox.settings import Settings

SQL = "SELECT district, COUNT(*) AS n, SUM(income) AS total FROM residents GROUP BY district"
RUNNING = ("queued", "running", "checking")
LONG_POLLS = 40  # clients long-polling a running job (`wait`, as sandbox.client does) beside the readers


def setup(rt: Runtime) -> tuple[Any, str, str]:
    """Users, one registered dataset with levels set, one approved scenario; the operator's token."""
    with rt.catalog.session() as s:
        source, _ = add_user(s, "source", [Role.source_unit], "u")
        admin, _ = add_user(s, "admin", [Role.admin], "a")
        operator, token = add_user(s, "operator", [Role.operator], "o")
    buf = io.BytesIO()
    pacsv.write_csv(residents(2000, seed=3, small_count=2), buf)
    csv = rt.settings.tmp_dir / "residents.csv"
    csv.write_bytes(buf.getvalue())
    ds = datasets.register(rt, source, DatasetIn(name="residents", privacy_unit="resident_id"), csv)
    levels = {"district": "group", "income": "aggregate", "resident_id": "join_key"}
    datasets.set_columns(
        rt, source, ds.id, ColumnsIn(columns={k: ColumnChange(level=v) for k, v in levels.items()})
    )
    grant = {ds.id: ["resident_id", "district", "income"]}
    sc = scenarios.apply(rt, operator, ScenarioIn(name="s", purpose="p", datasets=grant))
    scenarios.approve(rt, admin, sc.id, DecisionIn(reason="ok"))
    return operator, token, sc.id


def workers_registered(url: str) -> int:
    with psycopg.connect(conninfo(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - interval '5 seconds'"
        ).fetchone()
    return int(row[0]) if row else 0


def run_jobs(rt: Runtime, operator: Any, scenario_id: str, count: int) -> float:
    """Submit `count` jobs and wait until none is running: jobs per second."""
    started = time.perf_counter()
    ids = [jobs.submit(rt, operator, JobIn(scenario_id=scenario_id, sql=SQL)).job.id for _ in range(count)]
    while True:
        with rt.catalog.session() as s:
            left = s.execute(select(Job.id).where(Job.id.in_(ids), Job.state.in_(RUNNING))).first()
        if left is None:
            return count / (time.perf_counter() - started)
        time.sleep(0.05)


@contextmanager
def worker_processes(rt: Runtime, env: dict[str, str], n: int) -> Iterator[None]:
    """`n` `sandbox worker` processes, registered with the queue before the block starts."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sandbox.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]
    try:
        deadline = time.monotonic() + 120
        while n and workers_registered(rt.settings.catalog_url()) < n:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not register")
            time.sleep(0.2)
        yield
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def queue_workers(
    rt: Runtime, env: dict[str, str], operator: Any, scenario_id: str, n: int, count: int
) -> float:
    """Jobs per second with `n` `sandbox worker` processes."""
    with worker_processes(rt, env, n):
        return run_jobs(rt, operator, scenario_id, count)


def embedded_workers(settings: Settings, operator: Any, scenario_id: str, n: int, count: int) -> float:
    """Jobs per second through the in-process dispatcher with `n` job threads."""
    rt = Runtime(settings.model_copy(update={"worker_threads": n}), migrate=False)
    try:
        rt.start_dispatcher()
        return run_jobs(rt, operator, scenario_id, count)
    finally:
        rt.close()


class Background:
    """Jobs running while the clients read: a thread keeps a few jobs queued (the API process or the
    queue workers run them) and remembers the newest, which the long-polling clients wait on."""

    def __init__(self, rt: Runtime, operator: Any, scenario_id: str) -> None:
        self.rt, self.operator, self.scenario_id = rt, operator, scenario_id
        self.newest = ""
        self.submitted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Background:
        self._submit()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _submit(self) -> None:
        self.newest = jobs.submit(self.rt, self.operator, JobIn(scenario_id=self.scenario_id, sql=SQL)).job.id
        self.submitted += 1

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with self.rt.catalog.session() as s:
                queued = s.execute(select(func.count()).where(Job.state == "queued")).scalar_one()
            if queued < 4:
                self._submit()


async def status_reads(
    base: str, token: str, job_ids: list[str], clients: int, seconds: float, background: Background | None
) -> tuple[int, list[float]]:
    """`clients` concurrent clients, each on its own keep-alive connection (connected before the clock
    starts), reading job status; with `background`, LONG_POLLS more clients long-poll the newest job."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    pollers = LONG_POLLS if background is not None else 0
    conns = [httpx.AsyncClient(base_url=base, headers=headers, timeout=60) for _ in range(clients + pollers)]
    try:
        await asyncio.gather(*(c.get("/healthz") for c in conns))
        stop = time.monotonic() + seconds

        async def reader(c: httpx.AsyncClient, i: int) -> None:
            k = i
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = await c.get(f"/v1/jobs/{job_ids[k % len(job_ids)]}")
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"status read answered {r.status_code}")
                k += 1

        async def poller(c: httpx.AsyncClient) -> None:
            assert background is not None
            while time.monotonic() < stop:
                wait = max(0.0, min(10.0, stop - time.monotonic()))
                r = await c.get(f"/v1/jobs/{background.newest}", params={"wait": wait})
                if r.status_code != 200:
                    raise RuntimeError(f"long poll answered {r.status_code}")
                await asyncio.sleep(0.05)

        await asyncio.gather(
            *(reader(c, i) for i, c in enumerate(conns[:clients])), *(poller(c) for c in conns[clients:])
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in conns))
    return len(latencies), latencies


@contextmanager
def api_server(env: dict[str, str], dispatch: bool, pids: list[int] | None = None) -> Iterator[str]:
    """A `sandbox serve` process on a free port; its base URL once it answers (its pid into `pids`)."""
    port = free_port()
    cmd = [sys.executable, "-m", "sandbox.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*cmd, "--dispatch" if dispatch else "--no-dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    if pids is not None:
        pids.append(server.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        yield base
    finally:
        stop([server])


def measure_reads(
    base: str, token: str, job_ids: list[str], clients: list[int], seconds: float, bg: Background | None
) -> list[str]:
    asyncio.run(status_reads(base, token, job_ids, 1, 1.0, None))  # warm-up: imports, pools, caches
    lines = []
    for n in clients:
        count, lat = asyncio.run(status_reads(base, token, job_ids, n, seconds, bg))
        lat.sort()
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        lines.append(f"  {n:>3} clients: {count / seconds:7.1f} req/s, p50 {p50:7.1f} ms, p99 {p99:7.1f} ms")
    return lines


def bench_catalog(args: argparse.Namespace, kind: str, url: str | None) -> list[str]:
    """One catalog: set up, job rates per worker count, then status reads per client count."""
    home = Path(tempfile.mkdtemp(prefix=f"sandbox-bench-{kind}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env |= {"SANDBOX_HOME": str(home), "SANDBOX_WORKER_THREADS": "1", "SANDBOX_WORKSPACE_THREADS": "1"}
    if url:
        env |= {"SANDBOX_DATABASE_URL": url, "SANDBOX_QUEUE": "procrastinate"}
    settings = Settings(
        home=home, database_url=url, queue="procrastinate" if url else "embedded", workspace_threads=1
    )
    rt = Runtime(settings)
    try:
        operator, token, scenario_id = setup(rt)
        rates = {
            n: queue_workers(rt, env, operator, scenario_id, n, args.jobs)
            if url
            else embedded_workers(settings, operator, scenario_id, n, args.jobs)
            for n in args.workers
        }
        with rt.catalog.session() as s:
            job_ids = list(s.execute(select(Job.id).limit(100)).scalars())
    finally:
        rt.close()
    first = args.workers[0]
    how = "`sandbox worker` processes, shared queue" if url else "in-process dispatcher threads"
    lines = [f"{kind}: jobs ({args.jobs} per run, {how})"]
    for n, r in rates.items():
        lines.append(f"  {n} worker(s): {r:6.2f} jobs/s ({r / rates[first]:.2f}x of {first})")
    secs = f"{args.seconds:.0f} s per client count, load average {os.getloadavg()[0]:.1f}"
    lines.append(f"{kind}: API job status reads, nothing else running ({secs})")
    with api_server(env, dispatch=False) as base:
        lines += measure_reads(base, token, job_ids, args.clients, args.seconds, None)
    runner = "2 queue workers" if url else "the API process's dispatcher, 2 threads"
    lines.append(f"{kind}: API job status reads while jobs run ({runner}) and {LONG_POLLS} clients long-poll")
    env = {**env, "SANDBOX_WORKER_THREADS": "2"}
    rt = Runtime(settings, migrate=False)
    try:
        with (
            api_server(env, dispatch=not url) as base,
            worker_processes(rt, env, 2 if url else 0),
            Background(rt, operator, scenario_id) as bg,
        ):
            lines += measure_reads(base, token, job_ids, args.clients, args.seconds, bg)
        lines.append(f"  ({bg.submitted} jobs submitted meanwhile)")
    finally:
        rt.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("SANDBOX_TEST_POSTGRES_URL"))
    kinds = ["sqlite", "postgres"]
    parser.add_argument("--catalogs", nargs="+", choices=kinds, default=kinds)
    parser.add_argument("--jobs", type=int, default=60, help="jobs per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each status-read run")
    args = parser.parse_args()
    out: list[str] = []
    if "sqlite" in args.catalogs:
        out += bench_catalog(args, "SQLite", None)
        print("\n".join(out), flush=True)
    if "postgres" in args.catalogs:
        if not args.postgres_url:
            parser.error("PostgreSQL needs --postgres-url or SANDBOX_TEST_POSTGRES_URL")
        name = f"sandbox_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
        try:
            lines = bench_catalog(args, "PostgreSQL", url)
            print("\n".join(lines), flush=True)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
