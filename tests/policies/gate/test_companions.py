"""Dominance companions, executed: per-unit contributions, NULL group keys, joins, and the SDC verdict."""

from __future__ import annotations

import doctest

import duckdb
import pyarrow as pa
import pytest

import policies.gate.companions
from policies import gate
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel
from policies.privacy import sdc
from sandbox.workspace.units import with_reserved


def _ctx(one_row: bool) -> GateContext:
    levels = {"pid": ColumnLevel.join_key, "district": ColumnLevel.group, "income": ColumnLevel.aggregate}
    columns = {c: ColumnGrant(c, v) for c, v in levels.items()}
    grant = TableGrant("people", "ds", columns, frozenset(columns), "pid", 1 if one_row else None)
    return GateContext(tables={"people": grant})


def _run(sql: str, people: pa.Table, one_row: bool) -> tuple[list[dict], gate.Plan]:
    plan = gate.check(sql, _ctx(one_row)).plan
    assert plan is not None
    con = duckdb.connect()
    con.register("people", with_reserved(people, "pid"))
    return con.sql(plan.sql).to_arrow_table().to_pylist(), plan


def test_doctests_pass() -> None:
    assert doctest.testmod(policies.gate.companions).failed == 0


def test_several_rows_per_unit_are_added_up_before_the_largest_are_taken() -> None:
    # a has 3 rows (5 + 5 + 90 = 100), b has 10, c has -30 (a loss dominates as much as a gain)
    people = pa.table(
        {
            "pid": ["a", "a", "a", "b", "c", "d"],
            "district": ["x", "x", "x", "x", "x", None],
            "income": [5, 5, 90, 10, -30, 7],
        }
    )
    rows, plan = _run(
        "SELECT district, SUM(income) AS s, AVG(income) AS m FROM people GROUP BY district ORDER BY district",
        people,
        one_row=False,
    )
    s, m = plan.outputs[1], plan.outputs[2]
    assert s.dominance_total == m.dominance_total == "__dom_total_1"  # SUM and AVG of one column share
    x, null_key = rows
    assert (x["district"], x["s"], x["__dom_total_1"], x["__dom_top_1"]) == ("x", 80, 140, [100, 30])
    assert (null_key["district"], null_key["__dom_total_1"], null_key["__dom_top_1"]) == (None, 7, [7])


def test_one_row_per_unit_takes_the_rows_themselves() -> None:
    people = pa.table({"pid": ["a", "b", "c"], "district": ["x", "x", "y"], "income": [1, -9, 4]})
    rows, plan = _run("SELECT SUM(income) AS s FROM people", people, one_row=True)
    assert "__dom0" not in plan.sql
    assert rows[0]["__dom_total_0"] == 14 and rows[0]["__dom_top_0"] == [9, 4]


def test_filters_apply_to_the_contributions_too() -> None:
    people = pa.table({"pid": ["a", "a", "b"], "district": ["x", "y", "x"], "income": [100, 1, 2]})
    rows, _ = _run("SELECT SUM(income) AS s FROM people WHERE district = 'y'", people, one_row=False)
    assert rows[0]["__dom_total_0"] == 1 and rows[0]["__dom_top_0"] == [1]


@pytest.mark.parametrize("one_row", [True, False])
def test_a_dominated_sum_is_suppressed_end_to_end(one_row: bool) -> None:
    # district x: 20 residents, one of them earns 95% of the total; district y: 20 equal incomes
    pids = [f"p{i}" for i in range(40)]
    income = [10_000] + [25] * 19 + [100] * 20
    district = ["x"] * 20 + ["y"] * 20
    people = pa.table({"pid": pids, "district": district, "income": income})
    rows, plan = _run(
        "SELECT district, COUNT(*) AS n, SUM(income) AS s FROM people GROUP BY district ORDER BY district",
        people,
        one_row=one_row,
    )
    released, report = sdc.apply(
        pa.Table.from_pylist(rows), plan.outputs, plan.group_units_column, 10, {"district": ["x", "y"]}
    )
    assert [r["s"] for r in released.to_pylist()] == [None, None]  # y withheld as secondary
    rules = {(c.row, c.column): c.rule for c in report.suppressed}
    assert rules[(0, "s")] == sdc.DOMINANCE_NK and rules[(0, "n")] == sdc.SECONDARY
    assert rules[(1, "s")] == sdc.SECONDARY
