"""What a product's calls keep in the catalog besides their records: dp budgets and released unit sets.

Budgets: a consumer's spend per (template lineage, dataset), per month and for life (`product_budgets`),
never per product row, so republishing, revising or re-approving never resets it. Amounts are in the
ledger's integer units (`sandbox.ledger`): a spend rounds up and a cap down, so sums never drift; the
rows of a debit are locked in key order (SELECT ... FOR UPDATE; SQLite's immediate transaction
serialises writers), checked, then written, in the caller's transaction.

Unit sets: the distinct unit sets (roaring bitmaps of unit ordinals) of every row a lineage released,
the differencing guard's memory across calls and consumers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from datetime import UTC, datetime

import pyarrow as pa
from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.metering import ProductForm
from sandbox import audit, ledger, metering
from sandbox.catalog import insert_for
from sandbox.catalog.models import Product, ProductBudget, ProductUnitSet
from sandbox.errors import ErrorCode, SandboxError

LIFETIME = "lifetime"


def _ensure_rows(s: Session, consumer_id: str, lineage_id: str, dataset_ids: list[str], period: str) -> None:
    insert = insert_for(s)
    for dataset_id in dataset_ids:
        for p in (period, LIFETIME):
            stmt = insert(ProductBudget).values(
                consumer_id=consumer_id,
                lineage_id=lineage_id,
                dataset_id=dataset_id,
                period=p,
                epsilon_units=0,
                delta_units=0,
            )
            s.execute(
                stmt.on_conflict_do_nothing(
                    index_elements=["consumer_id", "lineage_id", "dataset_id", "period"]
                )
            )


def debit(
    s: Session,
    *,
    consumer_id: str,
    product: Product,
    lineage_id: str,
    dataset_ids: list[str],
    epsilon: float,
    delta: float,
    delta_cap: float,
) -> None:
    """Charge a call on every dataset, for the month and for life, or refuse it whole; rows locked in
    key order (ledger units: a spend rounds up and a cap down, so sums never drift)."""
    p = product
    lineage, period = lineage_id, metering.period_of(datetime.now(UTC))
    _ensure_rows(s, consumer_id, lineage, dataset_ids, period)
    rows = list(
        s.execute(
            select(ProductBudget)
            .where(
                ProductBudget.consumer_id == consumer_id,
                ProductBudget.lineage_id == lineage,
                ProductBudget.dataset_id.in_(dataset_ids),
                ProductBudget.period.in_([period, LIFETIME]),
            )
            .order_by(ProductBudget.dataset_id, ProductBudget.period)
            .with_for_update()
        ).scalars()
    )
    eps, dlt = ledger._up(epsilon, ledger.EPSILON_UNIT), ledger._up(delta, ledger.DELTA_UNIT)
    delta_cap = ledger._down(delta_cap, ledger.DELTA_UNIT)
    for row in rows:
        which = "lifetime" if row.period == LIFETIME else "monthly"
        cap = ledger._down(
            p.lifetime_epsilon if row.period == LIFETIME else p.period_epsilon or 0.0, ledger.EPSILON_UNIT
        )
        if row.epsilon_units + eps > cap or row.delta_units + dlt > delta_cap:
            left = max(0, cap - row.epsilon_units) * ledger.EPSILON_UNIT
            raise SandboxError(
                ErrorCode.product_budget_exceeded,
                detail={"which": which, "epsilon_left": left},
                epsilon=epsilon,
                which=which,
                epsilon_left=left,
            )
    for row in rows:
        row.epsilon_units += eps
        row.delta_units += dlt
    audit.record(
        s,
        "product.budget_debited",
        actor=None,
        object_type="product",
        object_id=p.id,
        detail={
            "consumer_id": consumer_id, "lineage_id": lineage, "period": period, "datasets": dataset_ids,
            "epsilon": epsilon, "delta": delta,
        },
    )  # fmt: skip


def keep_sets(
    s: Session, lineage_id: str, sets: dict[str, list[BitMap]], known: Container[tuple[str, str]] = ()
) -> None:
    """Add a released call's distinct unit sets; those already `known` (dataset, digest) are there."""
    insert = insert_for(s)
    for dataset_id, rows in sets.items():
        for units in rows:
            blob = units.serialize()
            digest = hashlib.sha256(blob).hexdigest()
            if (dataset_id, digest) in known:
                continue
            stmt = insert(ProductUnitSet).values(
                lineage_id=lineage_id, dataset_id=dataset_id, digest=digest, units=blob
            )
            s.execute(stmt.on_conflict_do_nothing(index_elements=["lineage_id", "dataset_id", "digest"]))


def volume_of(form: str, table: pa.Table) -> int:
    """A released call's native volume in its product's form (module docstring)."""
    rows, fields = table.num_rows, table.num_columns
    return {
        ProductForm.api_call: 1,
        ProductForm.analysis_report: fields,
        ProductForm.dataset: rows * fields,
        ProductForm.output_label: rows * fields,
        ProductForm.alert_push: rows,
    }[ProductForm(form)]
