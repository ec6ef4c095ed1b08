"""Jobs: the states, `advance` (the only state change, audited in the same transaction) and run_job.

queued -> running -> checking -> pending_review -> released | rejected; or failed, cancelled,
gate_rejected. Why a job is in a state is a separate stable `reason_code`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import gate
from policies.gate.plan import ColumnGrant, GateContext, OutputColumn, OutputKind, Plan, TableGrant
from policies.levels import Classification, ColumnLevel
from policies.privacy import sdc
from sandbox import audit
from sandbox.api.schemas import ArtifactOut, JobIn, JobOut, Page
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog.models import Column, Dataset, DatasetVersion, Job, Release, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.scenarios import aware, visible
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest
from sandbox.workspace import run as run_workspace

log = logging.getLogger(__name__)


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    checking = "checking"
    pending_review = "pending_review"
    released = "released"
    rejected = "rejected"
    failed = "failed"
    cancelled = "cancelled"
    gate_rejected = "gate_rejected"


TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"checking", "failed", "cancelled"}),
    "checking": frozenset({"pending_review", "failed", "cancelled"}),
    "pending_review": frozenset({"released", "rejected", "cancelled"}),
}
CANCELLABLE = ("queued", "running", "checking", "pending_review")


def advance(
    s: Session,
    job: Job,
    to: str,
    *,
    actor: User | None,
    reason_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move a job to `to` and write its audit event; repeating the current state is a no-op."""
    if job.state == to:
        return
    if to not in TRANSITIONS.get(job.state, frozenset()):
        raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action=f"moved to {to}")
    previous = job.state
    job.state = to
    job.reason_code = reason_code
    job.updated_at = datetime.now(UTC)
    s.flush()
    audit.record(
        s,
        f"job.{to}",
        actor=actor,
        object_type="job",
        object_id=job.id,
        detail={"from": previous, "reason_code": reason_code, **(detail or {})},
    )


def plan_to_dict(plan: Plan, versions: Mapping[str, int]) -> dict[str, Any]:
    """The plan as stored with the job, with the dataset versions it was checked against."""
    d = dataclasses.asdict(plan)
    d["columns_used"] = {k: list(v) for k, v in plan.columns_used.items()}
    d["dataset_versions"] = dict(versions)
    return d


def plan_from_dict(d: dict[str, Any]) -> Plan:
    return Plan(
        sql=d["sql"],
        tables=tuple(d["tables"]),
        outputs=tuple(
            OutputColumn(o["name"], OutputKind(o["kind"]), o.get("source_column"), o.get("units_column"))
            for o in d["outputs"]
        ),
        group_units_column=d["group_units_column"],
        columns_used={k: tuple(v) for k, v in d.get("columns_used", {}).items()},
    )


@dataclasses.dataclass(frozen=True)
class GrantedTable:
    dataset: Dataset
    version: DatasetVersion
    grant: TableGrant


def granted_tables(
    s: Session, sc: Scenario, versions: Mapping[str, int] | None = None
) -> dict[str, GrantedTable]:
    """The scenario's datasets as the gate sees them: granted columns at their current level.

    `versions` pins the dataset versions a job was checked against, so a version added between
    submission and run cannot change what the plan's shortcuts (one row per unit, no NULLs) assume.
    """
    out: dict[str, GrantedTable] = {}
    for dataset_id, cols in sc.grants.items():
        ds = s.get(Dataset, dataset_id)
        if ds is None:
            continue
        version = (versions or {}).get(ds.id, ds.current_version)
        ver = s.execute(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == ds.id, DatasetVersion.version == version
            )
        ).scalar_one()
        all_cols = {c.name: c for c in s.execute(select(Column).where(Column.dataset_id == ds.id)).scalars()}
        columns = {
            name: ColumnGrant(
                name,
                ColumnLevel(all_cols[name].level),
                tuple(all_cols[name].public_keys) if all_cols[name].public_keys else None,
                nullable=name in ver.null_columns,
            )
            for name in cols
            if name in all_cols
        }
        grant = TableGrant(
            name=ds.name,
            dataset_id=ds.id,
            columns=columns,
            all_columns=frozenset(all_cols),
            privacy_unit=ds.privacy_unit,
            max_rows_per_unit=ver.max_rows_per_unit,
        )
        out[ds.name.lower()] = GrantedTable(ds, ver, grant)
    return out


def job_out(s: Session, job: Job) -> JobOut:
    artifacts = None
    if job.state == JobState.released:
        rel = s.get(Release, job.id)
        if rel is not None:
            artifacts = [
                ArtifactOut(format=f, sha256=a["sha256"], bytes=a["bytes"]) for f, a in rel.artifacts.items()
            ]
    return JobOut(
        id=job.id,
        scenario_id=job.scenario_id,
        submitter_id=job.submitter_id,
        sql=job.sql,
        mode=job.mode,
        state=job.state,
        reason_code=job.reason_code,
        gate_report=job.gate_report,
        check_report=job.check_report,
        artifacts=artifacts,
        created_at=aware(job.created_at),
        updated_at=aware(job.updated_at),
    )


@dataclasses.dataclass(frozen=True)
class Submitted:
    job: JobOut
    rejection: SandboxError | None


def submit(rt: Runtime, actor: User, body: JobIn) -> Submitted:
    """Grant checks, then the gate. A refused query is kept as a gate_rejected job for the record."""
    require(actor, Role.operator)
    now = datetime.now(UTC)
    with rt.catalog.session() as s:
        sc = visible(s, actor, body.scenario_id)
        if sc.operator_id != actor.id:
            raise SandboxError(ErrorCode.not_found, kind="scenario")
        if sc.state != "approved":
            raise SandboxError(ErrorCode.scenario_not_approved, scenario_id=sc.id, state=sc.state)
        if aware(sc.expires_at) <= now:
            raise SandboxError(ErrorCode.scenario_expired, scenario_id=sc.id)
        if body.mode not in sc.modes:
            raise SandboxError(
                ErrorCode.mode_not_allowed, mode=body.mode, reason="the scenario does not grant it"
            )
        tables = granted_tables(s, sc)
        for t in tables.values():
            policy = rt.bundle.for_level(Classification(t.dataset.classification))
            if body.mode not in policy.modes:
                raise SandboxError(
                    ErrorCode.mode_not_allowed,
                    mode=body.mode,
                    reason=f"the policy bundle does not allow it for {t.dataset.classification} data",
                )
        decision = gate.check(
            body.sql, GateContext(tables={k: v.grant for k, v in tables.items()}, mode=body.mode)
        )
        job = Job(
            id=new_id("job"),
            scenario_id=sc.id,
            submitter_id=actor.id,
            sql=body.sql,
            mode=body.mode,
            state=JobState.queued if decision.allowed else JobState.gate_rejected,
            reason_code=None if decision.allowed else "gate_rejected",
            plan=plan_to_dict(decision.plan, {t.dataset.id: t.version.version for t in tables.values()})
            if decision.plan
            else None,
            gate_report=[r.to_dict() for r in decision.reasons],
            check_report=None,
            created_at=now,
            updated_at=now,
        )
        s.add(job)
        s.flush()
        audit.record(
            s,
            f"job.{job.state}",
            actor=actor,
            object_type="job",
            object_id=job.id,
            detail={
                "scenario_id": sc.id,
                "mode": body.mode,
                "reasons": [r.code.value for r in decision.reasons],
            },
        )
        out = job_out(s, job)
    if not decision.allowed:
        reasons = [r.to_dict() for r in decision.reasons]
        return Submitted(
            out, SandboxError(ErrorCode.gate_rejected, detail={"job_id": out.id, "reasons": reasons})
        )
    rt.notify()
    return Submitted(out, None)


def _visible_job(s: Session, actor: User, job_id: str) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise SandboxError(ErrorCode.not_found, kind="job")
    if job.submitter_id != actor.id and not has_role(actor, Role.reviewer, Role.auditor, Role.admin):
        raise SandboxError(ErrorCode.not_found, kind="job")
    return job


RUNNING_STATES = (JobState.queued, JobState.running, JobState.checking)


def get(rt: Runtime, actor: User, job_id: str, wait_s: float = 0.0) -> JobOut:
    """A job's status; with `wait_s`, a long poll that answers as soon as the job leaves the running
    states (in-process wake-ups, with a 250 ms re-read for jobs run by other processes)."""
    require(actor, Role.operator, Role.reviewer, Role.auditor, Role.admin)
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        with rt.catalog.session() as s:
            out = job_out(s, _visible_job(s, actor, job_id))
        remaining = deadline - time.monotonic()
        if out.state not in RUNNING_STATES or remaining <= 0:
            return out
        rt.wait_job_change(min(remaining, 0.25))


def list_(
    rt: Runtime, actor: User, state: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[JobOut]:
    require(actor, Role.operator, Role.reviewer, Role.auditor, Role.admin)
    with rt.catalog.session() as s:
        q = select(Job).order_by(Job.id).limit(limit + 1)
        if cursor:
            q = q.where(Job.id > cursor)
        if state:
            q = q.where(Job.state == state)
        if not has_role(actor, Role.reviewer, Role.auditor, Role.admin):
            q = q.where(Job.submitter_id == actor.id)
        rows = list(s.execute(q).scalars())
        return Page(
            items=[job_out(s, j) for j in rows[:limit]],
            next_cursor=rows[limit - 1].id if len(rows) > limit else None,
        )


def cancel(rt: Runtime, actor: User, job_id: str) -> JobOut:
    require(actor, Role.operator)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.submitter_id != actor.id:
            raise SandboxError(ErrorCode.not_found, kind="job")
        if job.state not in CANCELLABLE:
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="cancelled")
        advance(s, job, JobState.cancelled, actor=actor, reason_code="cancelled_by_operator")
        return job_out(s, job)


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


def candidate_path(rt: Runtime, job_id: str) -> Any:
    return rt.settings.jobs_dir / job_id / "candidate.parquet"


def run_job(rt: Runtime, job_id: str) -> None:
    """Plan -> workspace -> privacy -> review queue. The workspace reports; this function decides."""
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
        views = tuple(
            ViewSpec(
                name=t.dataset.name,
                parquet_path=rt.vault.path_of(t.version.path),
                columns=tuple((c.name, c.level) for c in t.grant.columns.values()),
                join_key_secret=bytes.fromhex(sc.join_key_secret),
            )
            for t in used
        )
        level = rt.bundle.strictest([Classification(t.dataset.classification) for t in used])
        public_keys = {
            c.name: list(c.public_keys) for t in used for c in t.grant.columns.values() if c.public_keys
        }
        versions = {t.dataset.id: t.version.version for t in used}
    limits = Limits(
        memory_mb=rt.settings.workspace_memory_mb,
        threads=rt.settings.workspace_threads,
        timeout_s=rt.settings.workspace_timeout_s,
    )
    result = run_workspace(
        WorkspaceRequest(job_id=job_id, views=views, sql=plan.sql, work_dir=work_dir, limits=limits),
        backend=rt.settings.workspace_backend,
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
    released, report = sdc.apply(raw, plan.outputs, plan.group_units_column, level.k, public_keys)
    del raw
    pq.write_table(released, candidate_path(rt, job_id))
    result.result_path.unlink(missing_ok=True)
    timings["run_job_s"] = round(time.perf_counter() - started, 4)
    check_report = {
        "mode": "sdc",
        "k": level.k,
        "dataset_versions": versions,
        "sdc": report.to_dict(),
        "timings": timings,
    }
    _finish(rt, job_id, JobState.pending_review, reason_code=None, check_report=check_report)


def _step(rt: Runtime, job_id: str, to: str) -> bool:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or to not in TRANSITIONS.get(job.state, frozenset()):
            return False
        advance(s, job, to, actor=None)
    rt.job_changed()
    return True


def _finish(
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
