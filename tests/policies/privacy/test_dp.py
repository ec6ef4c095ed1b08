"""OpenDP measurements on cell vectors: the scale OpenDP's Polars pipeline states, and real noise."""

from __future__ import annotations

import doctest
import statistics

import opendp.prelude as dp
import polars as pl
import pytest

import policies.privacy.dp as dpmod
from policies.privacy.dp import Output, Partition, Quantity, Spec, calibrate, release


def test_doctests_run() -> None:
    assert doctest.testmod(dpmod).failed == 0


def _polars_scales(query: pl.Expr, *, c: int, epsilon: float, grouped: bool) -> list[float]:
    lf = pl.LazyFrame({"d": ["a", "b", "a", "c"] * 25, "x": [1.0, 2.0, 3.0, 4.0] * 25})
    margins = [dp.polars.Margin(by=["d"], invariant="keys", max_length=1000, max_groups=3)]
    if not grouped:
        margins = [dp.polars.Margin(max_length=1000)]
    ctx = dp.Context.compositor(
        data=lf,
        privacy_unit=dp.unit_of(contributions=c),
        privacy_loss=dp.loss_of(epsilon=epsilon),
        split_evenly_over=1,
        margins=margins,
    )
    q = ctx.query().group_by("d").agg(query) if grouped else ctx.query().select(query)
    return list(q.summarize(alpha=0.05)["scale"])


def _spec(kind: str, c: int, lower: float = 0.0, upper: float = 10.0) -> Spec:
    m = int(max(abs(lower), abs(upper)) * dpmod.FIXED_POINT)
    if kind == "count":
        return Spec((Quantity("n", "count", c),), (Output("n", "count", "n"),), contributions=c)
    if kind == "sum":
        q = Quantity("s", "sum", c * m, dpmod.FIXED_POINT)
        return Spec((q,), (Output("s", "sum", "s", lower=lower, upper=upper),), contributions=c)
    qs = (Quantity("s", "sum", c * m, dpmod.FIXED_POINT), Quantity("k", "count_values", c))
    return Spec(qs, (Output("m", "avg", "s", "k", lower=lower, upper=upper),), contributions=c)


@pytest.mark.parametrize(("c", "epsilon", "grouped"), [(3, 1.0, True), (1, 0.1, False)])
def test_same_noise_scale_as_opendp_polars(c: int, epsilon: float, grouped: bool) -> None:
    ours = calibrate(_spec("count", c), epsilon)
    assert [ours.scales["n"]] == pytest.approx(
        _polars_scales(pl.len().dp.noise(), c=c, epsilon=epsilon, grouped=grouped)
    )
    ours = calibrate(_spec("sum", c), epsilon)
    theirs = _polars_scales(
        pl.col("x").fill_null(0).dp.sum((0.0, 10.0)), c=c, epsilon=epsilon, grouped=grouped
    )
    assert [ours.scales["s"] / dpmod.FIXED_POINT] == pytest.approx(theirs)
    ours = calibrate(_spec("avg", c), epsilon)
    theirs = _polars_scales(
        pl.col("x").fill_null(0).dp.mean((0.0, 10.0)), c=c, epsilon=epsilon, grouped=grouped
    )
    assert [ours.scales["s"] / dpmod.FIXED_POINT, ours.scales["k"]] == pytest.approx(theirs)
    assert ours.epsilon <= epsilon


def test_empirical_spread_matches_the_stated_scale() -> None:
    """A silent loss of noise (or a scale off by a factor) fails here: 4000 draws of a 50-cell vector."""
    cal = calibrate(_spec("count", 2), epsilon=0.5)
    scale = cal.scales["n"]
    assert scale == pytest.approx(4.0)
    noise: list[int] = []
    for _ in range(80):
        out = release(cal, [(str(i),) for i in range(50)], {"n": [1000] * 50})
        noise.extend(int(v) - 1000 for v in out.values["n"])
    mad = statistics.fmean(abs(v) for v in noise)  # E|Laplace(b)| = b (discrete: within a few %)
    assert 0.9 * scale < mad < 1.1 * scale
    sd = statistics.pstdev(noise)  # sd of Laplace(b) = b * sqrt(2)
    assert 0.9 * scale * 2**0.5 < sd < 1.1 * scale * 2**0.5
    assert abs(statistics.fmean(noise)) < 0.5
    half = out.report["outputs"][0]["ci95_half_width"]
    inside = sum(abs(v) <= half for v in noise) / len(noise)
    assert 0.93 < inside < 0.97


def test_partition_selection_drops_small_groups_and_charges_delta() -> None:
    spec = Spec(
        (Quantity("n", "count", 1),),
        (Output("n", "count", "n"),),
        keys=("d",),
        partition=Partition("__rows", 1, 1, 1),
    )
    cal = calibrate(spec, epsilon=1.0, partition_delta=1e-6)
    assert 0 < cal.delta <= 1e-6 and cal.epsilon <= 1.0 and cal.threshold is not None
    out = release(cal, [("big",), ("tiny",)], {"n": [10_000, 1], "__rows": [10_000, 1]})
    assert out.kept == [0]
    assert out.report["partition_selection"]["threshold"] == cal.threshold
    with pytest.raises(ValueError):
        calibrate(spec, epsilon=1.0, partition_delta=0.0)


def test_mean_is_noisy_sum_over_noisy_count_within_bounds() -> None:
    cal = calibrate(_spec("avg", 1, 0.0, 100.0), epsilon=10.0)
    out = release(cal, [("a",)], {"s": [50 * 100 * 1000], "k": [1000]})
    assert 45 < out.values["m"][0] < 55
    low, high = out.report["outputs"][0]["ci95"][0]
    assert 0.0 <= low < out.values["m"][0] < high <= 100.0


def test_gaussian_rho_to_epsilon_delta_through_opendp() -> None:
    rho = dpmod.gaussian(2.0).map(3)
    assert rho == pytest.approx(9 / 8)
    eps, delta = dpmod.gaussian_approx(2.0, 1e-6).map(3)
    assert delta == 1e-6 and eps > 0
