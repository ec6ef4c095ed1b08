"""The aggregate allow-list: which aggregates may leave, over which columns, and what the plan calls them.

Each allowed aggregate has a units count the privacy layer can threshold (`rewrite` builds it):

| SQL | over | OutputKind |
|---|---|---|
| COUNT(*) | rows | count |
| COUNT(DISTINCT <privacy unit>) | the privacy unit only | count_units |
| COUNT(c) | an `aggregate` column: its non-NULL values | count_values |
| SUM(c), AVG(c) | an `aggregate` column | sum, avg |
| STDDEV(c) = STDDEV_SAMP(c), STDDEV_POP(c) | an `aggregate` column | stddev_samp, stddev_pop |
| VARIANCE(c) = VAR_SAMP(c), VAR_POP(c) | an `aggregate` column | var_samp, var_pop |
| SUM(CASE WHEN <condition> THEN c [ELSE 0 or NULL] END), AVG(...) | an `aggregate` column | sum, avg |
| MIN(c), MAX(c) | a `public` column | min, max |

Conditional aggregation is a WHERE for one cell: each WHEN is a condition (`conditions`) on
`group`/`compare`/`public` columns, each THEN the same `aggregate` column. Its units are the units for
which the CASE without its ELSE is not NULL: `ELSE 0` adds zeros, and a zero from a unit the condition
excludes says nothing about that unit, so only the matched units are behind the cell.

Refused: every aggregate that returns one row's value (MIN, MAX, FIRST, LAST, ANY_VALUE, ARG_MIN/MAX,
MODE, LIST, STRING_AGG, HISTOGRAM, APPROX_TOP_K, QUANTILE_DISC, MEDIAN, ...) over any column that is
not `public`; MIN and MAX of a `public` column are allowed, since that column may be shown anyway.
Continuous quantiles (QUANTILE_CONT, PERCENTILE_CONT) interpolate between rows' values and equal one
row's value whenever the position is whole, so they are allowed only where noise is added: in `dp`
mode (`Scope.mode`), as MEDIAN(c), QUANTILE_CONT(c, p) or PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY c)
with one literal p in [0, 1] over an `aggregate` column (kind `quantile`, `alpha` = p). The dp layer
releases one of a fixed grid of candidates (`policies.privacy.quantile`), never a row's value, so
continuous or discrete makes no difference there; the DISC spellings, QUANTILE, APPROX_QUANTILE, a
list of fractions and ORDER BY ... DESC are refused by name all the same, to keep one meaning per
spelling. DISTINCT (except COUNT(DISTINCT <privacy unit>)), FILTER, ORDER BY
inside an aggregate, and expressions as arguments are refused with the aggregate.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> from policies.gate.plan import ColumnGrant, TableGrant
>>> from policies.levels import ColumnLevel
>>> grant = TableGrant("t", "ds", {"x": ColumnGrant("x", ColumnLevel.aggregate)}, frozenset({"x"}), "x")
>>> scope = Scope(Source("", ()), grant, frozenset({"t"}))
>>> read(sqlglot.parse_one("STDDEV_POP(x)", read="duckdb"), scope)[0]  # doctest: +ELLIPSIS
Aggregate(kind=<OutputKind.stddev_pop: 'stddev_pop'>, source='x', label='stddev_pop_x', case=None, ...)
>>> read(sqlglot.parse_one("QUANTILE_CONT(x, 0.5)", read="duckdb"), scope)[1][0].hint[:40]
'Continuous quantiles need noise: they ar'
>>> dp = Scope(Source("", ()), grant, frozenset({"t"}), mode="dp")
>>> read(sqlglot.parse_one("QUANTILE_CONT(x, 0.9)", read="duckdb"), dp)[0].alpha
0.9
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policies.gate.columns import PLACES, Place, level_reason
from policies.gate.conditions import condition
from policies.gate.nodes import construct, function_name, is_column, unparen
from policies.gate.plan import OutputKind
from policies.gate.reasons import AGGREGATE_HINT, Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_KINDS: dict[type[exp.Expr], OutputKind] = {
    exp.Sum: OutputKind.sum,
    exp.Avg: OutputKind.avg,
    exp.Stddev: OutputKind.stddev_samp,
    exp.StddevSamp: OutputKind.stddev_samp,
    exp.StddevPop: OutputKind.stddev_pop,
    exp.Variance: OutputKind.var_samp,
    exp.VariancePop: OutputKind.var_pop,
    exp.Min: OutputKind.min,
    exp.Max: OutputKind.max,
}
# The aggregate node each kind is rewritten to (COUNT(c) is exp.Count).
FUNCTIONS: dict[OutputKind, type[exp.Func]] = {
    OutputKind.count_values: exp.Count,
    OutputKind.sum: exp.Sum,
    OutputKind.avg: exp.Avg,
    OutputKind.stddev_samp: exp.StddevSamp,
    OutputKind.stddev_pop: exp.StddevPop,
    OutputKind.var_samp: exp.Variance,
    OutputKind.var_pop: exp.VariancePop,
    OutputKind.min: exp.Min,
    OutputKind.max: exp.Max,
}
_CONDITIONAL = frozenset({OutputKind.sum, OutputKind.avg})
_EXTREMES = frozenset({OutputKind.min, OutputKind.max})
_QUANTILE_HINT = (
    "Continuous quantiles need noise: they are offered in dp mode. In sdc mode use AVG, or COUNT(*) "
    "over bucketed group keys."
)
QUANTILES = (exp.PercentileCont, exp.PercentileDisc, exp.Median, exp.Quantile, exp.ApproxQuantile)
DP_QUANTILE_HINT = (
    "In dp mode write MEDIAN(c), QUANTILE_CONT(c, p) or PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY c), "
    "with one literal fraction p between 0 and 1, over an aggregate column with declared bounds."
)
_EXTREME_HINT = "MIN and MAX return one row's value: they are allowed only over public columns."
_CASE_HINT = (
    "Write SUM or AVG of CASE WHEN <condition> THEN <aggregate column> [ELSE 0] END, "
    "with the same column in every THEN."
)


@dataclass(frozen=True)
class Aggregate:
    """One allowed aggregate: its kind, its granted column (None for COUNT(*)), a default output name,
    and for conditional aggregation the CASE it aggregates, as written."""

    kind: OutputKind
    source: str | None
    label: str
    case: exp.Case | None = None
    table: str | None = None  # the table of `source`
    alpha: float | None = None  # a quantile's fraction (dp mode only)


def read(node: exp.Expr, scope: Scope) -> tuple[Aggregate | None, list[Reason]]:
    """Read an aggregate call; an Aggregate only when it is allowed (its columns may still carry
    reasons of their own, reported by the columns pass)."""
    if scope.mode == "dp" and is_quantile(node):
        return _quantile(node, scope)
    name = function_name(node, scope)
    refused = [reason(ReasonCode.aggregate_not_allowed, name, scope.source.position(node), AGGREGATE_HINT)]
    extra = any(value for key, value in node.args.items() if key not in ("this", "big_int"))
    argument = node.this
    if isinstance(node, exp.PercentileCont):
        return None, [
            reason(ReasonCode.aggregate_not_allowed, name, scope.source.position(node), _QUANTILE_HINT)
        ]
    if extra or argument is None:
        return None, refused
    if isinstance(node, exp.Count):
        return _count(node, argument, scope, refused)
    kind = _KINDS.get(type(node))
    if kind is None:
        return None, refused
    if isinstance(argument, exp.Columns):
        return None, [construct("COLUMNS", argument, scope)]
    label = f"{name.lower()}_"
    if kind in _EXTREMES:
        granted = resolve(argument, scope)[0] if is_column(argument) else None
        if granted is None or granted.level not in PLACES[Place.extreme]:
            return None, [reason(ReasonCode.aggregate_not_allowed, name, refused[0].position, _EXTREME_HINT)]
        return Aggregate(kind, granted.name, label + granted.name, table=granted.table), []
    if kind in _CONDITIONAL and isinstance(unparen(argument), exp.Case):
        return _conditional(unparen(argument), kind, label, scope, refused)
    if not is_column(argument):
        return None, refused
    return _column(argument, kind, label, scope)


def _count(
    node: exp.Count, argument: exp.Expr, scope: Scope, refused: list[Reason]
) -> tuple[Aggregate | None, list[Reason]]:
    if isinstance(argument, exp.Star):
        return Aggregate(OutputKind.count, None, "count"), []
    if is_column(argument):
        return _column(argument, OutputKind.count_values, "count_", scope)
    distinct = argument.expressions if isinstance(argument, exp.Distinct) else []
    if len(distinct) != 1 or argument.args.get("on") or not is_column(distinct[0]):
        return None, refused
    granted = resolve(distinct[0], scope)[0]
    if granted is None:
        return None, []  # unusable column: the columns pass said why
    found = level_reason(granted, Place.count_distinct, distinct[0], scope)
    if found is not None:
        return None, [found]
    label = f"count_distinct_{granted.name}"
    return Aggregate(OutputKind.count_units, granted.name, label, table=granted.table), []


def _column(
    column: exp.Column, kind: OutputKind, label: str, scope: Scope
) -> tuple[Aggregate | None, list[Reason]]:
    granted = resolve(column, scope)[0]
    if granted is None:
        return None, []  # unusable column: the columns pass said why
    found = level_reason(granted, Place.aggregated, column, scope)
    if found is not None:
        return None, [found]
    return Aggregate(kind, granted.name, label + granted.name, table=granted.table), []


def _conditional(
    case: exp.Case, kind: OutputKind, label: str, scope: Scope, refused: list[Reason]
) -> tuple[Aggregate | None, list[Reason]]:
    """SUM/AVG(CASE WHEN <condition> THEN <aggregate column> ... [ELSE 0 | NULL] END)."""
    branches = case.args.get("ifs") or []
    default = case.args.get("default")
    values = [unparen(branch.args.get("true")) for branch in branches]
    hint = reason(ReasonCode.aggregate_not_allowed, refused[0].construct, refused[0].position, _CASE_HINT)
    if case.this is not None or not branches or not all(is_column(value) for value in values):
        return None, [hint]
    if default is not None and not _is_zero_or_null(default):
        return None, [hint]
    reasons: list[Reason] = []
    for branch in branches:
        reasons.extend(condition(branch.this, scope))
    sources = set()
    tables = set()
    for value in values:
        granted = resolve(value, scope)[0]
        if granted is None:
            continue  # unusable column: the columns pass said why
        found = level_reason(granted, Place.aggregated, value, scope)
        if found is not None:
            reasons.append(found)
        sources.add(granted.name)
        tables.add(granted.table)
    if len(sources) > 1 or len(tables) > 1:
        reasons.append(hint)
    if reasons or len(sources) != 1:
        return None, reasons
    (source,), (table,) = sources, tables
    return Aggregate(kind, source, f"{label}case_{source}", case, table), []


def _is_zero_or_null(node: exp.Expr) -> bool:
    node = unparen(node)
    if isinstance(node, exp.Null):
        return True
    return isinstance(node, exp.Literal) and not node.is_string and node.name.strip("0.") == ""


def is_quantile(node: exp.Expr) -> bool:
    """A quantile call, bare or as the aggregate of WITHIN GROUP."""
    return isinstance(node.this if isinstance(node, exp.WithinGroup) else node, QUANTILES)


def _quantile(node: exp.Expr, scope: Scope) -> tuple[Aggregate | None, list[Reason]]:
    """dp mode: MEDIAN(c), QUANTILE_CONT(c, p), PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY c)."""
    call = node.this if isinstance(node, exp.WithinGroup) else node
    name = function_name(call, scope)
    position = scope.source.position(node)

    def refuse(construct: str) -> tuple[Aggregate | None, list[Reason]]:
        return None, [reason(ReasonCode.dp_aggregate_not_supported, construct, position, DP_QUANTILE_HINT)]

    if not isinstance(call, exp.Median | exp.PercentileCont):
        return refuse(name)
    if any(value for key, value in call.args.items() if key not in ("this", "expression")):
        return refuse(name)
    if isinstance(node, exp.WithinGroup):
        order = node.expression
        ordered = order.expressions if isinstance(order, exp.Order) else []
        if len(ordered) != 1 or not isinstance(ordered[0], exp.Ordered):
            return refuse(f"{name} WITHIN GROUP")
        if ordered[0].args.get("desc"):
            return refuse(f"{name} WITHIN GROUP (ORDER BY ... DESC)")
        column, fraction = ordered[0].this, call.this
    elif isinstance(call, exp.Median):
        column, fraction = call.this, exp.Literal.number("0.5")
    else:
        column, fraction = call.this, call.args.get("expression")
    alpha = _fraction(fraction)
    if alpha is None:
        return refuse(f"{name} fraction")
    if not is_column(column):
        return refuse(name)
    aggregate, found = _column(column, OutputKind.quantile, f"{name.lower()}_", scope)
    if aggregate is None:
        return None, found
    return Aggregate(aggregate.kind, aggregate.source, aggregate.label, None, aggregate.table, alpha), []


def _fraction(node: exp.Expr | None) -> float | None:
    """One numeric literal between 0 and 1 (a list of fractions or an expression is not one)."""
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    try:
        value = float(node.name)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None
