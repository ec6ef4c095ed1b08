"""Jobs: the states, `advance` (the only state change, audited in the same transaction) and run_job.

queued -> running -> checking -> pending_review -> released | rejected; or failed, cancelled,
gate_rejected. Why a job is in a state is a separate stable `reason_code`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from policies import gate
from policies.gate.plan import ColumnGrant, GateContext, OutputColumn, OutputKind, Plan, TableGrant
from policies.levels import Classification, ColumnLevel
from sandbox import audit, dp_budget, vault_keys
from sandbox.api.schemas import AppealIn, ArtifactOut, JobIn, JobOut, Page
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Column, Dataset, DatasetVersion, Job, Release, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.scenarios import aware, visible
from sandbox.workspace import ViewSpec, desensitize
from sandbox.workspace.desensitize import granted_type

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
    "rejected": frozenset({"pending_review"}),  # an appeal: reason_code `appealed`
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
    """Move a job to `to` and write its audit event; repeating the current state is a no-op.

    The change is a conditional UPDATE (`... WHERE id = :id AND state = :from`): of two workers or
    requests moving one job from the same state, exactly one matches a row; the other gets job_state,
    whatever either had read before.
    """
    if job.state == to:
        return
    if to not in TRANSITIONS.get(job.state, frozenset()):
        raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action=f"moved to {to}")
    previous = job.state
    now = datetime.now(UTC)
    moved = s.execute(
        update(Job)
        .where(Job.id == job.id, Job.state == previous)
        .values(state=to, reason_code=reason_code, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # someone else moved it first; this session's copy is stale
        s.refresh(job)
        raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action=f"moved to {to}")
    for key, value in (("state", to), ("reason_code", reason_code), ("updated_at", now)):
        set_committed_value(job, key, value)
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
            OutputColumn(
                o["name"],
                OutputKind(o["kind"]),
                o.get("source_column"),
                o.get("units_column"),
                o.get("source_table"),
                o.get("dominance_total"),
                o.get("dominance_top"),
            )
            for o in d["outputs"]
        ),
        group_units_column=d["group_units_column"],
        columns_used={k: tuple(v) for k, v in d.get("columns_used", {}).items()},
        dp=d.get("dp"),
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
        methods = (sc.desensitize or {}).get(ds.id, {})  # desensitized columns: their view's type, no keys
        columns = {
            name: ColumnGrant(
                name,
                ColumnLevel(all_cols[name].level),
                tuple(all_cols[name].public_keys)
                if all_cols[name].public_keys and name not in methods
                else None,
                type=granted_type(all_cols[name].type, methods.get(name)),
                nullable=name in ver.null_columns,
                lower=all_cols[name].lower,
                upper=all_cols[name].upper,
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


def view_specs(rt: Runtime, s: Session, sc: Scenario, used: list[GrantedTable]) -> tuple[ViewSpec, ...]:
    """The workspace views of the tables a plan reads: granted columns only, the scenario's join-key
    secret, each version's data key, and the grant's desensitization (the same for every mode)."""
    return tuple(
        ViewSpec(
            name=t.dataset.name,
            parquet_path=rt.vault.path_of(t.version.path),
            columns=tuple((c.name, c.level) for c in t.grant.columns.values()),
            join_key_secret=bytes.fromhex(sc.join_key_secret),
            key=vault_keys.keys_of(s, rt, t.dataset.id, t.version.version).get("data.parquet"),
            desensitize=desensitize.parse((sc.desensitize or {}).get(t.dataset.id)),
        )
        for t in used
    )


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
        appeal_note=job.appeal_note,
    )


@dataclasses.dataclass(frozen=True)
class Submitted:
    job: JobOut
    rejection: SandboxError | None


def runnable_scenario(
    rt: Runtime, s: Session, actor: User, body: JobIn, now: datetime
) -> tuple[Scenario, dict[str, GrantedTable]]:
    """The checks before the gate, shared by a submission and a dry run: the operator's own approved,
    unexpired scenario, whose grant and whose datasets' bundle levels all allow `body.mode`."""
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
    for level in sorted({t.dataset.classification for t in tables.values()}):
        if body.mode not in rt.bundle.for_level(Classification(level)).modes:
            reason = f"the policy bundle does not allow it for {level} data"
            raise SandboxError(ErrorCode.mode_not_allowed, mode=body.mode, reason=reason)
    return sc, tables


def submit(rt: Runtime, actor: User, body: JobIn) -> Submitted:
    """Grant checks, then the gate. A refused query is kept as a gate_rejected job for the record."""
    require(actor, Role.operator)
    now = datetime.now(UTC)
    with rt.catalog.session() as s:
        sc, tables = runnable_scenario(rt, s, actor, body, now)
        epsilon = dp_budget.job_epsilon(rt.bundle, sc, body) if body.mode == "dp" else None
        decision = gate.check(
            body.sql,
            GateContext(
                tables={k: v.grant for k, v in tables.items()},
                mode=body.mode,
                dp_contributions=rt.bundle.dp.contributions,
            ),
        )
        plan = (
            plan_to_dict(decision.plan, {t.dataset.id: t.version.version for t in tables.values()})
            if decision.plan
            else None
        )
        if plan is not None and epsilon is not None:
            plan["epsilon"] = epsilon
            dp_budget.precheck(rt, s, sc, plan)  # 409 budget_exceeded now; the debit before running decides
        job = Job(
            id=new_id("job"),
            scenario_id=sc.id,
            submitter_id=actor.id,
            sql=body.sql,
            mode=body.mode,
            state=JobState.queued if decision.allowed else JobState.gate_rejected,
            reason_code=None if decision.allowed else "gate_rejected",
            plan=plan,
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
    rt.notify(out.id)
    return Submitted(out, None)


def _visible_job(s: Session, actor: User, job_id: str) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise SandboxError(ErrorCode.not_found, kind="job")
    if job.submitter_id != actor.id and not has_role(actor, Role.reviewer, Role.auditor):
        raise SandboxError(ErrorCode.not_found, kind="job")
    return job


RUNNING_STATES = (JobState.queued, JobState.running, JobState.checking)


def get(rt: Runtime, actor: User, job_id: str) -> JobOut:
    """A job's status (the API's long poll repeats this; see sandbox/api/jobs.py)."""
    require(actor, Role.operator, Role.reviewer, Role.auditor)
    with rt.catalog.reading() as s:
        return job_out(s, _visible_job(s, actor, job_id))


def list_(
    rt: Runtime, actor: User, state: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[JobOut]:
    require(actor, Role.operator, Role.reviewer, Role.auditor)
    with rt.catalog.reading() as s:
        q = select(Job)
        if state:
            q = q.where(Job.state == state)
        if not has_role(actor, Role.reviewer, Role.auditor):
            q = q.where(Job.submitter_id == actor.id)
        rows, next_cursor = paginate(s, q, Job.id, limit, cursor)
        return Page(items=[job_out(s, j) for j in rows], next_cursor=next_cursor)


def cancel(rt: Runtime, actor: User, job_id: str) -> JobOut:
    require(actor, Role.operator)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.submitter_id != actor.id:
            raise SandboxError(ErrorCode.not_found, kind="job")
        for _attempt in range(5):  # a worker may move it on (queued -> running -> ...) meanwhile
            if job.state not in CANCELLABLE:
                raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="cancelled")
            try:
                advance(s, job, JobState.cancelled, actor=actor, reason_code="cancelled_by_operator")
                break
            except SandboxError as lost:  # `advance` refreshed the job: try again from its new state
                if lost.code is not ErrorCode.job_state or job.state not in CANCELLABLE:
                    raise
        else:
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="cancelled")
        return job_out(s, job)


APPEALABLE = ("rejected_by_reviewer", "changes_requested")


def appeal(rt: Runtime, actor: User, job_id: str, body: AppealIn) -> JobOut:
    """The operator contests a reviewer's rejection: the job returns to the review queue with its note.

    Only a rejection by a reviewer can be appealed (its checked output is still on disk); the next
    round needs fresh approvals, and the note rides in the audit event and on the job.
    """
    require(actor, Role.operator)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.submitter_id != actor.id:
            raise SandboxError(ErrorCode.not_found, kind="job")
        if job.state != JobState.rejected or job.reason_code not in APPEALABLE:
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="appealed")
        job.appeal_note = body.note
        advance(
            s, job, JobState.pending_review, actor=actor, reason_code="appealed", detail={"note": body.note}
        )
        return job_out(s, job)
