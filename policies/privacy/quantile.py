r"""DP quantiles from per-candidate counts: OpenDP's own exponential mechanism, no pass over the rows.

OpenDP's quantile (`make_private_quantile`, and the Polars pipeline's `.dp.quantile(alpha,
candidates)`) is `make_quantile_score_candidates` followed by a noisy max (`make_noisy_max`, noisy
min of the scores). Its score of candidate c_k is

    score_k = | (den - num) * min(lt_k, S) - num * min(gt_k, S) |,  lt_k = #(x < c_k), gt_k = #(x > c_k)

with alpha ~ num / den and S = u64::MAX // den (OpenDP's score_candidates; a ceiling no real table
reaches). So the score depends on the data only through lt_k and gt_k. DuckDB, inside the workspace,
returns per group a histogram over 2K buckets of the clamped values (`policies.gate.bounded`):
bucket 2k holds x == c_k, bucket 2k + 1 holds c_k < x < c_(k+1) (c_K = +inf); values are clamped to
[L, U] = [c_0, ~c_(K-1)], so no value lies below c_0. Then

    lt_k = sum of buckets b < 2k,   gt_k = sum of buckets b > 2k,

exactly (the buckets partition the values and order them against every candidate), hence
`scores(histogram(x)) == make_quantile_score_candidates(x)` for every x: the two are the same
function of the data (tests/policies/privacy/test_quantile.py checks it against OpenDP on data with
ties on and next to every candidate). The noisy max applied to the same score vector is the same
random variable, so releasing `noisy_max(scores(histogram(x)))` is OpenDP's quantile mechanism on x,
and its privacy is OpenDP's map of the chain `score >> noisy_max`. num and den are not re-derived
here: they are read from OpenDP's own score transformation on two public probe vectors (one value
below every candidate scores den - num, one above scores num). The histogram is an aggregate: only
sandbox.workspace reads rows, and no per-row data ever leaves it.

Sensitivity: neighbours differ by one privacy unit's rows, at most c after truncation, so the
symmetric distance of one group's vector is at most c: ungrouped, the spend is map(c). Grouped, each
group is its own release over disjoint rows; a unit's c rows fall into groups g with d_g rows each,
sum d_g <= c, and OpenDP's map is linear in d_in (map(d) = d * map(1)), so the total is at most
c * map(1) (charged one ulp up for the float product).

Accuracy: the noisy max picks candidate k with probability at most exp(-(score_k - best) / s), s the
noise scale in score units, so P(the released candidate's score exceeds the best by more than
s * ln(K / 0.05)) <= 5% (union bound over the K candidates). In rows (score / den), that is the
`rank_error_95` the report states: with 95% probability the released value v has
|(1 - alpha) * #(x < v) - alpha * #(x > v)| within `rank_error_95` of the best candidate's. It is a
statement about ranks, not values: a value interval would need the data's spread, which is private.

>>> grid = candidates(0.0, 10.0, integer=True)
>>> len(grid), grid[:3]
(11, (0.0, 1.0, 2.0))
>>> m = calibrate(grid, 0.5, contributions=1, grouped=False, epsilon=1.0)
>>> # three values == 0 (bucket 0), one in (0, 1) (bucket 1), four == 5 (bucket 10): 1 to 4 split them 4 / 4
>>> m.epsilon <= 1.0, scores(m, {0: 3, 1: 1, 10: 4})[:3]
(True, [5, 0, 0])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import opendp.prelude as dp

dp.enable_features("contrib")

CANDIDATES = 100  # evenly spaced over the declared bounds (every integer when fewer fit)
ALPHA = 0.05  # 95% statements
_U64_MAX = 2**64 - 1


def candidates(lower: float, upper: float, integer: bool = False) -> tuple[float, ...]:
    """The public grid: L + k * h, the same doubles DuckDB computes from the same literals."""
    if integer and float(lower).is_integer() and upper - lower + 1 <= CANDIDATES:
        return tuple(float(v) for v in range(int(lower), int(upper) + 1))
    if lower == upper:
        return (float(lower),)
    step = (upper - lower) / (CANDIDATES - 1)
    return tuple(lower + k * step for k in range(CANDIDATES))


def step_of(grid: Sequence[float]) -> float:
    """The grid's spacing h (0 for one candidate): c_k = c_0 + k * h exactly as computed above."""
    return 0.0 if len(grid) < 2 else (grid[-1] - grid[0]) / (len(grid) - 1)


@dataclass
class Measured:
    """One quantile's OpenDP measurements and constants, built before any data is read."""

    candidates: tuple[float, ...]
    alpha: float
    alpha_num: int
    alpha_den: int
    scale: float  # noise scale in score units (OpenDP's); rows = scale / alpha_den
    epsilon: float  # what the ledger charges for this quantity
    select: dp.Measurement = field(repr=False)  # noisy min over the score vector -> index

    @property
    def size_limit(self) -> int:
        return _U64_MAX // self.alpha_den

    @property
    def rank_scale(self) -> float:
        return self.scale / self.alpha_den

    @property
    def rank_error_95(self) -> float:
        return self.rank_scale * math.log(len(self.candidates) / ALPHA)


def score_transformation(grid: Sequence[float], alpha: float) -> dp.Transformation:
    """OpenDP's own score: a vector of floats (unknown length) -> a u64 score per candidate."""
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    return dp.t.make_quantile_score_candidates(domain, dp.symmetric_distance(), list(grid), alpha)


def _chain(score: dp.Transformation, scale: float) -> tuple[dp.Measurement, dp.Measurement]:
    select = dp.m.make_noisy_max(
        score.output_domain, score.output_metric, dp.max_divergence(), scale=scale, negate=True
    )
    return score >> select, select


def calibrate(
    grid: Sequence[float], alpha: float, *, contributions: int, grouped: bool, epsilon: float
) -> Measured:
    """The least scale whose OpenDP map (of the whole chain score >> noisy max) stays within epsilon."""
    score = score_transformation(grid, alpha)
    below, above = score([grid[0] - 1.0]), score([grid[-1] + 1.0])
    num, den = int(above[0]), int(below[0]) + int(above[0])

    def spent(chain: dp.Measurement) -> float:
        if not grouped:
            return float(chain.map(contributions))
        return math.nextafter(contributions * float(chain.map(1)), math.inf)

    unit, _ = _chain(score, 1.0)
    scale = spent(unit) / epsilon  # the map is proportional to 1 / scale
    for _ in range(64):
        chain, select = _chain(score, scale)
        used = spent(chain)
        if used <= epsilon:
            return Measured(tuple(grid), alpha, num, den, scale, used, select)
        scale = math.nextafter(scale, math.inf)
    raise ValueError("no quantile scale meets the epsilon")


def counts(histogram: Mapping[int, int] | Iterable[tuple[int, int]] | None) -> dict[int, int]:
    """DuckDB's histogram() as bucket -> count (NULL, an empty group, is no values)."""
    if histogram is None:
        return {}
    items = histogram.items() if isinstance(histogram, Mapping) else histogram
    return {int(b): int(n) for b, n in items}


def scores(m: Measured, histogram: Mapping[int, int]) -> list[int]:
    """OpenDP's score of each candidate, from the bucket counts (see the module docstring)."""
    k = len(m.candidates)
    buckets = [0] * (2 * k)
    for b, n in histogram.items():
        buckets[b] += n
    total = sum(buckets)
    out: list[int] = []
    below = 0
    for i in range(k):
        lt = below
        gt = total - lt - buckets[2 * i]
        lt_lim, gt_lim = min(lt, m.size_limit), min(gt, m.size_limit)
        out.append(abs((m.alpha_den - m.alpha_num) * lt_lim - m.alpha_num * gt_lim))
        below += buckets[2 * i] + buckets[2 * i + 1]
    return out


def release(m: Measured, histogram: Mapping[int, int]) -> float:
    """OpenDP's noisy min over the scores picks the candidate released."""
    return m.candidates[int(m.select(scores(m, histogram)))]
