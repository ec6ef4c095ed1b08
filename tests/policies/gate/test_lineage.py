"""Queries over aggregate queries, end to end through the privacy layer, and the decisions behind them.

The case files hold the corpus (each allowed case run and recounted); these tests make the reasons
concrete: a filter on an aggregate could tell a suppressed cell, a UNION's rows each keep their own
units through `sdc.apply`, a left-joined table no row matched does not suppress a group, and dp mode
does not read layered queries yet.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow as pa

from policies.gate import check
from policies.gate.plan import GateContext, OutputKind, Plan
from policies.gate.reasons import ReasonCode
from policies.privacy import sdc


def _release(plan: Plan, connection: duckdb.DuckDBPyConnection, k: int) -> list[dict[str, object]]:
    table: pa.Table = connection.sql(plan.sql).to_arrow_table()
    released, _ = sdc.apply(table, plan.outputs, plan.group_units_column, k)
    return released.to_pylist()


def test_having_on_an_aggregate_is_refused_where_it_would_tell_a_suppressed_cell(
    contexts: dict[str, GateContext], databases: dict[str, duckdb.DuckDBPyConnection]
) -> None:
    """The released table keeps suppressed rows; a HAVING on the sum would decide which small rows
    appear, by their exact sums. The gate refuses it and allows the same filter on a key."""
    connection = databases["one"]
    (small,) = connection.execute(
        "SELECT household FROM residents GROUP BY household ORDER BY COUNT(*) LIMIT 1"
    ).fetchall()
    refused = check(
        "SELECT household, SUM(income) AS s FROM residents GROUP BY household HAVING SUM(income) > 1000000",
        contexts["one"],
    )
    assert not refused.allowed
    assert [(r.code, r.construct) for r in refused.reasons] == [
        (ReasonCode.construct_not_allowed, "HAVING on an aggregate")
    ]
    allowed = check(
        f"SELECT household, SUM(income) AS s FROM residents GROUP BY household HAVING household = {small[0]}",
        contexts["one"],
    )
    assert allowed.plan is not None
    rows = _release(allowed.plan, connection, k=1000)
    assert rows == [
        {
            "household": None,
            "s": None,
            "household__flag": "key_not_public",
            "s__flag": "min_units",
            "suppressed": True,
        }
    ]


def test_union_rows_keep_their_own_units_through_the_privacy_layer(
    contexts: dict[str, GateContext], databases: dict[str, duckdb.DuckDBPyConnection]
) -> None:
    """One branch counts large groups, the other one small group: only the small one is suppressed."""
    connection = databases["one"]
    sql = (
        "SELECT sex AS k, COUNT(*) AS n, SUM(income) AS s FROM residents GROUP BY sex "
        "UNION ALL SELECT district, COUNT(*), SUM(income) FROM residents WHERE household = 1 AND sex = 'F' "
        "GROUP BY district ORDER BY k"
    )
    plan = check(sql, contexts["one"]).plan
    assert plan is not None
    assert [(o.name, o.kind, o.units_column) for o in plan.outputs] == [
        ("k", OutputKind.group, None),
        ("n", OutputKind.count, "__units"),
        ("s", OutputKind.sum, "__units_2"),
    ]
    k = 10
    raw = connection.execute(plan.sql).fetchall()
    rows = _release(plan, connection, k)
    assert len(rows) == len(raw)
    for values, released in zip(raw, rows, strict=True):
        units, sum_units = values[3], values[4]
        assert released["suppressed"] == (units < k or sum_units < k)
        if not released["suppressed"]:
            assert (released["k"], released["n"], released["s"]) == values[:3]
    assert any(row["suppressed"] for row in rows) and not all(row["suppressed"] for row in rows)


def test_a_left_joined_table_no_row_matched_does_not_suppress_the_group(
    contexts: dict[str, GateContext], databases: dict[str, duckdb.DuckDBPyConnection]
) -> None:
    """Residents without any visit: their group's units are the residents', not 0 visits' units."""
    connection = databases["many"]
    sql = (
        "SELECT r.sex, COUNT(*) AS n FROM residents AS r LEFT JOIN visits AS v "
        "ON r.resident_id = v.resident_id WHERE v.clinic IS NULL AND v.kind IS NULL GROUP BY r.sex"
    )
    plan = check(sql, contexts["many"]).plan
    assert plan is not None and "NULLIF" in plan.sql
    rows = connection.execute(plan.sql).fetchall()
    truth = dict(
        connection.execute(
            "SELECT sex, COUNT(DISTINCT resident_id) FROM residents WHERE resident_id NOT IN "
            "(SELECT resident_id FROM visits) GROUP BY sex"
        ).fetchall()
    )
    assert {row[0]: row[2] for row in rows} == truth and all(units > 0 for units in truth.values())


def test_layered_queries_are_refused_in_dp_mode(contexts: dict[str, GateContext]) -> None:
    ctx = dataclasses.replace(contexts["one"], mode="dp")
    decision = check("SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(*) FROM visits", ctx)
    assert not decision.allowed
    assert ("UNION in dp mode", (1, 37)) in [(r.construct, r.position) for r in decision.reasons]


def test_a_union_of_two_columns_keeps_no_public_keys(contexts: dict[str, GateContext]) -> None:
    """Public keys are looked up by a key's source column: a position drawn from two columns has none."""
    sql = (
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district "
        "UNION ALL SELECT district, COUNT(*) FROM residents WHERE sex = 'F' GROUP BY district "
        "UNION ALL SELECT sex, COUNT(*) FROM residents GROUP BY sex"
    )
    plan = check(sql, contexts["one"]).plan
    assert plan is not None
    assert (plan.outputs[0].source_column, plan.outputs[0].source_table) == (None, None)
    same = check(
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district "
        "UNION ALL SELECT district, COUNT(*) FROM residents WHERE sex = 'F' GROUP BY district",
        contexts["one"],
    ).plan
    assert same is not None and same.outputs[0].source_column == "district"
