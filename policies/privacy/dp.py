r"""Differential privacy on the vector of cells: OpenDP measures, calibrates and adds every bit of noise.

DuckDB computes the *bounded* cells inside the workspace (`policies.gate.bounded`): each privacy unit
keeps at most `c` rows (`"__rank" <= c`), values are clamped to the column's declared bounds [L, U]
and summed as fixed-point integers (`round(x * 100)`), and every public key is present. This module
turns those exact integer vectors into noisy ones with OpenDP's discrete Laplace measurement
(`make_laplace` over `vector_domain(atom_domain(T="i64"))` with `l1_distance`), and asks OpenDP's own
privacy map (`map(d_in)`) what each costs. Only the `contrib` feature is enabled.

Sensitivities (neighbouring datasets differ by all rows of one privacy unit; after truncation a unit
has at most `c` rows, and a grouped query puts each row in one group, so a unit touches at most `c`
groups; `d_in` is the L1 distance between the two cell vectors):

- COUNT(*): each of the unit's <= c rows adds 1 to one cell: d_in = c, grouped or not.
- COUNT(DISTINCT unit): the unit adds 1 to each group it appears in: d_in = 1 ungrouped, c grouped.
- SUM(x), x clamped to [L, U] and scaled by S = 100: each row adds at most M = ceil(max(|L|, |U|) * S)
  in absolute value to one cell: d_in = c * M (in fixed-point units; the released value is noisy / S,
  its scale is the fixed-point scale / S).
- AVG(x) = noisy SUM(x) / noisy COUNT(x): two measurements, the sum with d_in = c * M and the count of
  non-NULL values with d_in = c; the job's epsilon is split evenly over every measured vector, so the
  mean costs two shares. The ratio is post-processing.
- A quantile (MEDIAN, QUANTILE_CONT, PERCENTILE_CONT): not a noisy cell but OpenDP's exponential
  mechanism (candidate scores, then noisy max) on a histogram of the clamped values over the
  candidates (`policies.privacy.quantile`, which proves the histogram gives OpenDP's exact scores).
  d_in = c rows (symmetric distance) ungrouped; grouped, the groups' releases are over disjoint rows
  and OpenDP's map is linear in d_in, so they cost at most c * map(1). It takes one share.
- Group keys with a declared public key set: the key set does not depend on the data, so it costs
  nothing; every key is a cell (an empty group is a zero with noise) and the L1 bounds above hold.
- Group keys without one (partition selection): the truncated row counts per key, a map, go through
  OpenDP's `make_laplace_threshold` with d_in = (l0, l1, linf) = (c, c, c); a key is released only if
  its noisy count clears a threshold chosen (by OpenDP's own map, searched here) so that delta is at
  most the bundle's `partition_delta`. Its epsilon is one more share of the job's epsilon.

By basic composition the job's spend is the sum of OpenDP's maps, never more than the epsilon asked.
A 95% interval is OpenDP's own `discrete_laplacian_scale_to_accuracy(scale, 0.05)` around the value
(in integer units, then divided by the fixed-point factor).

>>> q = Quantity("n", "count", sensitivity=1)
>>> cal = calibrate(Spec((q,), (Output("n", "count", "n"),)), epsilon=1.0)
>>> cal.epsilon <= 1.0, cal.scales["n"]
(True, 1.0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import opendp.prelude as dp

from policies.privacy import quantile

dp.enable_features("contrib")

FIXED_POINT = 100  # sums are exact integers in 1/100 of the column's unit
ALPHA = 0.05  # 95% intervals


@dataclass(frozen=True)
class Quantity:
    """One noisy vector: a column of integer cells the bounded SQL selects, and its L1 sensitivity."""

    column: str
    kind: str  # "count", "count_units", "sum", "count_values", "quantile"
    sensitivity: int  # L1 distance between neighbouring cell vectors, in the column's integer units
    fixed_point: int = 1  # the released value is cell / fixed_point
    # A quantile's cell is a histogram over its candidates (`policies.privacy.quantile`), and its
    # sensitivity the rows per unit c (symmetric distance); `grouped`: released once per group.
    alpha: float | None = None
    candidates: tuple[float, ...] = ()
    grouped: bool = False


@dataclass(frozen=True)
class Output:
    """One released aggregate, read from one quantity (or two for a mean: numerator / denominator)."""

    name: str
    kind: str  # "count", "count_units", "sum", "avg"
    numerator: str
    denominator: str | None = None
    column: str | None = None
    lower: float | None = None
    upper: float | None = None
    contributions: int = 1


@dataclass(frozen=True)
class Partition:
    """Partition selection over keys without a public key set: the rows column and d_in = (l0, l1, linf)."""

    column: str
    l0: int
    l1: int
    linf: int


@dataclass(frozen=True)
class Spec:
    """What the gate planned: the quantities, the outputs, the group keys and partition selection."""

    quantities: tuple[Quantity, ...]
    outputs: tuple[Output, ...]
    keys: tuple[str, ...] = ()
    partition: Partition | None = None
    contributions: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        part = d.get("partition")
        return cls(
            quantities=tuple(
                Quantity(**{**q, "candidates": tuple(q.get("candidates", ()))}) for q in d["quantities"]
            ),
            outputs=tuple(Output(**o) for o in d["outputs"]),
            keys=tuple(d.get("keys", ())),
            partition=Partition(**part) if part else None,
            contributions=int(d.get("contributions", 1)),
        )

    @property
    def shares(self) -> int:
        return len(self.quantities) + (1 if self.partition is not None else 0)


@dataclass
class Calibration:
    """The measurements for one job, built before any data is touched: what the ledger debits."""

    spec: Spec
    epsilon: float  # total, by OpenDP's maps (basic composition)
    delta: float
    scales: dict[str, float]  # quantity column -> Laplace scale in its integer units
    measurements: dict[str, dp.Measurement] = field(repr=False)
    threshold: int | None = None
    partition_scale: float | None = None
    partition_measurement: dp.Measurement | None = field(default=None, repr=False)
    quantiles: dict[str, quantile.Measured] = field(default_factory=dict, repr=False)


def laplace(scale: float) -> dp.Measurement:
    """Discrete Laplace noise on a vector of 64-bit integers (no floating-point side channel)."""
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=scale)


def gaussian(scale: float) -> dp.Measurement:
    """Discrete Gaussian noise on an integer vector; its map gives rho (zero-concentrated DP)."""
    return dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64"), scale=scale)


def gaussian_approx(scale: float, delta: float) -> dp.Measurement:
    """The Gaussian measurement with rho turned into (epsilon, delta) by OpenDP's own combinators."""
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian(scale)), delta)


def threshold_measurement(scale: float, threshold: int) -> dp.Measurement:
    """OpenDP's thresholded Laplace on a map key -> count: keys whose noisy count is below are dropped."""
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
    return dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)


def laplace_for(sensitivity: int, epsilon: float) -> tuple[float, dp.Measurement, float]:
    """The smallest scale (sensitivity / epsilon, nudged up) whose OpenDP map stays within epsilon."""
    scale = sensitivity / epsilon
    for _ in range(64):
        meas = laplace(scale)
        spent = float(meas.map(sensitivity))
        if spent <= epsilon:
            return scale, meas, spent
        scale = math.nextafter(scale, math.inf)
    raise ValueError("no Laplace scale meets the epsilon")


def partition_for(part: Partition, epsilon: float, delta: float) -> tuple[float, int, dp.Measurement]:
    """Scale from epsilon (l1 / scale), then the least threshold whose OpenDP map gives delta <= `delta`."""
    if delta <= 0:
        raise ValueError("partition selection needs a delta")
    d_in = (part.l0, part.l1, part.linf)
    scale = part.l1 / epsilon
    for _ in range(64):
        if threshold_measurement(scale, part.linf + 1).map(d_in)[0] <= epsilon:
            break
        scale = math.nextafter(scale, math.inf)
    low, high = part.linf + 1, part.linf + 1
    while threshold_measurement(scale, high).map(d_in)[1] > delta:
        low, high = high, high * 2
        if high > 2**40:
            raise ValueError("no threshold meets the delta")
    while low < high:
        middle = (low + high) // 2
        if threshold_measurement(scale, middle).map(d_in)[1] <= delta:
            high = middle
        else:
            low = middle + 1
    return scale, high, threshold_measurement(scale, high)


def calibrate(spec: Spec, epsilon: float, partition_delta: float = 0.0) -> Calibration:
    """Split `epsilon` evenly over every noisy quantity (partition selection included) and build them;
    OpenDP's maps, summed (basic composition), are the spend, never more than `epsilon`."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be positive")
    share = epsilon / spec.shares
    for _ in range(8):
        cal = _calibrate(spec, share, partition_delta)
        if cal.epsilon <= epsilon:
            return cal
        share *= 1 - 1e-12  # the float sum of the shares went one ulp over
    raise ValueError("the measurements spend more than epsilon")


def _calibrate(spec: Spec, share: float, partition_delta: float) -> Calibration:
    spent: list[float] = []
    cal = Calibration(spec, 0.0, 0.0, {}, {})
    for q in spec.quantities:
        if q.kind == "quantile":
            assert q.alpha is not None
            m = quantile.calibrate(
                q.candidates, q.alpha, contributions=q.sensitivity, grouped=q.grouped, epsilon=share
            )
            cal.scales[q.column], cal.measurements[q.column], used = m.scale, m.select, m.epsilon
            cal.quantiles[q.column] = m
        else:
            scale, meas, used = laplace_for(q.sensitivity, share)
            cal.scales[q.column], cal.measurements[q.column] = scale, meas
        spent.append(used)
    if spec.partition is not None:
        p = spec.partition
        scale, threshold, meas = partition_for(p, share, partition_delta)
        used_eps, used_delta = meas.map((p.l0, p.l1, p.linf))
        spent.append(float(used_eps))
        cal.delta = float(used_delta)
        cal.threshold, cal.partition_scale, cal.partition_measurement = threshold, scale, meas
    cal.epsilon = math.fsum(spent)
    return cal


def key_of(values: Sequence[Any]) -> str:
    """A group's key tuple as one map key for partition selection."""
    return json.dumps([None if v is None else str(v) for v in values])


@dataclass(frozen=True)
class Released:
    """Noisy cells by output name, the rows kept (by index into the exact rows), and the report."""

    values: dict[str, list[float]]
    kept: list[int]
    report: dict[str, Any]


def release(cal: Calibration, keys: Sequence[Sequence[Any]], cells: Mapping[str, Sequence[int]]) -> Released:
    """Noise every quantity (only on the rows partition selection keeps), then derive the outputs.

    `keys` holds each exact row's group key values (one empty tuple when ungrouped); `cells` the integer
    cells by quantity column. Everything after OpenDP's measurements is post-processing.
    """
    spec = cal.spec
    rows = list(range(len(keys)))
    partition: dict[str, Any] | None = None
    if spec.partition is not None and cal.partition_measurement is not None:
        counts = {key_of(keys[i]): int(cells[spec.partition.column][i]) for i in rows}
        survivors = cal.partition_measurement(counts)
        rows = [i for i in rows if key_of(keys[i]) in survivors]
        partition = {"threshold": cal.threshold, "scale": cal.partition_scale, "delta": cal.delta}
    noisy: dict[str, list[Any]] = {}
    for q in spec.quantities:
        if q.kind == "quantile":
            m = cal.quantiles[q.column]
            noisy[q.column] = [quantile.release(m, quantile.counts(cells[q.column][i])) for i in rows]
            continue
        exact = [int(cells[q.column][i]) for i in rows]
        noisy[q.column] = list(cal.measurements[q.column](exact)) if exact else []
    by_column = {q.column: q for q in spec.quantities}
    values: dict[str, list[float]] = {}
    outputs: list[dict[str, Any]] = []
    for o in spec.outputs:
        num = by_column[o.numerator]
        num_scale = cal.scales[o.numerator] / num.fixed_point
        top = [v / num.fixed_point for v in noisy[o.numerator]]
        entry: dict[str, Any] = {
            "name": o.name,
            "kind": o.kind,
            "column": o.column,
            "bounds": None if o.lower is None else [o.lower, o.upper],
            "contributions": o.contributions,
        }
        if o.kind == "quantile":
            values[o.name] = list(noisy[o.numerator])
            entry.update(_quantile_entry(cal.quantiles[o.numerator]))
        elif o.denominator is None:
            values[o.name] = [_sign_clip(v, o) for v in top]  # post-processing: a count is never < 0
            half = dp.discrete_laplacian_scale_to_accuracy(cal.scales[o.numerator], ALPHA) / num.fixed_point
            entry.update(scale=num_scale, ci95_half_width=half, ci95=[[v - half, v + half] for v in top])
        else:
            den_scale = cal.scales[o.denominator]
            bottom = [float(v) for v in noisy[o.denominator]]
            means = [t / max(b, 1.0) for t, b in zip(top, bottom, strict=True)]
            intervals = [
                _mean_interval(t, b, num_scale, den_scale, o) for t, b in zip(top, bottom, strict=True)
            ]
            values[o.name] = [_clip(m, o) for m in means]
            entry.update(scale={"sum": num_scale, "count": den_scale}, ci95=intervals, approximate=True)
        outputs.append(entry)
    report = {
        "mechanism": "discrete_laplace" + (", exponential (quantiles)" if cal.quantiles else ""),
        "epsilon_spent": cal.epsilon,
        "delta_spent": cal.delta,
        "contributions": spec.contributions,
        "outputs": outputs,
        "partition_selection": partition,
        "rows": len(rows),
    }
    return Released(values, rows, report)


def _sign_clip(value: float, o: Output) -> float:
    """Counts, and sums of values bounded below by 0 (or above by 0), cannot have the other sign."""
    if o.kind in ("count", "count_units") or (o.lower is not None and o.lower >= 0):
        return max(value, 0.0)
    if o.upper is not None and o.upper <= 0:
        return min(value, 0.0)
    return value


def _clip(value: float, o: Output) -> float:
    if o.lower is None or o.upper is None:
        return value
    return min(max(value, o.lower), o.upper)


def _mean_interval(
    total: float, count: float, sum_scale: float, count_scale: float, o: Output
) -> list[float]:
    """A conservative 95% interval for sum / count: each part's 97.5% Laplace bound, then the ratio's
    extremes, clipped to the declared bounds (post-processing of the noisy values only)."""
    t = dp.laplacian_scale_to_accuracy(sum_scale, ALPHA / 2)
    c = dp.discrete_laplacian_scale_to_accuracy(count_scale, ALPHA / 2)
    low_count = max(count - c, 1.0)
    candidates = [
        (total - t) / low_count,
        (total + t) / low_count,
        (total - t) / (count + c),
        (total + t) / (count + c),
    ]
    low, high = min(candidates), max(candidates)
    if o.lower is not None and o.upper is not None:
        low, high = max(low, o.lower), min(high, o.upper)
    return [low, high]


def _quantile_entry(m: quantile.Measured) -> dict[str, Any]:
    """A quantile's accuracy is a rank statement (`policies.privacy.quantile`): with 95% probability the
    released candidate's score is within `rank_error_95` rows of the best candidate's."""
    return {
        "alpha": m.alpha,
        "mechanism": "exponential (OpenDP noisy max over candidates)",
        "scale": m.rank_scale,
        "rank_error_95": m.rank_error_95,
        "candidates": len(m.candidates),
        "candidate_step": quantile.step_of(m.candidates),
    }
