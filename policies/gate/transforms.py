"""The listed transforms: the only functions a column may pass through, wherever it stands.

GROUP BY, the matching SELECT item, and the column side of a WHERE test all read their expression
here, so the three places accept exactly the same functions:

- `date_trunc('<unit>', c)`, the unit a string literal from `_UNITS`;
- `extract(<part> FROM c)` with a part from `_PARTS`, and `year(c)`, `quarter(c)`, `month(c)`,
  `week(c)`, `day(c)`, `dayofweek(c)`, `isodow(c)`, `dayofyear(c)`, `hour(c)`;
- floor-bucketing `floor(c / n) * n` (either order of the product), `c // n` and `(c // n) * n`, with
  `n` a positive numeric literal, the same on both sides;
- `lower(c)`, `upper(c)`, `trim(c)`, and `coalesce(c, <literal>)`.

CASE mappings to literals are read by `keys`, since their conditions are WHERE tests.

Why these are safe: each maps ONE column's value, with literal arguments only, to a value no finer than
the column's own, so a query can learn through them nothing the bare column would not tell in the same
place. Nothing else of the row enters, and none can fail on a particular value: a type mismatch
(`year(district)`) fails when DuckDB binds the query, before any row is read, so none is an error
oracle. Transforms compose (`floor(year(c) / 10) * 10`, `lower(trim(c))`): the composition is still a
function of one column.

Which columns: the level decides, as for the bare column (`columns.PLACES`). GROUP BY and the SELECT
list take `group` and `public` columns only. Not `compare` dates, although `year(birth_date)` is a
natural key: issue 4 says group/public only, and rightly so, since the source unit chose `compare` so
that the column is filtered on and never shown, and a year of birth IS a shown value of that column.
A date that may be shown coarsely is registered as a `group` column, a decision for the source unit,
not for the query. In WHERE, `compare` columns pass through transforms too: `year(birth_date) >= 1980`
is `birth_date >= DATE '1980-01-01'` written another way.

The level is checked before the shape: a function over a column that may not stand in its place is
reported as that column's `level_violation` alone (`GROUP BY substr(resident_id, 1, 6)`,
`GROUP BY floor(income / 1000)`), since no rewording of the function would help.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> read = lambda sql: shape(sqlglot.parse_one(sql, read="duckdb"), Scope(Source(sql, ()), None))
>>> column, label, reasons = read("floor(year / 5) * 5")
>>> column.name, label, reasons
('year', 'bucket', [])
>>> read("substr(district, 1, 2)")[2][0].code
<ReasonCode.function_not_allowed: 'function_not_allowed'>
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policies.gate.columns import Place, level_reasons
from policies.gate.nodes import (
    column_refs,
    disallowed,
    has_aggregate,
    is_column,
    is_positive_number,
    literal_reason,
    unparen,
)
from policies.gate.plan import ColumnGrant
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_UNITS = frozenset(
    {"MILLENNIUM", "CENTURY", "DECADE", "YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"}
)
_PARTS = _UNITS | {"ISOYEAR", "DAYOFWEEK", "DOW", "ISODOW", "DAYOFYEAR", "DOY"}
_PART_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Year: "year",
    exp.Quarter: "quarter",
    exp.Month: "month",
    exp.Week: "week",
    exp.Day: "day",
    exp.DayOfMonth: "day",
    exp.DayOfWeek: "dayofweek",
    exp.DayOfWeekIso: "isodow",
    exp.DayOfYear: "dayofyear",
    exp.Hour: "hour",
}
_STRINGS: dict[type[exp.Expr], str] = {exp.Lower: "lower", exp.Upper: "upper", exp.Trim: "trim"}
# The node kinds a derived expression may start with (CASE is read by `keys`).
TRANSFORMS: tuple[type[exp.Expr], ...] = (
    exp.TimestampTrunc,
    exp.DateTrunc,
    exp.Extract,
    exp.Mul,
    exp.IntDiv,
    exp.Coalesce,
    *_PART_FUNCTIONS,
    *_STRINGS,
)
_TRUNC_HINT = "Write date_trunc('<unit>', c) with the unit one of: " + ", ".join(sorted(_UNITS)).lower() + "."
_PART_HINT = "Write extract(<part> FROM c) with the part one of: " + ", ".join(sorted(_PARTS)).lower() + "."
_BUCKET_HINT = "Bucket numbers as floor(c / n) * n or c // n, with n the same positive numeric literal."

Shaped = tuple[exp.Column | None, str, list[Reason]]


@dataclass(frozen=True)
class Derived:
    """An expression read as one column through listed transforms.

    `column` is None when the expression is refused (then `reasons` say why) or when its column is
    unusable (the columns pass said why); `label` names a default output, e.g. "month".
    """

    column: ColumnGrant | None
    label: str
    reasons: tuple[Reason, ...] = ()


def derive(node: exp.Expr, scope: Scope, place: Place) -> Derived:
    """Read `node` as one column of a level allowed at `place`, through listed transforms only."""
    node = unparen(node)
    columns = column_refs(node)
    if not columns or has_aggregate(node):
        return Derived(None, "", (disallowed(node, scope),))
    found = level_reasons(columns, place, scope)
    if found:
        return Derived(None, "", tuple(found))
    column, label, reasons = shape(node, scope)
    if reasons or column is None:
        return Derived(None, "", tuple(reasons))
    return Derived(resolve(column, scope)[0], label, ())


def shape(node: exp.Expr, scope: Scope) -> Shaped:
    """The column under a chain of listed transforms and the outermost transform's label, or reasons."""
    node = unparen(node)
    if is_column(node):
        return node, node.name, []
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
        return _truncate(node, scope)
    if isinstance(node, exp.Extract):
        part = node.this
        if not _only(node, "this", "expression") or not _named(part, _PARTS):
            return _refuse(ReasonCode.construct_not_allowed, "EXTRACT part", node, scope, _PART_HINT)
        return _inner(node.expression, part.name.lower(), scope)
    if type(node) in _PART_FUNCTIONS:
        if not _only(node, "this"):
            return _refuse(ReasonCode.function_not_allowed, _PART_FUNCTIONS[type(node)].upper(), node, scope)
        return _inner(node.this, _PART_FUNCTIONS[type(node)], scope)
    if isinstance(node, exp.Mul):
        return _bucket(node, scope)
    if isinstance(node, exp.IntDiv):
        if not is_positive_number(unparen(node.expression)):
            return _refuse(ReasonCode.construct_not_allowed, "//", node, scope, _BUCKET_HINT)
        return _inner(node.this, "bucket", scope)
    if type(node) in _STRINGS:
        name = _STRINGS[type(node)]
        if not _only(node, "this") or isinstance(node.this, exp.Distinct):
            hint = f"Write {name}(c) with the column as its only argument."
            return _refuse(ReasonCode.function_not_allowed, name.upper(), node, scope, hint)
        return _inner(node.this, name, scope)
    if isinstance(node, exp.Coalesce):
        fallback = node.expressions
        if len(fallback) != 1 or literal_reason(fallback[0], scope) is not None or node.args.get("is_null"):
            hint = "Write coalesce(c, <literal>): one column, then one literal."
            return _refuse(ReasonCode.function_not_allowed, "COALESCE", node, scope, hint)
        return _inner(node.this, "coalesce", scope)
    return None, "", [disallowed(node, scope)]


def _truncate(node: exp.TimestampTrunc | exp.DateTrunc, scope: Scope) -> Shaped:
    unit = node.args.get("unit")
    written = node.this is not None and scope.source.after_string_argument(node.this)
    if not _only(node, "this", "unit") or not _named(unit, _UNITS) or not written:
        return _refuse(ReasonCode.construct_not_allowed, "date_trunc unit", node, scope, _TRUNC_HINT)
    return _inner(node.this, unit.name.lower(), scope)


def _bucket(node: exp.Mul, scope: Scope) -> Shaped:
    for factor, width in ((node.this, node.expression), (node.expression, node.this)):
        factor, width = unparen(factor), unparen(width)
        if (
            isinstance(factor, exp.Floor)
            and _only(factor, "this")
            and isinstance(unparen(factor.this), exp.Div)
        ):
            divided = unparen(factor.this)
        elif isinstance(factor, exp.IntDiv):
            divided = factor
        else:
            continue
        divisor = unparen(divided.expression)
        if (
            is_positive_number(divisor)
            and is_positive_number(width)
            and float(divisor.name) == float(width.name)
        ):
            return _inner(divided.this, "bucket", scope)
    return _refuse(ReasonCode.construct_not_allowed, "*", node, scope, _BUCKET_HINT)


def _inner(node: exp.Expr | None, label: str, scope: Scope) -> Shaped:
    if node is None:
        return None, "", []
    column, _, reasons = shape(node, scope)
    return column, label, reasons


def _only(node: exp.Expr, *keys: str) -> bool:
    """True when `node` sets no argument beyond `keys` (no time zone, no trim characters, ...)."""
    return not any(value for key, value in node.args.items() if key not in keys)


def _named(node: exp.Expr | None, names: frozenset[str]) -> bool:
    """A keyword or string literal naming one of `names` (a date part or unit)."""
    is_name = isinstance(node, exp.Var) or (isinstance(node, exp.Literal) and node.is_string)
    return is_name and node is not None and node.name.upper() in names


def _refuse(
    code: ReasonCode, construct: str, node: exp.Expr, scope: Scope, hint: str | None = None
) -> Shaped:
    return None, "", [reason(code, construct, scope.source.position(node), hint)]
