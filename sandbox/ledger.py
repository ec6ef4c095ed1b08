"""The privacy budget ledger: spends are debited atomically, before any result exists, and never reset.

What is charged: a `dp` job's spend (epsilon, delta) against the scenario's budget, counted per
(operator, dataset), so editing, re-approving or re-creating a grant over the same datasets by the
same operator finds what was already spent. A job over several datasets is charged on each of them.

Exactness: amounts are kept as integers (epsilon in 1e-9, delta in 1e-18 units), converted through
the decimal form of each number; a spend is rounded up and a budget down, so sums never drift and the
ledger can never allow more than the budget. The ledger rows of a debit are locked (SELECT ... FOR
UPDATE in dataset order, which cannot deadlock; on SQLite the immediate transaction already
serialises writers), checked, then written, all in the caller's transaction together with the job's
own state change.

Failures: a spend is never refunded once the workspace touched data; a job refused here touched
nothing and spends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox import audit
from sandbox.catalog import insert_for
from sandbox.catalog.models import PrivacySpend, PrivacyTotal, Scenario, User
from sandbox.errors import ErrorCode, SandboxError

EPSILON_UNIT = 1e-9
DELTA_UNIT = 1e-18


def _units(value: float, unit: float) -> Decimal:
    """Exact: the float's shortest decimal form (what was typed, e.g. 0.1) over the unit."""
    return Decimal(repr(value)) / Decimal(repr(unit))


def _up(value: float, unit: float) -> int:
    return int(_units(value, unit).to_integral_value(rounding=ROUND_CEILING))


def _down(value: float, unit: float) -> int:
    return int(_units(value, unit).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class Budget:
    """What is left of a scenario's budget for its operator: the least left over its datasets."""

    epsilon: float
    delta: float
    epsilon_spent: float
    delta_spent: float

    @property
    def epsilon_left(self) -> float:
        return max(0.0, self.epsilon - self.epsilon_spent)

    @property
    def delta_left(self) -> float:
        return max(0.0, self.delta - self.delta_spent)


def _ensure_rows(s: Session, operator_id: str, dataset_ids: list[str]) -> None:
    insert = insert_for(s)
    for dataset_id in dataset_ids:
        stmt = insert(PrivacyTotal).values(
            operator_id=operator_id, dataset_id=dataset_id, epsilon_units=0, delta_units=0
        )
        s.execute(stmt.on_conflict_do_nothing(index_elements=["operator_id", "dataset_id"]))


def _totals(s: Session, operator_id: str, dataset_ids: Iterable[str], *, lock: bool) -> list[PrivacyTotal]:
    q = (
        select(PrivacyTotal)
        .where(PrivacyTotal.operator_id == operator_id, PrivacyTotal.dataset_id.in_(list(dataset_ids)))
        .order_by(PrivacyTotal.dataset_id)
    )
    if lock:
        q = q.with_for_update()
    return list(s.execute(q).scalars())


def budget(s: Session, scenario: Scenario) -> Budget:
    """The scenario's budget and the most any of its datasets has used up for its operator."""
    rows = _totals(s, scenario.operator_id, scenario.grants, lock=False)
    eps_spent = max((r.epsilon_units for r in rows), default=0) * EPSILON_UNIT
    delta_spent = max((r.delta_units for r in rows), default=0) * DELTA_UNIT
    return Budget(scenario.epsilon or 0.0, scenario.delta or 0.0, eps_spent, delta_spent)


def debit(
    s: Session,
    *,
    scenario: Scenario,
    dataset_ids: Iterable[str],
    epsilon: float,
    delta: float,
    job_id: str,
    actor: User | None,
) -> PrivacySpend:
    """Charge a job's spend on every dataset it reads, or refuse it whole (`budget_exceeded`)."""
    if not (math.isfinite(epsilon) and math.isfinite(delta)) or epsilon <= 0 or delta < 0:
        raise SandboxError(ErrorCode.invalid_request, reason="a spend needs epsilon > 0 and delta >= 0")
    datasets = sorted(set(dataset_ids))
    if not datasets or not set(datasets) <= set(scenario.grants):
        raise SandboxError(ErrorCode.invalid_request, reason="a spend must name datasets of the scenario")
    eps_units, delta_units = _up(epsilon, EPSILON_UNIT), _up(delta, DELTA_UNIT)
    eps_budget = _down(scenario.epsilon or 0.0, EPSILON_UNIT)
    delta_budget = _down(scenario.delta or 0.0, DELTA_UNIT)
    _ensure_rows(s, scenario.operator_id, datasets)
    rows = _totals(s, scenario.operator_id, datasets, lock=True)
    over = [
        r
        for r in rows
        if r.epsilon_units + eps_units > eps_budget or r.delta_units + delta_units > delta_budget
    ]
    if over:
        left_eps = max(0, eps_budget - max(r.epsilon_units for r in rows)) * EPSILON_UNIT
        left_delta = max(0, delta_budget - max(r.delta_units for r in rows)) * DELTA_UNIT
        raise SandboxError(
            ErrorCode.budget_exceeded,
            detail={"epsilon_left": left_eps, "delta_left": left_delta},
            epsilon=epsilon,
            epsilon_left=left_eps,
        )
    for row in rows:
        row.epsilon_units += eps_units
        row.delta_units += delta_units
    spend = PrivacySpend(
        job_id=job_id,
        scenario_id=scenario.id,
        operator_id=scenario.operator_id,
        dataset_ids=datasets,
        epsilon_units=eps_units,
        delta_units=delta_units,
        created_at=datetime.now(UTC),
    )
    s.add(spend)
    s.flush()
    audit.record(
        s,
        "budget.debited",
        actor=actor,
        object_type="scenario",
        object_id=scenario.id,
        detail={"job_id": job_id, "datasets": datasets, "epsilon": epsilon, "delta": delta},
    )
    return spend


@dataclass(frozen=True)
class SpendPoint:
    job_id: str
    at: datetime
    epsilon: float
    delta: float


def history(s: Session, scenario_id: str) -> list[SpendPoint]:
    """The scenario's debits in the order they were made (for the console's budget-over-time chart)."""
    q = select(PrivacySpend).where(PrivacySpend.scenario_id == scenario_id).order_by(PrivacySpend.created_at)
    return [
        SpendPoint(p.job_id, p.created_at, p.epsilon_units * EPSILON_UNIT, p.delta_units * DELTA_UNIT)
        for p in s.execute(q).scalars()
    ]
