"""The shared queue: guarded state changes, and many worker processes with one killed mid-run.

The multi-worker test runs real `sandbox worker` processes against PostgreSQL (SANDBOX_TEST_POSTGRES_URL);
one is SIGKILLed while every worker holds a job. Afterwards every job is in exactly one final state,
nothing was released without a review, and the audit chain verifies.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from sandbox import audit, datasets, jobs, review, scenarios
from sandbox.api.schemas import ColumnChange, ColumnsIn, DatasetIn, DecisionIn, JobIn, ReviewIn, ScenarioIn
from sandbox.auth import Role, add_user, new_id
from sandbox.catalog.models import AuditEvent, Dataset, Job, Review, Scenario
from sandbox.demo_data import residents
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobqueue import conninfo
from sandbox.run import WORKER_LOST
from sandbox.runtime import Runtime
from sandbox.settings import Settings

FINAL = {"released", "rejected", "failed", "cancelled", "gate_rejected"}
JOBS, WORKERS = 200, 4


@pytest.fixture
def postgres_catalog_url(postgres_admin_url: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database (the shared queue exists only there), dropped afterwards."""
    if postgres_admin_url is None:
        pytest.skip("PostgreSQL only: SANDBOX_TEST_POSTGRES_URL is not set")
    name = f"sandbox_q_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _queued_job(rt: Runtime) -> str:
    now = datetime.now(UTC)
    with rt.catalog.session() as s:
        source, _ = add_user(s, "source", [Role.source_unit], "u")
        operator, _ = add_user(s, "operator", [Role.operator], "acme")
        ds = Dataset(
            id=new_id("ds"),
            name="t",
            classification="general",
            privacy_unit="pid",
            owner_id=source.id,
            owner_unit="u",
            current_version=1,
            created_at=now,
        )
        s.add(ds)
        s.flush()
        sc = Scenario(
            id=new_id("sc"),
            name="s",
            purpose="p",
            operator_id=operator.id,
            grants={ds.id: ["x"]},
            modes=["sdc"],
            expires_at=now + timedelta(days=1),
            public_interest=False,
            state="approved",
            join_key_secret=secrets.token_hex(32),
            created_at=now,
        )
        s.add(sc)
        s.flush()
        job = Job(
            id=new_id("job"),
            scenario_id=sc.id,
            submitter_id=operator.id,
            sql="SELECT 1",
            mode="sdc",
            state="queued",
            created_at=now,
            updated_at=now,
        )
        s.add(job)
        return job.id


def test_a_job_moved_meanwhile_cannot_be_moved_again_from_a_stale_read(
    tmp_path: Path, catalog_url: str
) -> None:
    rt = Runtime(Settings(home=tmp_path / "home", database_url=catalog_url))
    try:
        job_id = _queued_job(rt)
        with pytest.raises(SandboxError) as caught, rt.catalog.session() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.state == "queued"
            # another worker claims it after this session read it
            s.execute(text("UPDATE jobs SET state = 'running' WHERE id = :id"), {"id": job_id})
            jobs.advance(s, job, "running", actor=None)
        assert caught.value.code is ErrorCode.job_state
        with rt.catalog.session() as s:
            events = s.execute(select(func.count()).where(AuditEvent.object_id == job_id)).scalar_one()
            assert events == 0  # the losing move wrote nothing
    finally:
        rt.close()


def _setup(rt: Runtime) -> tuple[object, object, str]:
    with rt.catalog.session() as s:
        source, _ = add_user(s, "source", [Role.source_unit], "统计局")
        admin, _ = add_user(s, "admin", [Role.admin], "数据局")
        operator, _ = add_user(s, "operator", [Role.operator], "Acme")
        reviewer, _ = add_user(s, "reviewer", [Role.reviewer], "审核组")
    table = residents(300, seed=5, small_count=2)
    csv = rt.settings.tmp_dir / "residents.csv"
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    csv.write_bytes(buf.getvalue())
    ds = datasets.register(rt, source, DatasetIn(name="residents", privacy_unit="resident_id"), csv)
    levels = {"district": "group", "income": "aggregate", "resident_id": "join_key"}
    datasets.set_columns(
        rt, source, ds.id, ColumnsIn(columns={k: ColumnChange(level=v) for k, v in levels.items()})
    )
    sc = scenarios.apply(
        rt,
        operator,
        ScenarioIn(name="s", purpose="p", datasets={ds.id: ["resident_id", "district", "income"]}),
    )
    scenarios.approve(rt, admin, sc.id, DecisionIn(reason="ok"))
    return operator, reviewer, sc.id


def _doing_by_worker(url: str) -> dict[int, list[str]]:
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT worker_id, args->>'job_id' FROM procrastinate_jobs WHERE status = 'doing'"
        ).fetchall()
    found: dict[int, list[str]] = {}
    for worker_id, job_id in rows:
        if worker_id is not None:
            found.setdefault(worker_id, []).append(job_id)
    return found


def _heartbeats(url: str) -> dict[int, datetime]:
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        return dict(conn.execute("SELECT id, last_heartbeat FROM procrastinate_workers").fetchall())


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_many_workers_one_killed_mid_run(tmp_path: Path, postgres_catalog_url: str) -> None:
    url = postgres_catalog_url
    env_settings = {
        "SANDBOX_HOME": str(tmp_path / "home"),
        "SANDBOX_DATABASE_URL": url,
        "SANDBOX_QUEUE": "procrastinate",
        "SANDBOX_QUEUE_HEARTBEAT_S": "1",
        "SANDBOX_QUEUE_STALLED_S": "5",
        "SANDBOX_QUEUE_RECOVER_S": "1",
        "SANDBOX_WORKER_THREADS": "1",
        "SANDBOX_WORKSPACE_THREADS": "1",
    }
    settings = Settings(
        home=tmp_path / "home",
        database_url=url,
        queue="procrastinate",
        queue_heartbeat_s=1,
        queue_stalled_s=5,
        queue_recover_s=1,
    )
    rt = Runtime(settings)
    workers: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "workers.log").open("wb")
    try:
        operator, reviewer, scenario_id = _setup(rt)
        env = {**os.environ, **env_settings}
        for _ in range(WORKERS):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sandbox.cli", "worker"], env=env, stdout=log, stderr=log
                )
            )
        deadline = time.monotonic() + 60
        while len(_heartbeats(url)) < WORKERS:
            assert time.monotonic() < deadline, "the workers did not register"
            assert all(w.poll() is None for w in workers), (tmp_path / "workers.log").read_text()
            time.sleep(0.2)
        sql = "SELECT district, COUNT(*) AS n, SUM(income) AS total FROM residents GROUP BY district"
        ids = [
            jobs.submit(rt, operator, JobIn(scenario_id=scenario_id, sql=sql)).job.id  # type: ignore[arg-type]
            for _ in range(JOBS)
        ]

        # Kill one worker while every worker holds a job.
        deadline = time.monotonic() + 60
        while len(_doing_by_worker(url)) < WORKERS:
            assert time.monotonic() < deadline, "the workers never all held a job at once"
            time.sleep(0.05)
        before = _heartbeats(url)
        victim = workers.pop(1)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = datetime.now(UTC)
        time.sleep(2.5)  # the others beat meanwhile; the dead one's heartbeat stays behind
        silent = [w for w, beat in _heartbeats(url).items() if beat < killed_at and w in before]
        assert len(silent) == 1
        held = _doing_by_worker(url).get(silent[0], [])  # still "doing": not yet seen as stalled
        assert held, "the killed worker held no job"

        deadline = time.monotonic() + 150
        while True:
            with rt.catalog.session() as s:
                states = dict(s.execute(select(Job.id, Job.state).where(Job.id.in_(ids))).all())
            if not any(v in ("queued", "running", "checking") for v in states.values()):
                break
            assert time.monotonic() < deadline, Counter(states.values())
            time.sleep(0.5)

        counts = Counter(states.values())
        assert set(counts) <= {"pending_review", "failed"}, counts
        # The reviewer approves some; only those are released.
        approved = [j for j in ids if states[j] == "pending_review"][:10]
        for job_id in approved:
            review.decide(rt, reviewer, job_id, ReviewIn(decision="approve", reason="ok"))  # type: ignore[arg-type]

        with rt.catalog.session() as s:
            rows = s.execute(select(Job.id, Job.state, Job.reason_code).where(Job.id.in_(ids))).all()
            final = {job_id: state for job_id, state, _ in rows}
            final_codes = {job_id: code for job_id, _, code in rows}
            events = s.execute(
                select(AuditEvent.object_id, AuditEvent.event_type).where(AuditEvent.object_id.in_(ids))
            ).all()
            reviews = {r.job_id for r in s.execute(select(Review)).scalars()}
            verification = audit.verify(s)
        assert verification.ok
        per_job: dict[str, Counter[str]] = {}
        for object_id, event_type in events:
            per_job.setdefault(object_id, Counter())[event_type] += 1
        for job_id in ids:
            seen = per_job[job_id]
            assert seen["job.queued"] == 1 and seen["job.running"] == 1, (job_id, seen)  # claimed once
            assert seen["job.pending_review"] <= 1 and seen["job.released"] <= 1
            finals = sum(n for e, n in seen.items() if e.removeprefix("job.") in FINAL)
            assert finals == (1 if final[job_id] in FINAL else 0), (job_id, seen)
            if final[job_id] == "released":
                assert job_id in reviews and seen["review.decided"] == 1
            if final[job_id] == "failed":  # only through a lapsed heartbeat (the killed worker's, or
                assert final_codes[job_id] == WORKER_LOST  # a live one starved past queue_stalled_s)
        assert sorted(j for j in ids if final[j] == "released") == sorted(approved)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        log.close()
        rt.close()
