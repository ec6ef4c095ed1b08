"""Benchmark: jobs per second through the shared queue with 1, 2 and 4 `sandbox worker` processes on
small aggregate jobs (ratios against 1 worker, measured in the same run), and the API's rate for job
status reads under 50 concurrent clients with p50/p99 latency.

Needs PostgreSQL (the queue lives there): a fresh database is made on the server of `--postgres-url`
(default: SANDBOX_TEST_POSTGRES_URL) and dropped afterwards. The API runs as its own `sandbox serve
--no-dispatch` process, so the clients here do not share its interpreter.

    .venv/bin/python bench/throughput.py --jobs 20 --seconds 5          # small
    .venv/bin/python bench/throughput.py --jobs 200 --seconds 20
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
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, select, text
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


def measure_workers(
    rt: Runtime, env: dict[str, str], operator: Any, scenario_id: str, n: int, count: int
) -> float:
    """Jobs per second with `n` worker processes (started and registered before the clock starts)."""
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
        while workers_registered(rt.settings.catalog_url()) < n:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not register")
            time.sleep(0.2)
        started = time.perf_counter()
        ids = [
            jobs.submit(rt, operator, JobIn(scenario_id=scenario_id, sql=SQL)).job.id for _ in range(count)
        ]
        while True:
            with rt.catalog.session() as s:
                left = s.execute(select(Job.id).where(Job.id.in_(ids), Job.state.in_(RUNNING))).first()
            if left is None:
                break
            time.sleep(0.05)
        return count / (time.perf_counter() - started)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


async def status_reads(
    base: str, token: str, job_ids: list[str], clients: int, seconds: float
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
            k = i
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = await c.get(f"/v1/jobs/{job_ids[k % len(job_ids)]}")
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.status_code
                k += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return len(latencies), latencies


def measure_api(env: dict[str, str], token: str, job_ids: list[str], clients: int, seconds: float) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "serve", "--no-dispatch", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
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
        count, lat = asyncio.run(status_reads(base, token, job_ids, clients, seconds))
        lat.sort()
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(
            f"API job status reads, {clients} clients, {seconds:.0f} s: {count / seconds:.1f} req/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("SANDBOX_TEST_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=60, help="jobs per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the status-read run")
    args = parser.parse_args()
    if not args.postgres_url:
        parser.error("needs --postgres-url or SANDBOX_TEST_POSTGRES_URL")
    name = f"sandbox_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    env = {
        **os.environ,
        "SANDBOX_HOME": str(home),
        "SANDBOX_DATABASE_URL": url,
        "SANDBOX_QUEUE": "procrastinate",
        "SANDBOX_WORKER_THREADS": "1",
        "SANDBOX_WORKSPACE_THREADS": "1",
    }
    rt = Runtime(Settings(home=home, database_url=url, queue="procrastinate"))
    try:
        operator, token, scenario_id = setup(rt)
        rates = {n: measure_workers(rt, env, operator, scenario_id, n, args.jobs) for n in args.workers}
        base = rates[args.workers[0]]
        for n, rate in rates.items():
            print(f"{n} worker(s): {rate:.2f} jobs/s ({rate / base:.2f}x of {args.workers[0]})")
        with rt.catalog.session() as s:
            job_ids = list(s.execute(select(Job.id).limit(100)).scalars())
        measure_api(env, token, job_ids, args.clients, args.seconds)
    finally:
        rt.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
