"""The rewrite's unit-count shortcuts hold only under the facts recorded at registration."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from policies import gate
from policies.gate.plan import ColumnGrant, GateContext, OutputKind, TableGrant
from policies.levels import ColumnLevel
from sandbox.workspace.units import with_reserved

SQL = "SELECT district, SUM(income) AS total FROM people GROUP BY district ORDER BY district"


def _ctx(*, nullable: bool, one_row: bool) -> GateContext:
    columns = {
        "pid": ColumnGrant("pid", ColumnLevel.join_key),
        "district": ColumnGrant("district", ColumnLevel.group),
        "income": ColumnGrant("income", ColumnLevel.aggregate, nullable=nullable),
    }
    grant = TableGrant("people", "ds", columns, frozenset(columns), "pid", 1 if one_row else None)
    return GateContext(tables={"people": grant})


def test_sum_over_a_column_without_nulls_reuses_the_row_unit_count() -> None:
    plan = gate.check(SQL, _ctx(nullable=False, one_row=True)).plan
    assert plan is not None
    total = next(o for o in plan.outputs if o.kind is OutputKind.sum)
    assert total.units_column == "__units" and "__units_1" not in plan.sql


def test_sum_over_a_nullable_column_counts_its_own_units() -> None:
    for one_row in (True, False):
        plan = gate.check(SQL, _ctx(nullable=True, one_row=one_row)).plan
        assert plan is not None
        total = next(o for o in plan.outputs if o.kind is OutputKind.sum)
        assert total.units_column == "__units_1" and '"__units_1"' in plan.sql


def test_nullable_companion_counts_only_contributing_units() -> None:
    people = pa.table(
        {"pid": ["a", "a", "b", "c"], "district": ["x", "x", "x", "x"], "income": [1, 2, None, None]}
    )
    plan = gate.check(SQL, _ctx(nullable=True, one_row=False)).plan
    assert plan is not None
    con = duckdb.connect()
    con.register("people", with_reserved(people, "pid"))
    row = con.execute(plan.sql).fetchone()
    assert row[:4] == ("x", 3, 3, 1)  # district, total, units in the group, units behind the sum
    assert row[4:6] == (3, [3])  # dominance: per-unit |sums|; b and c have no income (NULL, skipped)
    assert sorted(row[6]) == [0, 1, 2]  # the unit set behind the row (the differencing guard)
