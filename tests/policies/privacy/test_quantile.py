"""DP quantiles: DuckDB's bucket histogram gives OpenDP's own scores, the scale OpenDP's Polars pipeline
states, the same release distribution as OpenDP's quantile, and the stated rank accuracy holds."""

from __future__ import annotations

import doctest
import math
import statistics

import duckdb
import opendp.prelude as dp
import polars as pl
import pytest

import policies.privacy.quantile as qmod
from policies.gate import check
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel
from policies.privacy.dp import Spec, calibrate, release
from policies.privacy.quantile import candidates, counts, scores


def test_doctests_run() -> None:
    assert doctest.testmod(qmod).failed == 0


def _ctx(lower: float, upper: float, type_: str, c: int = 2) -> GateContext:
    cols = {
        "pid": ColumnGrant("pid", ColumnLevel.join_key),
        "d": ColumnGrant("d", ColumnLevel.group, public_keys=("a", "b", "z")),
        "x": ColumnGrant("x", ColumnLevel.aggregate, type=type_, lower=lower, upper=upper),
    }
    return GateContext({"t": TableGrant("t", "ds", cols, frozenset(cols), "pid", 3)}, "dp", c)


def _table(lower: float, upper: float, integer: bool) -> duckdb.DuckDBPyConnection:
    """Values on, one ulp either side of, and between every candidate; outside the bounds; NULLs; units
    with more rows than c (rank > c is cut)."""
    grid = candidates(lower, upper, integer)
    values: list[float | None] = [lower - 5, upper + 5, None, None]
    for c in grid:
        values += [
            c,
            c,
            math.nextafter(c, -math.inf),
            math.nextafter(c, math.inf),
            c + 0.37 * qmod.step_of(grid),
        ]
    if integer:
        values = [None if v is None else float(round(v)) for v in values]
    rows = []
    for i, v in enumerate(values):
        unit, rank = i // 3, i % 3 + 1
        rows.append((f"p{unit}", "ab"[i % 2], v, unit, rank))
    con = duckdb.connect()
    kind = "BIGINT" if integer else "DOUBLE"
    con.execute(f"CREATE TABLE t (pid TEXT, d TEXT, x {kind}, __unit BIGINT, __rank BIGINT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    return con


@pytest.mark.parametrize(
    ("lower", "upper", "integer"), [(0.0, 10.0, False), (-3.5, 1234.25, False), (18.0, 90.0, True)]
)
@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.1, 1 / 3, 0.0, 1.0])
def test_scores_from_the_bounded_histogram_are_opendps_scores(
    lower: float, upper: float, integer: bool, alpha: float
) -> None:
    con = _table(lower, upper, integer)
    sql = f"SELECT d, QUANTILE_CONT(x, {alpha!r}) AS q FROM t GROUP BY d"
    plan = check(sql, _ctx(lower, upper, "int64" if integer else "double")).plan
    assert plan is not None and plan.dp is not None
    cal = calibrate(Spec.from_dict(plan.dp), epsilon=1.0)
    m = cal.quantiles["__q0"]
    cells = dict(con.execute(plan.sql).fetchall())
    # OpenDP's own score transformation on the bounded fact table: rank <= c, clamped, NULLs dropped.
    facts = dict(
        con.execute(
            f"SELECT d, LIST(GREATEST(LEAST(x::DOUBLE, {upper}), {lower})) FROM t "
            "WHERE __rank <= 2 AND x IS NOT NULL GROUP BY d"
        ).fetchall()
    )
    theirs = qmod.score_transformation(m.candidates, alpha)
    assert cells["z"] is None and scores(m, counts(cells["z"])) == theirs([])
    for key in ("a", "b"):
        assert scores(m, counts(cells[key])) == theirs(facts[key])


def _polars_scale(alpha: float, c: int, grouped: bool, grid: tuple[float, ...]) -> float:
    lf = pl.LazyFrame({"d": ["a", "b", "c"] * 30, "x": [float(i % 10) for i in range(90)]})
    margin = dp.polars.Margin(by=["d"], invariant="keys", max_length=1000, max_groups=3)
    ctx = dp.Context.compositor(
        data=lf,
        privacy_unit=dp.unit_of(contributions=c),
        privacy_loss=dp.loss_of(epsilon=1.0),
        split_evenly_over=1,
        margins=[margin if grouped else dp.polars.Margin(max_length=1000)],
    )
    expr = pl.col("x").dp.quantile(alpha, list(grid))
    query = ctx.query().group_by("d").agg(expr) if grouped else ctx.query().select(expr)
    return float(query.summarize(alpha=0.05)["scale"][0])


@pytest.mark.parametrize(("alpha", "c", "grouped"), [(0.5, 1, False), (0.25, 3, False), (0.5, 1, True)])
def test_same_noise_scale_as_opendp_polars(alpha: float, c: int, grouped: bool) -> None:
    grid = candidates(0.0, 9.0, integer=True)
    m = qmod.calibrate(grid, alpha, contributions=c, grouped=grouped, epsilon=1.0)
    assert m.scale == pytest.approx(_polars_scale(alpha, c, grouped, grid))  # both in score units
    assert m.epsilon <= 1.0


def test_grouped_charge_is_c_times_one_row_not_polars_c_squared() -> None:
    """A unit's c rows fall into at most c groups with sum d_g <= c: c * map(1), not Polars' l0 * linf."""
    grid = candidates(0.0, 9.0, integer=True)
    ours = qmod.calibrate(grid, 0.5, contributions=3, grouped=True, epsilon=1.0)
    ungrouped = qmod.calibrate(grid, 0.5, contributions=3, grouped=False, epsilon=1.0)
    assert ours.scale == pytest.approx(ungrouped.scale)
    assert ours.scale < _polars_scale(0.5, 3, True, grid)


def _permute_and_flip(gaps: list[float], scale: float) -> list[float]:
    """Exact release probabilities of OpenDP's noisy max (permute-and-flip, MS20): candidate r is kept
    with p_r = exp(-gap_r / scale) when reached in a random order: P(r) = p_r * int_0^1 prod_j (1 - p_j t)."""
    p = [math.exp(-g / scale) for g in gaps]
    out = []
    for r in range(len(p)):
        poly = [1.0]  # coefficients in t of prod_{j != r} (1 - p_j t)
        for j, pj in enumerate(p):
            if j != r:
                poly = [a - pj * b for a, b in zip([*poly, 0.0], [0.0, *poly], strict=True)]
        out.append(p[r] * sum(a / (i + 1) for i, a in enumerate(poly)))
    return out


def test_released_quantile_spread_and_stated_accuracy() -> None:
    """A silent loss of noise (always the best candidate) or a wrong scale fails: 600 releases of one
    median, their mean score gap against the exact expectation, and the stated 95% rank bound."""
    grid = candidates(0.0, 99.0, integer=True)
    spec = Spec.from_dict(
        check("SELECT MEDIAN(x) AS m FROM t", _ctx(0.0, 99.0, "int64", c=1)).plan.dp  # type: ignore[union-attr]
    )
    cal = calibrate(spec, epsilon=1.0)
    m = cal.quantiles["__q0"]
    hist = {2 * k: 1 for k in range(100)}  # the values 0..99, one each
    exact = scores(m, hist)
    best = min(exact)
    gaps = [(s - best) / m.alpha_den for s in exact]  # in rows
    expected = _permute_and_flip([s - best for s in exact], m.scale)
    mean_gap = sum(g * p for g, p in zip(gaps, expected, strict=True))
    sd_gap = math.sqrt(sum((g - mean_gap) ** 2 * p for g, p in zip(gaps, expected, strict=True)))
    released = [release(cal, [()], {"__q0": [hist]}).values["m"][0] for _ in range(600)]
    seen = [gaps[grid.index(v)] for v in released]
    assert abs(statistics.fmean(seen) - mean_gap) < 5 * sd_gap / math.sqrt(len(seen))
    assert sum(g == 0 for g in seen) < 0.8 * len(seen)  # not suspiciously always exact
    report = release(cal, [()], {"__q0": [hist]}).report["outputs"][0]
    assert report["rank_error_95"] == pytest.approx(m.rank_scale * math.log(100 / 0.05))
    assert sum(g <= report["rank_error_95"] for g in seen) >= 0.95 * len(seen)
    assert cal.epsilon <= 1.0 and report["kind"] == "quantile" and report["scale"] > 0


def test_same_release_distribution_as_opendps_own_quantile() -> None:
    """Ours on the histogram vs OpenDP's make_private_quantile on the rows, same scale: the empirical
    CDFs of 3000 releases each agree (two-sample Kolmogorov-Smirnov, far past the 0.1% critical value)."""
    grid = candidates(0.0, 99.0, integer=True)
    m = qmod.calibrate(grid, 0.9, contributions=1, grouped=False, epsilon=0.5)
    rows = [float((7 * i) % 100) for i in range(300)]
    hist: dict[int, int] = {}
    for v in rows:
        hist[2 * grid.index(v)] = hist.get(2 * grid.index(v), 0) + 1
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    theirs_m = dp.m.make_private_quantile(
        domain, dp.symmetric_distance(), dp.max_divergence(), list(grid), 0.9, scale=m.rank_scale
    )
    assert theirs_m.map(1) == pytest.approx(m.epsilon)
    n = 3000
    ours = sorted(qmod.release(m, hist) for _ in range(n))
    theirs = sorted(theirs_m(rows) for _ in range(n))
    ks = max(abs(sum(v <= c for v in ours) - sum(v <= c for v in theirs)) / n for c in grid)
    assert ks < 1.95 * math.sqrt(2 / n)
