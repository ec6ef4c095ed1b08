"""Running a job: claim it, run its plan in a workspace, apply the privacy layer, queue it for review.

The workspace reports; this module decides. Every state change goes through `jobs.advance`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy import select

from policies.bundles import LevelPolicy
from policies.gate.plan import OutputKind, Plan
from policies.levels import Classification
from policies.privacy import differencing, scan, sdc
from policies.privacy.differencing import UNIT_SET_PREFIX
from sandbox import dp_run, unitsets
from sandbox.catalog.models import Job, Scenario
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobs import (
    TRANSITIONS,
    GrantedTable,
    JobState,
    advance,
    granted_tables,
    plan_from_dict,
    view_specs,
)
from sandbox.runtime import Runtime
from sandbox.scenarios import aware
from sandbox.workspace import WorkspaceRequest
from sandbox.workspace import run as run_workspace
from sandbox.workspace.runner import limits_of

log = logging.getLogger(__name__)
WORKER_LOST = "worker_lost"  # reason_code of a job whose worker died mid-run


def claim(rt: Runtime, limit: int) -> list[str]:
    """Move up to `limit` queued jobs to running; row locks keep two workers off the same job."""
    with rt.catalog.session() as s:
        q = (
            select(Job)
            .where(Job.state == JobState.queued)
            .order_by(Job.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        jobs = list(s.execute(q).scalars())
        for job in jobs:
            advance(s, job, JobState.running, actor=None)
        return [j.id for j in jobs]


def claim_job(rt: Runtime, job_id: str) -> bool:
    """Move one queued job to running (the queue's worker got it by id); False if it was not queued."""
    try:
        with rt.catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.state != JobState.queued:
                return False
            advance(s, job, JobState.running, actor=None)  # a conditional update: one claimer wins
    except SandboxError as e:
        if e.code is ErrorCode.job_state:
            return False
        raise
    rt.job_changed()
    return True


def run_claimed(rt: Runtime, job_id: str) -> None:
    """run_job, and a job it could not finish is failed (`internal`) with its outputs discarded."""
    try:
        run_job(rt, job_id)
    except Exception as e:
        # Only the exception type is logged: engine messages may quote data values.
        log.error("job %s failed internally: %s", job_id, type(e).__name__)
        try:
            with rt.catalog.session() as s:
                job = s.get(Job, job_id)
                if job is not None and job.state in (JobState.running, JobState.checking):
                    advance(s, job, JobState.failed, actor=None, reason_code="internal")
        except Exception as e2:
            log.error("could not mark job %s failed: %s", job_id, type(e2).__name__)
        discard_outputs(rt, job_id)


def fail_abandoned(rt: Runtime, job_id: str) -> bool:
    """A retried queue task finds its job running or checking: the worker that claimed it died (its
    heartbeat lapsed). The job is failed, not resumed: never run twice, never released unreviewed."""
    try:
        with rt.catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.state not in (JobState.running, JobState.checking):
                return False
            advance(s, job, JobState.failed, actor=None, reason_code=WORKER_LOST)
    except SandboxError as e:
        if e.code is ErrorCode.job_state:
            return False
        raise
    discard_outputs(rt, job_id)
    rt.job_changed()
    return True


def candidate_path(rt: Runtime, job_id: str) -> Path:
    return rt.settings.jobs_dir / job_id / "candidate.parquet"


def run_job(rt: Runtime, job_id: str) -> None:
    """Plan -> workspace -> privacy -> review queue. The workspace reports; this function decides."""
    if _mode(rt, job_id) == "dp":
        dp_run.run_dp_job(rt, job_id)  # debit before the workspace, then OpenDP noise
        return
    started = time.perf_counter()
    work_dir = rt.settings.jobs_dir / job_id
    work_dir.mkdir(parents=True, exist_ok=True)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.state != JobState.running:
            return
        sc = s.get(Scenario, job.scenario_id)
        assert sc is not None and job.plan is not None
        plan = plan_from_dict(job.plan)
        tables = granted_tables(s, sc, job.plan.get("dataset_versions"))
        used = [tables[name.lower()] for name in plan.tables]
        views = view_specs(rt, s, sc, used)
        level = rt.bundle.strictest([Classification(t.dataset.classification) for t in used])
        public_keys = public_keys_by_output(plan, used)
        versions = {t.dataset.id: t.version.version for t in used}
        scenario_id = sc.id
        unit_columns = [(t.dataset.id, f"{UNIT_SET_PREFIX}{t.grant.name}") for t in used]
    limits = limits_of(rt.settings)
    result = run_workspace(
        WorkspaceRequest(job_id=job_id, views=views, sql=plan.sql, work_dir=work_dir, limits=limits),
        backend=rt.settings.workspace_backend,
        settings=rt.settings,
        should_stop=stop_check(rt, job_id),
    )
    timings = {"workspace_query_s": round(result.query_s, 4), "workspace_total_s": round(result.total_s, 4)}
    if not result.ok:
        _finish(
            rt,
            job_id,
            JobState.failed,
            reason_code=(result.error or ErrorCode.query_failed).value,
            check_report={"timings": timings},
        )
        return
    if not _step(rt, job_id, JobState.checking):
        return
    assert result.result_path is not None
    with ipc.open_file(result.result_path) as f:
        raw: pa.Table = f.read_all()
    earlier = unitsets.earlier(rt, scenario_id, job_id)
    sets, guarded = differencing.guard_result(raw, unit_columns, earlier, level.k)
    released, check_report, hits = privacy_check(rt, raw, plan, level, public_keys, guarded)
    del raw
    result.result_path.unlink(missing_ok=True)
    timings["run_job_s"] = round(time.perf_counter() - started, 4)
    check_report = {**check_report, "dataset_versions": versions, "timings": timings}
    if hits:  # a value that looks like a phone or an ID never reaches a reviewer
        code = ErrorCode.output_pii.value
        _finish(rt, job_id, JobState.failed, reason_code=code, check_report=check_report)
        return
    kept = ~np.asarray(released.column(sdc.SUPPRESSED).to_numpy(zero_copy_only=False), dtype=bool)
    unitsets.keep(
        rt,
        scenario_id,
        job_id,
        {d: [b for b, k in zip(rows, kept, strict=True) if k] for d, rows in sets.items()},
    )
    pq.write_table(released, candidate_path(rt, job_id))
    _finish(rt, job_id, JobState.pending_review, reason_code=None, check_report=check_report)


def _mode(rt: Runtime, job_id: str) -> str | None:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        return job.mode if job is not None else None


def privacy_check(
    rt: Runtime,
    raw: pa.Table,
    plan: Plan,
    level: LevelPolicy,
    public_keys: dict[str, list[str]],
    guarded: np.ndarray | None = None,
) -> tuple[pa.Table, dict[str, Any], tuple[scan.PiiHit, ...]]:
    """SDC (with the differencing guard's rows, if any), then the PII scan of what would be released;
    the report names cells, rules and entities, never values."""
    released, report = sdc.apply(
        raw, plan.outputs, plan.group_units_column, level.k, public_keys, level.sdc, guarded
    )
    groups = [o.name for o in plan.outputs if o.kind is OutputKind.group]
    hits = scan.scan(released, rt.analyzer(), numeric_columns=groups, memo=rt.scan_memo())
    check_report: dict[str, Any] = {"mode": "sdc", "k": level.k, "sdc": report.to_dict()}
    check_report["output_pii"] = [h.to_dict() for h in hits]
    return released, check_report, hits


def stop_check(rt: Runtime, job_id: str, every_s: float = 0.5) -> Callable[[], bool]:
    """True once the job is no longer running (cancelled, or its scenario or operator revoked); reads
    the catalog at most every `every_s`, so a revocation stops a running workspace within about that."""
    last = {"at": time.monotonic(), "stop": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if not last["stop"] and now - last["at"] >= every_s:
            last["at"] = now
            with rt.catalog.session() as s:
                job = s.get(Job, job_id)
                last["stop"] = job is None or job.state != JobState.running
        return bool(last["stop"])

    return should_stop


def public_keys_by_output(plan: Plan, used: list[GrantedTable]) -> dict[str, list[str]]:
    """Declared public keys, by the *output* name of each group key drawn from that column.

    The privacy layer shows a group key of a suppressed row only if the value is a declared public
    key; an output renamed with AS (`district AS d`) keeps its column's list, a key is looked up in its
    own table (two joined tables may both have a `district`), and a key from a column without a list
    gets none.
    """
    declared = {
        (t.grant.name.lower(), c.name): list(c.public_keys)
        for t in used
        for c in t.grant.columns.values()
        if c.public_keys
    }
    keys: dict[str, list[str]] = {}
    for o in plan.outputs:
        table = o.source_table or (plan.tables[0] if len(plan.tables) == 1 else None)
        if o.kind is OutputKind.group and table is not None and o.source_column is not None:
            found = declared.get((table.lower(), o.source_column))
            if found is not None:
                keys[o.name] = found
    return keys


def _step(rt: Runtime, job_id: str, to: str) -> bool:
    try:
        with rt.catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None or to not in TRANSITIONS.get(job.state, frozenset()):
                discard_outputs(rt, job_id)
                return False
            advance(s, job, to, actor=None)
    except SandboxError as e:  # moved by someone else meanwhile (cancelled, failed as abandoned)
        if e.code is not ErrorCode.job_state:
            raise
        discard_outputs(rt, job_id)
        return False
    rt.job_changed()
    return True


def _finish(
    rt: Runtime, job_id: str, to: str, *, reason_code: str | None, check_report: dict[str, Any]
) -> None:
    try:
        _finish_in_catalog(rt, job_id, to, reason_code=reason_code, check_report=check_report)
    except SandboxError as e:  # moved by someone else meanwhile: nothing of this run is kept
        if e.code is not ErrorCode.job_state:
            raise
        discard_outputs(rt, job_id)


def _finish_in_catalog(
    rt: Runtime, job_id: str, to: str, *, reason_code: str | None, check_report: dict[str, Any]
) -> None:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or to not in TRANSITIONS.get(job.state, frozenset()):
            discard_outputs(rt, job_id)  # cancelled meanwhile: nothing of it is kept
            return
        job.check_report = check_report
        advance(
            s,
            job,
            to,
            actor=None,
            reason_code=reason_code,
            detail={"sdc": check_report.get("sdc", {}).get("suppressed_cells")},
        )
        latency = (datetime.now(UTC) - aware(job.created_at)).total_seconds()
    rt.metrics.job_latency.labels(state=to).observe(latency)
    rt.job_changed()


def discard_outputs(rt: Runtime, job_id: str) -> None:
    shutil.rmtree(rt.settings.jobs_dir / job_id, ignore_errors=True)


def fail_interrupted(rt: Runtime) -> list[str]:
    """On start, jobs a dead process left running or checking are failed, not silently resumed."""
    with rt.catalog.session() as s:
        jobs = list(
            s.execute(select(Job).where(Job.state.in_([JobState.running, JobState.checking]))).scalars()
        )
        for job in jobs:
            advance(s, job, JobState.failed, actor=None, reason_code=ErrorCode.workspace_crashed.value)
        return [j.id for j in jobs]
