"""CTEs and derived tables that only rename, project and filter are merged before the other passes."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from policies.gate import check
from policies.gate.merge import merge
from policies.gate.plan import GateContext
from policies.gate.reasons import ReasonCode


def _codes(sql: str, ctx: GateContext) -> list[tuple[ReasonCode, str]]:
    return [(reason.code, reason.construct) for reason in check(sql, ctx).reasons]


def test_a_renamed_hidden_column_is_named_by_its_real_name(ctx: GateContext) -> None:
    sql = "WITH t AS (SELECT name AS n FROM residents) SELECT n, COUNT(*) FROM t GROUP BY n"
    (reason,) = check(sql, ctx).reasons
    assert (reason.code, reason.construct) == (ReasonCode.hidden_column, "name")
    assert reason.position == (1, 19)  # the `name` the operator wrote inside the CTE


def test_a_renamed_aggregate_column_cannot_become_a_group_key(ctx: GateContext) -> None:
    sql = "WITH t AS (SELECT income AS d FROM residents) SELECT d, COUNT(*) FROM t GROUP BY d"
    assert _codes(sql, ctx) == [(ReasonCode.level_violation, "income")]


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT resident_id AS k FROM residents) SELECT k, COUNT(*) AS c FROM t GROUP BY k",
        "SELECT k, COUNT(*) AS c FROM (SELECT resident_id AS k FROM residents) AS x GROUP BY k",
        "WITH a AS (SELECT resident_id AS x FROM residents), b AS (SELECT x AS k FROM a) "
        "SELECT k, COUNT(*) AS c FROM b GROUP BY k",
    ],
)
def test_a_renamed_join_key_cannot_become_a_group_key(sql: str, ctx: GateContext) -> None:
    assert _codes(sql, ctx) == [(ReasonCode.level_violation, "resident_id")]


def test_output_names_stay_as_written(ctx: GateContext) -> None:
    sql = (
        'WITH t AS (SELECT district AS "Area", sex FROM residents) '
        'SELECT "Area", sex AS s, COUNT(*) FROM t GROUP BY "Area", sex'
    )
    plan = check(sql, ctx).plan
    assert plan is not None
    assert [output.name for output in plan.outputs] == ["Area", "s", "count"]


def test_queries_without_cte_or_derived_table_are_left_alone(ctx: GateContext) -> None:
    tree = sqlglot.parse_one("SELECT district, COUNT(*) FROM residents GROUP BY district", read="duckdb")
    assert isinstance(tree, exp.Select)
    assert merge(tree, ctx)[0] is tree


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT district, COUNT(*) AS c FROM residents GROUP BY district) SELECT COUNT(*) FROM t",
        "WITH t AS (SELECT district FROM residents) "
        "SELECT COUNT(*) FROM t JOIN t AS u ON t.district = u.district",
        "WITH RECURSIVE t AS (SELECT district FROM residents) SELECT COUNT(*) FROM t",
        "WITH residents AS (SELECT district FROM residents) SELECT COUNT(*) FROM residents",
        "SELECT COUNT(*) FROM (SELECT district FROM residents LIMIT 1) AS t",
    ],
)
def test_what_cannot_be_merged_is_returned_unchanged_and_refused(sql: str, ctx: GateContext) -> None:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Select)
    assert merge(tree, ctx)[0] is tree
    decision = check(sql, ctx)
    assert not decision.allowed
    assert ReasonCode.construct_not_allowed in {reason.code for reason in decision.reasons}
