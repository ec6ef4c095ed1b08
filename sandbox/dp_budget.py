"""dp mode at submission: a job's epsilon from the bundle, its measurements, and a budget pre-check.

The pre-check answers 409 `budget_exceeded` at submit time, as a courtesy; the authority is the debit
`sandbox.dp_run` makes under the ledger's row locks before the workspace runs, since two submissions
can both pass the pre-check. A repeat of an identical query (see `query_hash`) is never refused: it
returns the earlier release and spends nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.bundles import Bundle
from policies.privacy import dp
from sandbox import ledger
from sandbox.api.schemas import JobIn
from sandbox.catalog.models import Dataset, DpRelease, Scenario
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime


def query_hash(plan: dict[str, Any]) -> str:
    """Same normalised SQL (the gate's generated plan), same mode, epsilon and dataset versions."""
    key = {
        "sql": plan["sql"],
        "mode": "dp",
        "epsilon": repr(float(plan["epsilon"])),
        "versions": plan.get("dataset_versions", {}),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def job_epsilon(bundle: Bundle, sc: Scenario, body: JobIn) -> float:
    """The job's epsilon: as asked, else the bundle's default; never above the bundle's maximum."""
    policy = bundle.dp
    if (sc.epsilon or 0.0) > policy.epsilon_max_scenario:
        raise SandboxError(
            ErrorCode.epsilon_too_large,
            epsilon=sc.epsilon,
            limit=policy.epsilon_max_scenario,
            what="a scenario's budget",
        )
    epsilon = body.epsilon if body.epsilon is not None else policy.epsilon_default
    if epsilon > policy.epsilon_max_job:
        raise SandboxError(
            ErrorCode.epsilon_too_large, epsilon=epsilon, limit=policy.epsilon_max_job, what="one job"
        )
    return float(epsilon)


def calibration(bundle: Bundle, plan: dict[str, Any]) -> dp.Calibration:
    """Every measurement of the job, built from the plan alone (no data): what the debit charges."""
    try:
        spec = dp.Spec.from_dict(plan["dp"])
        return dp.calibrate(spec, float(plan["epsilon"]), bundle.dp.partition_delta)
    except (KeyError, TypeError, ValueError) as e:
        raise SandboxError(ErrorCode.dp_failed, reason=_reason(e)) from None


def _reason(e: Exception) -> str:
    text = str(e)
    known = ("partition selection needs a delta", "no threshold meets the delta", "epsilon must be positive")
    return text if text in known else "the plan has no dp measurement spec"


def dataset_ids(s: Session, sc: Scenario, tables: Iterable[str]) -> list[str]:
    names = {t.lower() for t in tables}
    rows = s.execute(select(Dataset).where(Dataset.id.in_(list(sc.grants)))).scalars()
    return sorted(d.id for d in rows if d.name.lower() in names)


def precheck(rt: Runtime, s: Session, sc: Scenario, plan: dict[str, Any]) -> None:
    """Refuse now a job the ledger would refuse (unless it is a repeat, which is free)."""
    if s.get(DpRelease, (sc.id, query_hash(plan))) is not None:
        return
    cal = calibration(rt.bundle, plan)
    ids = dataset_ids(s, sc, plan["tables"])
    rows = ledger._totals(s, sc.operator_id, ids, lock=False)
    eps_used = max((r.epsilon_units for r in rows), default=0)
    delta_used = max((r.delta_units for r in rows), default=0)
    eps_budget = ledger._down(sc.epsilon or 0.0, ledger.EPSILON_UNIT)
    delta_budget = ledger._down(sc.delta or 0.0, ledger.DELTA_UNIT)
    eps_units = ledger._up(cal.epsilon, ledger.EPSILON_UNIT)
    delta_units = ledger._up(cal.delta, ledger.DELTA_UNIT)
    if eps_used + eps_units > eps_budget or delta_used + delta_units > delta_budget:
        left_eps = max(0, eps_budget - eps_used) * ledger.EPSILON_UNIT
        left_delta = max(0, delta_budget - delta_used) * ledger.DELTA_UNIT
        raise SandboxError(
            ErrorCode.budget_exceeded,
            detail={"epsilon_left": left_eps, "delta_left": left_delta, "delta": cal.delta},
            epsilon=cal.epsilon,
            epsilon_left=left_eps,
        )
