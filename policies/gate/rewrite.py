r"""Last step: the plan the workspace runs, built fresh from the checked reading of the query.

The SQL is generated, not edited: every output is aliased to its name, every column reference is
quoted and qualified by the table (so no output alias can capture it), and companion columns count the
privacy units behind each row and each aggregate cell for the privacy layer's thresholds.

Why `COUNT(*)` may stand in for `COUNT(DISTINCT unit)`: when the dataset has at most one row per unit,
each row in a group is a different unit, so the two counts are equal; likewise `COUNT(x)` counts the
distinct units with a non-NULL `x`. The distinct count is the slow one, so the shortcut is taken
whenever registration recorded `max_rows_per_unit == 1`. And when the dataset version holds no NULL in
`x` (`ColumnGrant.nullable` is False), every unit of a group contributes to SUM(x), so the cell's units
are the row's `__units` and no companion column is computed at all. The same holds for COUNT(x),
STDDEV and VARIANCE of `x`, which also skip NULLs.

A conditional aggregate `SUM(CASE WHEN cond THEN x ELSE 0 END)` counts, in its companion, the units for
which `CASE WHEN cond THEN x END` (the same CASE without its ELSE) is not NULL: the units the condition
matched and that have an `x`. MIN and MAX are of public columns only, so the row's count stands.
Derived group keys are selected and grouped by the same expression, requalified like every column.

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> levels = {"pid": ColumnLevel.join_key, "d": ColumnLevel.group, "x": ColumnLevel.aggregate}
>>> columns = {c: ColumnGrant(c, v) for c, v in levels.items()}
>>> grant = TableGrant("t", "ds", columns, frozenset(levels), "pid", 1)
>>> plan = check("SELECT lower(d) AS k, SUM(CASE WHEN d = 'a' THEN x ELSE 0 END) AS s FROM t GROUP BY k",
...              GateContext(tables={"t": grant})).plan
>>> print(plan.sql.replace(" FROM", "\nFROM").replace(", COUNT", ",\nCOUNT"))
SELECT LOWER("t"."d") AS "k", SUM(CASE WHEN "t"."d" = 'a' THEN "t"."x" ELSE 0 END) AS "s",
COUNT(*) AS "__units",
COUNT(CASE WHEN "t"."d" = 'a' THEN "t"."x" END) AS "__units_1"
FROM "t" GROUP BY LOWER("t"."d")
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate import keys
from policies.gate.aggregates import FUNCTIONS
from policies.gate.columns import names_output
from policies.gate.parse import DIALECT
from policies.gate.plan import OutputColumn, OutputKind, Plan, TableGrant
from policies.gate.project import Output, classify
from policies.gate.scope import Scope, resolve

UNITS = "__units"


class _Columns:
    """Builds qualified, quoted references to granted columns and remembers which were used."""

    def __init__(self, grant: TableGrant) -> None:
        self.table = grant.name
        self.used: set[str] = set()

    def __call__(self, name: str) -> exp.Column:
        self.used.add(name)
        return exp.column(name, table=self.table, quoted=True)


def rewrite(tree: exp.Select, scope: Scope) -> Plan:
    """The plan for an allowed query (every pass found no reason, so each item classifies)."""
    grant = scope.grant
    if grant is None:
        raise ValueError("rewrite needs the table grant")
    column = _Columns(grant)
    grouped = keys.grouped(tree, scope)
    outputs: list[Output] = []
    for item in tree.expressions:
        output = classify(item, scope, grouped)[0]
        if output is None:
            raise ValueError("rewrite of a refused SELECT item")
        outputs.append(output)

    one_row = grant.max_rows_per_unit == 1
    units = exp.Count(this=exp.Star()) if one_row else _distinct(column(grant.privacy_unit))
    selected: list[exp.Expr] = []
    companions: list[exp.Expr] = []
    described: list[OutputColumn] = []
    for index, output in enumerate(outputs):
        value, counted = _value(output, grant, scope, column)
        units_column = None if output.kind is OutputKind.group else UNITS
        if counted is not None:
            units_column = f"{UNITS}_{index}"
            if one_row:
                companion: exp.Expr = exp.Count(this=counted)
            else:
                contributes = exp.Not(this=exp.Is(this=counted, expression=exp.Null()))
                companion = _distinct(exp.Case().when(contributes, column(grant.privacy_unit)))
            companions.append(companion.as_(units_column, quoted=True))
        selected.append(value.as_(output.name, quoted=True))
        described.append(OutputColumn(output.name, output.kind, output.source, units_column))

    query = exp.select(*selected, units.as_(UNITS, quoted=True), *companions).from_(
        exp.to_table(exp.to_identifier(grant.name, quoted=True))
    )
    where = tree.args.get("where")
    if where is not None:
        query = query.where(_requalified(where.this, scope, column))
    group = tree.args.get("group")
    if group is not None:
        query = query.group_by(
            *(_requalified(keys.expression(key, scope), scope, column) for key in group.expressions)
        )
    order = tree.args.get("order")
    if order is not None:
        query = query.order_by(
            *(_order_key(ordered, scope, column, outputs) for ordered in order.expressions)
        )
    limit = tree.args.get("limit")
    if limit is not None:
        query = query.limit(limit.expression.copy())
    return Plan(
        sql=query.sql(dialect=DIALECT, identify=True, comments=False),
        tables=(grant.name,),
        outputs=tuple(described),
        group_units_column=UNITS,
        columns_used={grant.name: tuple(sorted(column.used))},
    )


def _value(
    output: Output, grant: TableGrant, scope: Scope, column: _Columns
) -> tuple[exp.Expr, exp.Expr | None]:
    """The output's expression, and what its units companion counts (None: the row's units stand)."""
    kind = output.kind
    if kind is OutputKind.group:
        if output.expression is not None:
            return _requalified(output.expression, scope, column), None
        return column(_source(output)), None
    if kind is OutputKind.count:
        return exp.Count(this=exp.Star()), None
    if kind is OutputKind.count_units:
        return _distinct(column(_source(output))), None
    function = FUNCTIONS[kind]
    if isinstance(output.expression, exp.Case):
        case = _requalified(output.expression, scope, column)
        matched = case.copy()
        matched.set("default", None)  # ELSE 0 adds zeros, not units: count the matched units only
        return function(this=case), matched
    source = column(_source(output))
    if kind in (OutputKind.min, OutputKind.max) or not grant.columns[_source(output)].nullable:
        # A public column (nothing to protect), or no NULLs: every unit of the group is behind the cell.
        return function(this=source), None
    return function(this=source), source.copy()


def _distinct(value: exp.Expr) -> exp.Count:
    return exp.Count(this=exp.Distinct(expressions=[value]))


def _source(output: Output) -> str:
    if output.source is None:
        raise ValueError("an output without a source column")
    return output.source


def _requalified(node: exp.Expr, scope: Scope, column: _Columns) -> exp.Expr:
    return node.copy().transform(lambda inner: _requalify(inner, scope, column))


def _requalify(node: exp.Expr, scope: Scope, column: _Columns) -> exp.Expr:
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        granted = resolve(node, scope)[0]
        if granted is None:
            raise ValueError("rewrite of an unresolved column")
        return column(granted.name)
    return node


def _order_key(ordered: exp.Ordered, scope: Scope, column: _Columns, outputs: list[Output]) -> exp.Ordered:
    key = ordered.this
    copy = ordered.copy()
    if isinstance(key, exp.Column) and names_output(key, scope):
        name = next(output.name for output in outputs if output.name.lower() == key.name.lower())
        copy.set("this", exp.column(name, quoted=True))
    else:
        copy.set("this", _requalified(key, scope, column))
    return copy
