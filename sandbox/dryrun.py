"""Dry runs: a job run at once over synthetic data, for developing queries without seeing data.

Same checks as a submission (the operator's approved, unexpired scenario, a mode it and the bundle
allow), the same gate, the same workspace (views over only the granted columns, desensitized the
same way, but over a synthetic file per dataset drawn by `sandbox.preview` from the catalog schema,
with the reserved `__unit`/`__rank` columns) and the same privacy layer (SDC report, output scan).
The result comes back in the response, marked synthetic: nothing is queued, no review, no budget
spent, no job row. One `job.dry_run` audit event records that it happened (scenario, SQL digest,
outcome), never its rows.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from policies import gate
from policies.gate.plan import GateContext
from policies.levels import Classification
from sandbox import audit, preview
from sandbox.api.schemas import JobIn
from sandbox.auth import Role, require
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobs import runnable_scenario
from sandbox.run import privacy_check, public_keys_by_output
from sandbox.runtime import Runtime
from sandbox.workspace import ViewSpec, WorkspaceRequest, desensitize
from sandbox.workspace import run as run_workspace
from sandbox.workspace.runner import limits_of

SYNTHETIC_ROWS = 2000


def dry_run(rt: Runtime, actor: User, body: JobIn) -> dict[str, Any]:
    """Gate, workspace and privacy layer over synthetic data; 422 gate_rejected as a submission."""
    require(actor, Role.operator)
    now = datetime.now(UTC)
    digest = hashlib.sha256(body.sql.encode()).hexdigest()
    work_dir = rt.settings.jobs_dir / f"dry-{uuid.uuid4().hex}"
    with rt.catalog.session() as s:
        sc, tables = runnable_scenario(rt, s, actor, body, now)
        decision = gate.check(
            body.sql, GateContext(tables={k: v.grant for k, v in tables.items()}, mode=body.mode)
        )
        reasons = [r.to_dict() for r in decision.reasons]
        plan = decision.plan
        if not decision.allowed or plan is None:
            _record(
                s, actor, sc.id, digest, body.mode, "gate_rejected", [r.code.value for r in decision.reasons]
            )
        else:
            used = [tables[name.lower()] for name in plan.tables]
            work_dir.mkdir(parents=True)
            views = tuple(
                ViewSpec(
                    name=t.dataset.name,
                    parquet_path=preview.write_synthetic(
                        s,
                        t.dataset,
                        t.version.version,
                        t.version.max_rows_per_unit,
                        work_dir / f"synthetic-{index}.parquet",
                        SYNTHETIC_ROWS,
                    ),
                    columns=tuple((c.name, c.level) for c in t.grant.columns.values()),
                    join_key_secret=secrets.token_bytes(32),  # a fresh key: hashes match nothing real
                    desensitize=desensitize.parse((sc.desensitize or {}).get(t.dataset.id)),
                )
                for index, t in enumerate(used)
            )
            level = rt.bundle.strictest([Classification(t.dataset.classification) for t in used])
            public_keys = public_keys_by_output(plan, used)
    if not decision.allowed or plan is None:
        raise SandboxError(ErrorCode.gate_rejected, detail={"reasons": reasons, "synthetic": True})
    try:
        limits = limits_of(rt.settings)
        result = run_workspace(
            WorkspaceRequest(
                job_id=work_dir.name, views=views, sql=plan.sql, work_dir=work_dir, limits=limits
            ),
            backend=rt.settings.workspace_backend,
            settings=rt.settings,
        )
        if not result.ok or result.result_path is None:
            code = result.error or ErrorCode.workspace_crashed
            with rt.catalog.session() as s:
                _record(s, actor, body.scenario_id, digest, body.mode, code.value, [])
            raise SandboxError(code, limit_s=limits.timeout_s, limit=limits.max_rows)
        with ipc.open_file(result.result_path) as f:
            raw: pa.Table = f.read_all()
        released, check_report, hits = privacy_check(rt, raw, plan, level, public_keys)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    check_report["synthetic"] = True
    check_report["reason_code"] = ErrorCode.output_pii.value if hits else None
    outcome = "output_pii" if hits else "ok"
    with rt.catalog.session() as s:
        _record(s, actor, body.scenario_id, digest, body.mode, outcome, [])
    from sandbox.release import _json_value

    return {
        "synthetic": True,
        "columns": released.column_names,
        "rows": [[_json_value(v) for v in row.values()] for row in released.to_pylist()],
        "gate_report": reasons,
        "check_report": check_report,
    }


def _record(s: Any, actor: User, scenario_id: str, digest: str, mode: str, outcome: str, codes: list) -> None:
    audit.record(
        s,
        "job.dry_run",
        actor=actor,
        object_type="scenario",
        object_id=scenario_id,
        detail={"sql_sha256": digest, "mode": mode, "outcome": outcome, "reasons": codes},
    )
