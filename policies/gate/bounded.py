r"""The dp-mode rewrite: DuckDB computes exact *bounded* integer cells; OpenDP adds the noise later.

Every vault file carries two reserved columns the workspace views expose and no operator can name:
`__unit` (an ordinal of the privacy unit) and `__rank` (1-based rank of the row within its unit, in a
seeded random order fixed at registration). So:

- contribution bounding is the cheap filter `"__rank" <= c` (c: the bundle's bound, or the version's
  `max_rows_per_unit` when smaller; joined on the privacy unit, a person has at most the product of
  the tables' bounds joined rows);
- values are clamped, `GREATEST(LEAST(x, U), L)` (NULL stays NULL), and summed as fixed-point integers
  `ROUND(x * 100)::BIGINT`, so the cell is exact and deterministic and its sensitivity is an integer;
- with public key sets, the keys are a VALUES list LEFT JOINed to the cells, so every key is present,
  an empty group as zeros; without one, a `__rows` cell per group feeds partition selection.

No `random()` and no noise here: the SQL is deterministic, and `policies.privacy.dp` derives each
cell's sensitivity (see its docstring) from the `Spec` this module plans.

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> cols = {"pid": ColumnGrant("pid", ColumnLevel.join_key),
...         "d": ColumnGrant("d", ColumnLevel.group, public_keys=("a", "b")),
...         "x": ColumnGrant("x", ColumnLevel.aggregate, lower=0.0, upper=10.0)}
>>> grant = TableGrant("t", "ds", cols, frozenset(cols), "pid", 3)
>>> plan = check("SELECT d, SUM(x) AS s FROM t GROUP BY d", GateContext({"t": grant}, "dp", 2)).plan
>>> sql = plan.sql
>>> "(VALUES ('a'), ('b'))" in sql, '"t"."__rank" <= 2' in sql, 'LEAST(CAST("t"."x" AS DOUBLE), 10.0)' in sql
(True, True, True)
>>> plan.dp["quantities"][0]["sensitivity"], plan.dp["outputs"][0]["contributions"]
(2000, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from policies.gate import keys
from policies.gate.dp_shape import bound_column, keyset, outputs
from policies.gate.parse import DIALECT
from policies.gate.plan import ColumnGrant, OutputColumn, OutputKind, Plan
from policies.gate.project import Output
from policies.gate.rewrite import _Columns, _requalified
from policies.gate.scope import Scope
from policies.privacy.dp import FIXED_POINT, Partition, Quantity, Spec
from policies.privacy.dp import Output as DpOutput
from policies.privacy.quantile import candidates, step_of

UNIT = "__unit"
RANK = "__rank"
ROWS = "__rows"


def rewrite(tree: exp.Select, scope: Scope, contributions: int) -> Plan:
    """The plan of an allowed dp query (every pass, `dp_shape` included, found no reason)."""
    grants = [bound.grant for bound in scope.bound if bound.grant is not None]
    if not grants or len(grants) != len(scope.bound):
        raise ValueError("rewrite needs the table grants")
    column = _Columns(grants[0].name)
    limits = {g.name: max(1, min(contributions, g.max_rows_per_unit or contributions)) for g in grants}
    c = math.prod(limits.values())
    read = [output for _, output in outputs(tree, scope)]
    if any(output is None for output in read):
        raise ValueError("rewrite of a refused SELECT item")
    items: list[Output] = [o for o in read if o is not None]
    key_outputs = [o for o in items if o.kind is OutputKind.group]
    grouped = bool(key_outputs)

    selected: list[exp.Expr] = []
    quantities: list[Quantity] = []
    released: list[DpOutput] = []
    for o in key_outputs:
        value = (
            _requalified(o.expression, scope, column)
            if o.expression is not None
            else column(o.source or "", o.table)
        )
        selected.append(value.as_(o.name, quoted=True))

    def add(kind: str, node: exp.Expr, sensitivity: int, fixed_point: int = 1, **extra: Any) -> str:
        name = f"__q{len(quantities)}"
        cell = node if kind == "quantile" else exp.func("COALESCE", node, exp.Literal.number(0))
        selected.append(cell.as_(name, quoted=True))
        quantities.append(Quantity(name, kind, sensitivity, fixed_point, **extra))
        return name

    described: list[OutputColumn] = []
    for o in items:
        described.append(OutputColumn(o.name, o.kind, o.source, None, o.table))
        if o.kind is OutputKind.group:
            continue
        if o.kind is OutputKind.count:
            q = add("count", exp.Count(this=exp.Star()), c)
            released.append(DpOutput(o.name, "count", q, contributions=c))
        elif o.kind is OutputKind.count_units:
            unit = exp.column(UNIT, table=o.table or grants[0].name, quoted=True)
            q = add("count_units", exp.Count(this=exp.Distinct(expressions=[unit])), c if grouped else 1)
            released.append(DpOutput(o.name, "count_units", q, contributions=c))
        else:
            granted = bound_column(o, scope)
            assert granted is not None and granted.lower is not None and granted.upper is not None
            lower, upper = float(granted.lower), float(granted.upper)
            source = column(o.source or "", o.table)
            if o.kind is OutputKind.quantile:
                assert o.alpha is not None
                grid = candidates(lower, upper, integer=granted.type in _INTEGERS)
                node = exp.func("HISTOGRAM", _bucket(source, granted, grid))
                q = add("quantile", node, c, alpha=o.alpha, candidates=grid, grouped=grouped)
                released.append(DpOutput(o.name, "quantile", q, None, o.source, lower, upper, c))
                continue
            fixed = _fixed_point(source, granted, lower, upper)
            m = math.ceil(max(abs(lower), abs(upper)) * FIXED_POINT)
            s = add("sum", exp.Sum(this=fixed), c * m, FIXED_POINT)
            if o.kind is OutputKind.sum:
                released.append(DpOutput(o.name, "sum", s, None, o.source, lower, upper, c))
            else:
                n = add("count_values", exp.Count(this=source.copy()), c)
                released.append(DpOutput(o.name, "avg", s, n, o.source, lower, upper, c))

    sets = [keyset(o, scope) for o in key_outputs]
    public = grouped and all(s is not None for s in sets)
    partition = None
    if grouped and not public:
        selected.append(exp.Count(this=exp.Star()).as_(ROWS, quoted=True))
        partition = Partition(ROWS, c, c, c)

    inner = exp.select(*selected).from_(_table(grants[0].name))
    for bound in scope.bound[1:]:
        assert bound.grant is not None and bound.join is not None
        inner = inner.join(_table(bound.grant.name), on=_requalified(bound.join.args["on"], scope, column))
    where = tree.args.get("where")
    ranks = [  # a version with at most `limit` rows per unit needs no filter: every rank is <= limit
        exp.LTE(
            this=exp.column(RANK, table=g.name, quoted=True), expression=exp.Literal.number(limits[g.name])
        )
        for g in grants
        if g.max_rows_per_unit is None or g.max_rows_per_unit > limits[g.name]
    ]
    conditions = ([exp.paren(_requalified(where.this, scope, column))] if where is not None else []) + ranks
    if conditions:
        inner = inner.where(exp.and_(*conditions))
    group = tree.args.get("group")
    if group is not None:
        inner = inner.group_by(
            *(_requalified(keys.expression(k, scope), scope, column) for k in group.expressions)
        )

    sql = inner.sql(dialect=DIALECT, identify=True, comments=False)
    if public:
        cells = [(q.column, q.kind != "quantile") for q in quantities]  # an empty histogram stays NULL
        sql = _with_keys(sql, key_outputs, [s or () for s in sets], cells)
    spec = Spec(tuple(quantities), tuple(released), tuple(o.name for o in key_outputs), partition, c)
    return Plan(
        sql=sql,
        tables=tuple(g.name for g in grants),
        outputs=tuple(described),
        group_units_column=ROWS,
        columns_used={g.name: tuple(sorted(column.used.get(g.name, ()))) for g in grants},
        dp=spec.to_dict(),
    )


_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"})


def _fixed_point(source: exp.Column, granted: ColumnGrant, lower: float, upper: float) -> exp.Expr:
    """`x` clamped to [lower, upper], in hundredths, as BIGINT. An integer column with integer bounds
    is clamped and scaled in integer arithmetic (exact, and cheaper than through DOUBLE)."""
    if granted.type in _INTEGERS and lower.is_integer() and upper.is_integer():
        value: exp.Expr = exp.cast(source, "BIGINT")
        low, high = exp.Literal.number(int(lower)), exp.Literal.number(int(upper))
        clamped = exp.func("GREATEST", exp.func("LEAST", value, high), low)
        return exp.Mul(this=clamped, expression=exp.Literal.number(FIXED_POINT))  # NULL stays NULL
    clamped = exp.func(
        "GREATEST", exp.func("LEAST", exp.cast(source, "DOUBLE"), _number(upper)), _number(lower)
    )
    fixed = exp.cast(
        exp.func("ROUND", exp.Mul(this=clamped, expression=exp.Literal.number(FIXED_POINT))), "BIGINT"
    )
    if not granted.nullable:
        return fixed
    # DuckDB's LEAST/GREATEST skip NULLs (LEAST(NULL, U) is U): keep a missing value missing.
    return exp.Case().when(exp.Not(this=exp.Is(this=source.copy(), expression=exp.Null())), fixed)


def _bucket(source: exp.Column, granted: ColumnGrant, grid: Sequence[float]) -> exp.Expr:
    """The histogram bucket of x clamped to [c_0, U]: 2k for x == c_k, 2k + 1 for c_k < x < c_(k+1).

    j = #(candidates <= x) is estimated as floor((x - c_0) / h) + 1 and then corrected by comparing x
    with the very doubles c_(j-1) and c_j (c_0 + k * h, as `candidates` computes them): the quotient
    is within a few ulps, so the estimate is off by at most one, and the two comparisons undo that;
    rounding never moves a value into the wrong bucket. Literals are written in exponent form:
    DuckDB reads them as DOUBLE (a plain 3030.30... would be a DECIMAL, exact but ten times slower).
    """
    k, low, step = len(grid), _double(grid[0]), _double(step_of(grid))
    high = _double(float(granted.upper if granted.upper is not None else grid[-1]))
    x = f"GREATEST(LEAST(CAST({source.sql(dialect=DIALECT)} AS DOUBLE), {high}), {low})"
    if k == 1:
        text = f"CAST({x} > {low} AS BIGINT)"
    else:
        e = f"LEAST(GREATEST(CAST(FLOOR(({x} - {low}) / {step}) AS BIGINT) + 1, 1), {k})"
        j = (
            f"({e} - CAST({x} < {low} + ({e} - 1) * {step} AS BIGINT)"
            f" + CAST({e} < {k} AND {x} >= {low} + {e} * {step} AS BIGINT))"
        )
        text = f"(2 * ({j} - 1) + CAST({x} > {low} + ({j} - 1) * {step} AS BIGINT))"
    bucket = sqlglot.parse_one(text, read=DIALECT)
    if not granted.nullable:
        return bucket
    return exp.Case().when(exp.Not(this=exp.Is(this=source.copy(), expression=exp.Null())), bucket)


def _double(value: float) -> str:
    return f"{value:.17e}"


def _with_keys(
    inner: str, key_outputs: list[Output], sets: list[tuple[str, ...]], cells: list[tuple[str, bool]]
) -> str:
    """Every combination of the public keys, LEFT JOINed to the cells: empty groups are zeros."""
    combos: list[tuple[str, ...]] = [()]
    for values in sets:
        combos = [(*combo, value) for combo in combos for value in values]
    names = [f"k{i}" for i in range(len(key_outputs))]
    rows = ", ".join(
        "(" + ", ".join(exp.Literal.string(v).sql(dialect=DIALECT) for v in combo) + ")" for combo in combos
    )
    keys_sql = ", ".join(
        f'"__keys"."{n}" AS {exp.to_identifier(o.name, quoted=True).sql(dialect=DIALECT)}'
        for n, o in zip(names, key_outputs, strict=True)
    )
    cells_sql = ", ".join(
        f'COALESCE("__cells"."{c}", 0) AS "{c}"' if zero else f'"__cells"."{c}" AS "{c}"' for c, zero in cells
    )
    on = " AND ".join(
        f'CAST("__cells".{_ident(o.name)} AS TEXT) = "__keys"."{n}"'
        for n, o in zip(names, key_outputs, strict=True)
    )
    columns = ", ".join(f'"{n}"' for n in names)
    return (
        f'SELECT {keys_sql}, {cells_sql} FROM (VALUES {rows}) AS "__keys"({columns}) '
        f'LEFT JOIN ({inner}) AS "__cells" ON {on}'
    )


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)


def _number(value: float) -> exp.Expr:
    literal = exp.Literal.number(repr(abs(value)))
    return exp.Neg(this=literal) if value < 0 else literal


def _table(name: str) -> exp.Table:
    return exp.to_table(exp.to_identifier(name, quoted=True))
