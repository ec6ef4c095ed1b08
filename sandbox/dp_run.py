"""Running a dp job: debit first, then the workspace computes bounded cells, then OpenDP adds the noise.

Order, and why:
1. The measurements are built from the plan alone (`dp_budget.calibration`), so the spend is known
   before any data is read.
2. In ONE transaction: look up the repeat cache (`dp_releases`, per scenario and query hash); a
   finished identical query is returned as is, with no debit (post-processing is free, so averaging
   repeats gains nothing); otherwise a pending cache row is written and `ledger.debit` charges the
   spend under the ledger's row locks. A job that would exceed the budget fails with
   `budget_exceeded` (the remaining budget in its check report) and touched nothing.
3. Only then the workspace runs the bounded SQL, and OpenDP noises the exact cells.

Failures: once debited, a spend is never refunded: the workspace may have read the data, whether it
then failed, timed out or was cancelled. A failed workspace drops the pending cache row (no release
exists, so a resubmission runs again, and pays again). A job cancelled after the workspace succeeded
still has its noisy table stored in the cache, so a repeat returns it rather than paying again.
"""

from __future__ import annotations

import io
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from policies.privacy import dp
from sandbox import audit, dp_budget, ledger
from sandbox.catalog.models import DpRelease, Job, Scenario
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobs import TRANSITIONS, JobState, advance, granted_tables, plan_from_dict, view_specs
from sandbox.runtime import Runtime
from sandbox.workspace import WorkspaceRequest
from sandbox.workspace import run as run_workspace
from sandbox.workspace.runner import limits_of

_LIVE = (JobState.queued, JobState.running, JobState.checking)


def run_dp_job(rt: Runtime, job_id: str) -> None:
    started = time.perf_counter()
    work_dir = rt.settings.jobs_dir / job_id
    work_dir.mkdir(parents=True, exist_ok=True)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.state != JobState.running:
            return
        sc = s.get(Scenario, job.scenario_id)
        assert sc is not None and job.plan is not None
        plan_d = dict(job.plan)
        plan = plan_from_dict(plan_d)
        tables = granted_tables(s, sc, plan_d.get("dataset_versions"))
        used = [tables[name.lower()] for name in plan.tables]
        views = view_specs(rt, s, sc, used)
        versions = {t.dataset.id: t.version.version for t in used}
        ids = sorted(versions)
        scenario_id = sc.id
    report: dict[str, Any] = {"mode": "dp", "dataset_versions": versions}
    try:
        cal = dp_budget.calibration(rt.bundle, plan_d)
    except SandboxError as e:
        _finish(rt, job_id, JobState.failed, e.code.value, report)
        return
    qhash = dp_budget.query_hash(plan_d)
    outcome = _reserve(rt, job_id, scenario_id, ids, cal, qhash)
    kind = outcome[0]
    if kind == "gone":
        return
    if kind == "refused":
        error: SandboxError = outcome[1]
        report["dp"] = {"epsilon_asked": cal.epsilon, "delta_asked": cal.delta, **(error.detail or {})}
        _finish(rt, job_id, JobState.failed, error.code.value, report, event="budget.refused")
        return
    if kind == "pending":
        report["dp"] = {"repeat_of": outcome[1]}
        _finish(rt, job_id, JobState.failed, ErrorCode.dp_repeat_pending.value, report)
        return
    if kind == "repeat":
        _, table_ipc, cached_report, original = outcome
        pq.write_table(table_from_ipc(table_ipc), candidate_path(rt, job_id))
        report = {**cached_report, "repeat_of": original}
        report["dp"] = {**cached_report.get("dp", {}), "epsilon_spent": 0.0, "delta_spent": 0.0}
        if _step(rt, job_id, JobState.checking):
            _finish(rt, job_id, JobState.pending_review, None, report, event="dp.repeat_served")
        return
    budget: ledger.Budget = outcome[1]
    limits = limits_of(rt.settings)
    result = run_workspace(
        WorkspaceRequest(job_id=job_id, views=views, sql=plan.sql, work_dir=work_dir, limits=limits),
        backend=rt.settings.workspace_backend,
        settings=rt.settings,
        should_stop=_stop_check(rt, job_id),
    )
    timings = {"workspace_query_s": round(result.query_s, 4), "workspace_total_s": round(result.total_s, 4)}
    spent = {"epsilon_spent": cal.epsilon, "delta_spent": cal.delta, "refunded": False}
    if not result.ok or result.result_path is None:
        with rt.catalog.session() as s:  # no release exists: an identical query may run (and pay) again
            s.execute(
                delete(DpRelease).where(DpRelease.scenario_id == scenario_id, DpRelease.job_id == job_id)
            )
        report.update(dp=spent, timings=timings)
        _finish(rt, job_id, JobState.failed, (result.error or ErrorCode.query_failed).value, report)
        return
    with ipc.open_file(result.result_path) as f:
        exact: pa.Table = f.read_all()
    result.result_path.unlink(missing_ok=True)
    noised = time.perf_counter()
    table, released = noisy_table(cal, plan.outputs, exact)
    del exact
    timings["noise_s"] = round(time.perf_counter() - noised, 4)
    timings["run_job_s"] = round(time.perf_counter() - started, 4)
    report["dp"] = {
        **released.report,
        **spent,
        "epsilon_asked": float(plan_d["epsilon"]),
        "budget": _budget_dict(budget),
        "query_hash": qhash,
    }
    report["timings"] = timings
    pq.write_table(table, candidate_path(rt, job_id))
    with rt.catalog.session() as s:  # stored before anything else: a repeat must get this release
        row = s.get(DpRelease, (scenario_id, qhash))
        if row is not None and row.job_id == job_id:
            row.table_ipc, row.report = table_to_ipc(table), report
    if _step(rt, job_id, JobState.checking):
        _finish(rt, job_id, JobState.pending_review, None, report)


def candidate_path(rt: Runtime, job_id: str) -> Path:
    """As `sandbox.run.candidate_path` (not imported: run.py delegates here)."""
    return rt.settings.jobs_dir / job_id / "candidate.parquet"


def _stop_check(rt: Runtime, job_id: str) -> Any:
    from sandbox.run import stop_check  # run.py imports this module: look it up when needed

    return stop_check(rt, job_id)


def _reserve(
    rt: Runtime, job_id: str, scenario_id: str, ids: list[str], cal: dp.Calibration, qhash: str
) -> tuple[Any, ...]:
    """The authority: repeat lookup, then the cache row and the debit, in one transaction."""
    try:
        with rt.catalog.session() as s:
            job = s.get(Job, job_id)
            sc = s.get(Scenario, scenario_id)
            if job is None or sc is None or job.state != JobState.running:
                return ("gone",)
            cached = s.get(DpRelease, (scenario_id, qhash))
            if cached is not None and cached.table_ipc is not None:
                return ("repeat", cached.table_ipc, dict(cached.report or {}), cached.job_id)
            if cached is not None:
                other = s.get(Job, cached.job_id)
                if other is not None and other.state in _LIVE:
                    return ("pending", cached.job_id)
                s.delete(cached)  # left by a job that died before its release: nothing to return
                s.flush()
            now = datetime.now(UTC)
            s.add(DpRelease(scenario_id=scenario_id, query_hash=qhash, job_id=job_id, created_at=now))
            s.flush()
            ledger.debit(
                s,
                scenario=sc,
                dataset_ids=ids,
                epsilon=cal.epsilon,
                delta=cal.delta,
                job_id=job_id,
                actor=None,
            )
            return ("debited", ledger.budget(s, sc))
    except SandboxError as e:
        if e.code is ErrorCode.budget_exceeded:
            return ("refused", e)
        raise
    except IntegrityError:
        return ("pending", None)  # an identical query reserved the same cache row at the same moment


def noisy_table(cal: dp.Calibration, outputs: Any, exact: pa.Table) -> tuple[pa.Table, dp.Released]:
    """Noise the exact bounded cells; the result has the operator's outputs only, in order."""
    spec = cal.spec
    key_columns = {name: exact.column(name).to_pylist() for name in spec.keys}
    keys = [tuple(key_columns[name][i] for name in spec.keys) for i in range(exact.num_rows)]
    cells = {q.column: exact.column(q.column).to_pylist() for q in spec.quantities}
    if spec.partition is not None:
        cells[spec.partition.column] = exact.column(spec.partition.column).to_pylist()
    released = dp.release(cal, keys, cells)
    kinds = {o.name: o.kind for o in spec.outputs}
    arrays: dict[str, pa.Array] = {}
    for output in outputs:
        if output.name in key_columns:
            values = key_columns[output.name]
            arrays[output.name] = pa.array(
                [values[i] for i in released.kept], type=exact.schema.field(output.name).type
            )
        elif kinds.get(output.name) in ("count", "count_units"):
            arrays[output.name] = pa.array([int(v) for v in released.values[output.name]], type=pa.int64())
        else:
            arrays[output.name] = pa.array(released.values[output.name], type=pa.float64())
    return pa.table(arrays), released


def _budget_dict(b: ledger.Budget) -> dict[str, float]:
    return {
        "epsilon": b.epsilon,
        "delta": b.delta,
        "epsilon_spent": b.epsilon_spent,
        "delta_spent": b.delta_spent,
        "epsilon_left": b.epsilon_left,
        "delta_left": b.delta_left,
    }


def table_to_ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def table_from_ipc(data: bytes) -> pa.Table:
    with ipc.open_file(pa.BufferReader(data)) as f:
        return f.read_all()


def _step(rt: Runtime, job_id: str, to: str) -> bool:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or to not in TRANSITIONS.get(job.state, frozenset()):
            return False
        advance(s, job, to, actor=None)
    rt.job_changed()
    return True


def _finish(
    rt: Runtime,
    job_id: str,
    to: str,
    reason_code: str | None,
    check_report: dict[str, Any],
    *,
    event: str | None = None,
) -> None:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or to not in TRANSITIONS.get(job.state, frozenset()):
            shutil.rmtree(rt.settings.jobs_dir / job_id, ignore_errors=True)  # cancelled meanwhile
            return
        job.check_report = check_report
        advance(s, job, to, actor=None, reason_code=reason_code)
        if event is not None:
            detail = {"job_id": job_id, "repeat_of": check_report.get("repeat_of")}
            if event == "budget.refused":
                detail = {"job_id": job_id, **check_report.get("dp", {})}
            audit.record(
                s, event, actor=None, object_type="scenario", object_id=job.scenario_id, detail=detail
            )
    rt.job_changed()
