"""Last step: the plan the workspace runs, built fresh from the checked reading of the query.

The SQL is generated, not edited: every output is aliased to its name, every column reference is
quoted and qualified by the table (so no output alias can capture it), and companion columns count the
privacy units behind each row and each aggregate cell for the privacy layer's thresholds.

Why `COUNT(*)` may stand in for `COUNT(DISTINCT unit)`: when the dataset has at most one row per unit,
each row in a group is a different unit, so the two counts are equal; likewise `COUNT(x)` counts the
distinct units with a non-NULL `x`. The distinct count is the slow one, so the shortcut is taken
whenever registration recorded `max_rows_per_unit == 1`. And when the dataset version holds no NULL in
`x` (`ColumnGrant.nullable` is False), every unit of a group contributes to SUM(x), so the cell's units
are the row's `__units` and no companion column is computed at all.
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.columns import names_output
from policies.gate.parse import DIALECT
from policies.gate.plan import OutputColumn, OutputKind, Plan, TableGrant
from policies.gate.project import Output, classify, grouped_columns
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
    grouped = grouped_columns(tree, scope)
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
        units_column: str | None = UNITS
        if output.kind is OutputKind.group:
            value: exp.Expr = column(_source(output))
            units_column = None
        elif output.kind is OutputKind.count:
            value = exp.Count(this=exp.Star())
        elif output.kind is OutputKind.count_units:
            value = _distinct(column(grant.privacy_unit))
        else:
            source = column(_source(output))
            value = (exp.Sum if output.kind is OutputKind.sum else exp.Avg)(this=source)
            if not grant.columns[_source(output)].nullable:
                # No NULLs: every unit of the group contributes to the cell, so the row's count stands.
                selected.append(value.as_(output.name, quoted=True))
                described.append(OutputColumn(output.name, output.kind, output.source, UNITS))
                continue
            units_column = f"{UNITS}_{index}"
            counted: exp.Expr = (
                exp.Count(this=source.copy())
                if one_row
                else _distinct(
                    exp.Case().when(
                        exp.Not(this=exp.Is(this=source.copy(), expression=exp.Null())),
                        column(grant.privacy_unit),
                    )
                )
            )
            companions.append(counted.as_(units_column, quoted=True))
        selected.append(value.as_(output.name, quoted=True))
        described.append(OutputColumn(output.name, output.kind, output.source, units_column))

    query = exp.select(*selected, units.as_(UNITS, quoted=True), *companions).from_(
        exp.to_table(exp.to_identifier(grant.name, quoted=True))
    )
    where = tree.args.get("where")
    if where is not None:
        query = query.where(where.this.copy().transform(lambda node: _requalify(node, scope, column)))
    group = tree.args.get("group")
    if group is not None:
        query = query.group_by(*(_requalify(key, scope, column) for key in group.expressions))
    order = tree.args.get("order")
    if order is not None:
        keys = [_order_key(ordered, scope, column, outputs) for ordered in order.expressions]
        query = query.order_by(*keys)
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


def _distinct(value: exp.Expr) -> exp.Count:
    return exp.Count(this=exp.Distinct(expressions=[value]))


def _source(output: Output) -> str:
    if output.source is None:
        raise ValueError("an output without a source column")
    return output.source


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
        copy.set("this", _requalify(key, scope, column))
    return copy
