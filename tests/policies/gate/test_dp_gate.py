"""Gate in dp mode: the supported shape, precise refusals, and bounded cells DuckDB computes exactly."""

from __future__ import annotations

import doctest

import duckdb
import pytest

import policies.gate.bounded
import policies.gate.dp_shape
from policies.gate import ReasonCode, check
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel
from policies.privacy.dp import Spec


def _ctx(c: int = 2, keys: tuple[str, ...] | None = ("a", "b", "z")) -> GateContext:
    t = {
        "pid": ColumnGrant("pid", ColumnLevel.join_key),
        "d": ColumnGrant("d", ColumnLevel.group, public_keys=keys),
        "g": ColumnGrant("g", ColumnLevel.group),
        "x": ColumnGrant("x", ColumnLevel.aggregate, lower=0.0, upper=10.0),
        "y": ColumnGrant("y", ColumnLevel.aggregate),
    }
    v = {
        "pid": ColumnGrant("pid", ColumnLevel.join_key),
        "w": ColumnGrant("w", ColumnLevel.aggregate, lower=-1, upper=1),
    }
    return GateContext(
        {
            "t": TableGrant("t", "ds1", t, frozenset(t), "pid", 3),
            "v": TableGrant("v", "ds2", v, frozenset(v), "pid", 5),
        },
        "dp",
        c,
    )


def _codes(sql: str, ctx: GateContext | None = None) -> list[str]:
    return [r.code.value for r in check(sql, ctx or _ctx()).reasons]


def test_doctests_run() -> None:
    for module in (policies.gate.bounded, policies.gate.dp_shape):
        assert doctest.testmod(module).failed == 0


DP_CASES = [
    ("SELECT d, SUM(y) AS s FROM t GROUP BY d", "dp_bounds_missing"),
    ("SELECT d, STDDEV(x) AS s FROM t GROUP BY d", "dp_aggregate_not_supported"),
    ("SELECT COUNT(x) AS n FROM t", "dp_aggregate_not_supported"),
    ("SELECT SUM(CASE WHEN d = 'a' THEN x ELSE 0 END) AS s FROM t", "dp_aggregate_not_supported"),
    ("SELECT QUANTILE_DISC(x, 0.5) AS q FROM t", "dp_aggregate_not_supported"),
    ("SELECT d, COUNT(*) AS n FROM t GROUP BY d ORDER BY n", "dp_construct_not_supported"),
    ("SELECT d, COUNT(*) AS n FROM t GROUP BY d LIMIT 1", "dp_construct_not_supported"),
    ("SELECT COUNT(*) AS n FROM t GROUP BY d", "dp_construct_not_supported"),
    ("SELECT COUNT(*) AS n FROM t JOIN v ON t.d = v.pid", "dp_join_not_on_unit"),
]


def test_every_dp_reason_code_has_a_case() -> None:
    codes = {code for code in ReasonCode if code.value.startswith("dp_")}
    assert {code for _, code in DP_CASES} | {"dp_keyset_too_large"} == {c.value for c in codes}


@pytest.mark.parametrize(("sql", "code"), DP_CASES)
def test_outside_the_shape_is_refused_precisely(sql: str, code: str) -> None:
    assert code in _codes(sql)


QUANTILES_ALLOWED = [
    "SELECT MEDIAN(x) AS q FROM t",
    "SELECT d, QUANTILE_CONT(x, 0.9) AS q FROM t GROUP BY d",
    "SELECT d, PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY x) AS q, COUNT(*) AS n FROM t GROUP BY d",
    "SELECT g, MEDIAN(t.x) AS q FROM t GROUP BY g",  # partition selection
    "SELECT MEDIAN(v.w) AS q FROM t JOIN v ON t.pid = v.pid",
]
QUANTILES_REFUSED = [  # (sql, code, construct): each says exactly what is outside
    ("SELECT QUANTILE_DISC(x, 0.5) AS q FROM t", "dp_aggregate_not_supported", "QUANTILE_DISC"),
    ("SELECT QUANTILE(x, 0.5) AS q FROM t", "dp_aggregate_not_supported", "QUANTILE"),
    ("SELECT APPROX_QUANTILE(x, 0.5) AS q FROM t", "dp_aggregate_not_supported", "APPROX_QUANTILE"),
    (
        "SELECT PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY x) AS q FROM t",
        "dp_aggregate_not_supported",
        "PERCENTILE_DISC",
    ),
    (
        "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x DESC) AS q FROM t",
        "dp_aggregate_not_supported",
        "PERCENTILE_CONT WITHIN GROUP (ORDER BY ... DESC)",
    ),
    (
        "SELECT QUANTILE_CONT(x, [0.1, 0.9]) AS q FROM t",
        "dp_aggregate_not_supported",
        "QUANTILE_CONT fraction",
    ),
    ("SELECT QUANTILE_CONT(x, 1.5) AS q FROM t", "dp_aggregate_not_supported", "QUANTILE_CONT fraction"),
    ("SELECT MEDIAN(DISTINCT x) AS q FROM t", "dp_aggregate_not_supported", "MEDIAN"),
    ("SELECT MEDIAN(x * 2) AS q FROM t", "dp_aggregate_not_supported", "MEDIAN"),
    ("SELECT MEDIAN(y) AS q FROM t", "dp_bounds_missing", "y"),
    ("SELECT MEDIAN(d) AS q FROM t", "level_violation", "d"),
    ("SELECT MEDIAN(x) + 1 AS q FROM t", "construct_not_allowed", "+"),
]


@pytest.mark.parametrize("sql", QUANTILES_ALLOWED)
def test_quantile_shapes_are_allowed(sql: str) -> None:
    decision = check(sql, _ctx())
    assert decision.allowed, decision.reasons
    assert decision.plan is not None and decision.plan.dp is not None
    spec = Spec.from_dict(decision.plan.dp)
    (q,) = [q for q in spec.quantities if q.kind == "quantile"]
    assert q.alpha in (0.5, 0.9, 0.25) and len(q.candidates) == 100
    assert q.sensitivity == spec.contributions and q.grouped == bool(spec.keys)
    assert _db().execute(decision.plan.sql).fetchall()  # the bounded SQL runs in DuckDB


@pytest.mark.parametrize(("sql", "code", "construct"), QUANTILES_REFUSED)
def test_quantile_outside_the_shape_is_refused_precisely(sql: str, code: str, construct: str) -> None:
    reasons = check(sql, _ctx()).reasons
    assert [(r.code.value, r.construct) for r in reasons] == [(code, construct)]


def test_quantiles_stay_refused_in_sdc_mode() -> None:
    ctx = _ctx()
    sdc = GateContext(ctx.tables, "sdc", 1)
    assert [r.code.value for r in check(QUANTILES_ALLOWED[0], sdc).reasons] == ["aggregate_not_allowed"]


def test_quantile_histogram_cells_include_empty_groups() -> None:
    rows, spec = _cells("SELECT d, MEDIAN(x) AS q FROM t GROUP BY d")
    # p1 keeps ranks 1, 2 (5.0 and 50.0 -> 10.0, the last candidate: bucket 198); p2's -4.0 -> 0.0
    # (bucket 0); c_49 < 5.0 < c_50 (bucket 99); p3's NULL counts nowhere; 'z' is empty (NULL).
    assert rows == [("a", {0: 1, 99: 1, 198: 1}), ("b", None), ("z", None)]
    assert spec.quantities[0].candidates[49] < 5.0 < spec.quantities[0].candidates[50]


def test_reserved_columns_cannot_be_named() -> None:
    assert _codes('SELECT COUNT(*) AS n FROM t WHERE "__rank" <= 100') != []
    assert _codes('SELECT COUNT(DISTINCT "__unit") AS n FROM t') != []


def test_too_many_public_keys_refused() -> None:
    many = tuple(str(i) for i in range(200))
    assert "dp_keyset_too_large" in _codes(
        "SELECT d, d AS e, COUNT(*) AS n FROM t GROUP BY d, e", _ctx(keys=many)
    )


def _db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES "
        "('p1', 'a', 'g1', 5.0, 1, 1, 1), ('p1', 'a', 'g1', 50.0, 1, 1, 2), ('p1', 'b', 'g1', 3.0, 1, 1, 3), "
        "('p2', 'a', 'g2', -4.0, 1, 2, 1), ('p3', 'b', 'g2', NULL, 1, 3, 1), ('p4', 'q', 'g2', 1.0, 1, 4, 1)"
        ") AS r(pid, d, g, x, y, __unit, __rank)"
    )
    rows = "('p1', 0.5, 1, 1), ('p2', 3.0, 2, 1)"
    con.execute(f"CREATE TABLE v AS SELECT * FROM (VALUES {rows}) AS r(pid, w, __unit, __rank)")
    return con


def _cells(sql: str, ctx: GateContext | None = None) -> tuple[list[tuple], Spec]:
    decision = check(sql, ctx or _ctx())
    assert decision.allowed, decision.reasons
    assert decision.plan is not None and decision.plan.dp is not None
    return sorted(_db().execute(decision.plan.sql).fetchall(), key=str), Spec.from_dict(decision.plan.dp)


def test_bounded_cells_with_public_keys_include_empty_groups() -> None:
    rows, spec = _cells("SELECT d, COUNT(*) AS n, SUM(x) AS s, AVG(x) AS m FROM t GROUP BY d")
    # p1 keeps 2 rows (rank <= 2); 50.0 -> 10.0, -4.0 -> 0.0; 'q' is not a public key; 'z' is empty.
    # p1's 'b' row has rank 3 (dropped); p3's NULL adds nothing to the sum (DuckDB's LEAST skips NULLs).
    assert rows == [("a", 3, 1500, 1500, 3), ("b", 1, 0, 0, 0), ("z", 0, 0, 0, 0)]
    assert [q.sensitivity for q in spec.quantities] == [2, 2000, 2000, 2]
    assert spec.partition is None and spec.keys == ("d",)


def test_partition_selection_planned_without_public_keys() -> None:
    rows, spec = _cells("SELECT g, COUNT(DISTINCT pid) AS u FROM t GROUP BY g")
    assert rows == [("g1", 1, 2), ("g2", 3, 3)]
    assert spec.partition is not None and (spec.partition.l0, spec.partition.linf) == (2, 2)
    assert spec.quantities[0].sensitivity == 2  # a unit touches at most c groups


def test_ungrouped_and_joined_on_the_unit() -> None:
    rows, spec = _cells("SELECT COUNT(DISTINCT pid) AS u, COUNT(*) AS n FROM t")
    assert rows == [(4, 5)]
    assert [q.sensitivity for q in spec.quantities] == [1, 2]
    rows, spec = _cells("SELECT SUM(v.w) AS s FROM t JOIN v ON t.pid = v.pid")
    assert rows == [(2 * 50 + 100,)]  # p1: 2 kept rows x 0.5; p2: 1 x min(3.0, 1)
    assert spec.contributions == 4 and spec.quantities[0].sensitivity == 4 * 100


def test_cheaper_sql_when_the_version_allows_it() -> None:
    """No rank filter when no unit has more rows than c; integer arithmetic for an integer column."""
    ctx = _ctx(c=5)
    table = ctx.tables["t"]
    y = ColumnGrant("y", ColumnLevel.aggregate, type="int64", nullable=False, lower=0.0, upper=3.0)
    tables = {
        **ctx.tables,
        "t": TableGrant("t", "ds1", {**table.columns, "y": y}, table.all_columns, "pid", 3),
    }
    ctx = GateContext(tables, "dp", 5)
    rows, spec = _cells("SELECT SUM(y) AS s, SUM(x) AS sx FROM t", ctx)
    plan = check("SELECT SUM(y) AS s FROM t", ctx).plan
    assert plan is not None and "__rank" not in plan.sql and "DOUBLE" not in plan.sql
    assert rows == [(600, 500 + 1000 + 300 + 100)]  # every row kept; NULL adds nothing
    assert spec.quantities[0].sensitivity == 3 * 300  # c = max_rows_per_unit = 3
