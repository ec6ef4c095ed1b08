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

After a join (`FROM a JOIN b ON a.k = b.k`), a result row mixes rows of several tables, each with its
own privacy units, and the threshold must hold for each: a cell of 40 visits might be one resident's.
So `__units` is `LEAST(COUNT(DISTINCT a."__unit"), COUNT(DISTINCT b."__unit"))` (`__unit`: each
table's reserved integer ordinal of its privacy unit, see sandbox/workspace/units.py), the fewest
units any one contributing table puts behind the row; an aggregate's companion is the LEAST over the
same tables of `COUNT(DISTINCT CASE WHEN <argument> IS NOT NULL THEN t."__unit" END)`. Why this bound:
each joined row carries exactly one unit of each table, so a table's distinct units in a group are
the people of that table whose data the cell depends on, and suppression needs each count, not their
sum, to reach the threshold. A reference table (every granted column `public`) is published data, so
its rows are nobody's and it does not count; when every table is one, all count, as a lone table's
units always do. A table used only through its `public` columns still counts when it has other
columns: its rows are still its units' (COUNT(*) would count one person's visits). The shortcuts above
are not taken after a join: a join repeats a row once per matching row of the other table, so even a
table with one row per unit has several rows per unit in a group, and COUNT(*) counts no one's units.
A LEFT JOIN's unmatched rows carry no unit of the joined table, whose count then reads NULL, not 0
(`outer`). (The no-NULL shortcut would still hold for an INNER join; every joined cell is counted the one
distinct way all the same, so a join's counts have one derivation, checked once.)

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> levels = {"pid": ColumnLevel.join_key, "d": ColumnLevel.group, "x": ColumnLevel.aggregate}
>>> columns = {c: ColumnGrant(c, v) for c, v in levels.items()}
>>> grant = TableGrant("t", "ds", columns, frozenset(levels), "pid", 1)
>>> plan = check("SELECT lower(d) AS k, SUM(CASE WHEN d = 'a' THEN x ELSE 0 END) AS s FROM t GROUP BY k",
...              GateContext(tables={"t": grant})).plan
>>> from policies.gate.companions import without  # the dominance companions are shown there
>>> print(without(plan.sql).replace(" FROM", "\nFROM").replace(", COUNT", ",\nCOUNT"))
SELECT LOWER("t"."d") AS "k", SUM(CASE WHEN "t"."d" = 'a' THEN "t"."x" ELSE 0 END) AS "s",
COUNT(*) AS "__units",
COUNT(CASE WHEN "t"."d" = 'a' THEN "t"."x" END) AS "__units_1"
FROM "t" GROUP BY LOWER("t"."d")
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate import keys, outer
from policies.gate.aggregates import FUNCTIONS
from policies.gate.columns import names_output
from policies.gate.companions import attach as attach_dominance
from policies.gate.companions import attach_unit_sets
from policies.gate.parse import DIALECT
from policies.gate.plan import OutputColumn, OutputKind, Plan, TableGrant
from policies.gate.project import Output, classify
from policies.gate.scope import Scope, resolve
from policies.levels import ColumnLevel

UNITS = "__units"
UNIT_ORDINAL = "__unit"  # sandbox/workspace/units.py


class _Columns:
    """Builds qualified, quoted references to granted columns and remembers which were used, per table."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.used: dict[str, set[str]] = {}

    def __call__(self, name: str, table: str | None = None) -> exp.Column:
        table = table or self.default
        self.used.setdefault(table, set()).add(name)
        return exp.column(name, table=table, quoted=True)


def rewrite(tree: exp.Select, scope: Scope) -> Plan:
    """The plan for an allowed query (every pass found no reason, so each item classifies)."""
    grants = [bound.grant for bound in scope.bound if bound.grant is not None]
    if not grants or len(grants) != len(scope.bound):
        raise ValueError("rewrite needs the table grants")
    grant = grants[0]
    column = _Columns(grant.name)
    grouped = keys.grouped(tree, scope)
    outputs: list[Output] = []
    for item in tree.expressions:
        output = classify(item, scope, grouped)[0]
        if output is None:
            raise ValueError("rewrite of a refused SELECT item")
        outputs.append(output)

    one_row = not scope.joined and grant.max_rows_per_unit == 1
    counted_tables = contributing(grants) if scope.joined else [grant]
    left = outer.left_joined(scope, counted_tables)
    if one_row:
        units: exp.Expr = exp.Count(this=exp.Star())
    else:
        units = _least([outer.count(table, _distinct(_unit(table)), left) for table in counted_tables])
    selected: list[exp.Expr] = []
    companions: list[exp.Expr] = []
    described: list[OutputColumn] = []
    for index, output in enumerate(outputs):
        value, counted = _value(output, scope, column)
        units_column = None if output.kind is OutputKind.group else UNITS
        if counted is not None:
            units_column = f"{UNITS}_{index}"
            if one_row:
                companion: exp.Expr = exp.Count(this=counted)
            else:
                contributes = exp.Not(this=exp.Is(this=counted, expression=exp.Null()))
                companion = _least(
                    [
                        outer.count(table, _distinct(exp.Case().when(contributes.copy(), _unit(table))), left)
                        for table in counted_tables
                    ]
                )
            companions.append(companion.as_(units_column, quoted=True))
        selected.append(value.as_(output.name, quoted=True))
        described.append(OutputColumn(output.name, output.kind, output.source, units_column, output.table))

    query = exp.select(*selected, units.as_(UNITS, quoted=True), *companions).from_(_table(grant))
    for bound in scope.bound[1:]:
        if bound.grant is None or bound.join is None:
            raise ValueError("rewrite of a join without its table")
        on = _requalified(bound.join.args["on"], scope, column)
        query = query.join(
            _table(bound.grant), on=on, join_type="LEFT" if outer.is_left(bound.join) else None
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
    units_of = {table.name: UNIT_ORDINAL for table in grants}
    query, described = attach_dominance(query, described, units_of, grant.name, one_row)
    query = attach_unit_sets(query, [table.name for table in counted_tables], one_row)
    return Plan(
        sql=query.sql(dialect=DIALECT, identify=True, comments=False),
        tables=tuple(table.name for table in grants),
        outputs=tuple(described),
        group_units_column=UNITS,
        columns_used={table.name: tuple(sorted(column.used.get(table.name, ()))) for table in grants},
    )


def contributing(grants: list[TableGrant]) -> list[TableGrant]:
    """The joined tables whose units a result row depends on: all but reference tables, whose every
    granted column is `public` (so the query can use them only through public columns). When every
    table is one, all count, as a single table's units always do."""
    protected = [
        table for table in grants if any(c.level != ColumnLevel.public for c in table.columns.values())
    ]
    return protected or grants


def _unit(table: TableGrant) -> exp.Column:
    """The table's reserved unit ordinal: one integer per privacy unit (NULL for a NULL unit), so a
    distinct count of it is the distinct count of the units, at integer speed rather than over keyed
    hashes; every workspace view carries it, and no operator can name it."""
    return exp.column(UNIT_ORDINAL, table=table.name, quoted=True)


def _table(grant: TableGrant) -> exp.Table:
    return exp.to_table(exp.to_identifier(grant.name, quoted=True))


def _least(counts: list[exp.Expr]) -> exp.Expr:
    """The smallest of the counts; written as a plain LEAST call, since every count is a number."""
    if len(counts) == 1:
        return counts[0]
    return exp.Anonymous(this="LEAST", expressions=counts)


def _value(output: Output, scope: Scope, column: _Columns) -> tuple[exp.Expr, exp.Expr | None]:
    """The output's expression, and what its units companion counts (None: the row's units stand)."""
    kind = output.kind
    if kind is OutputKind.group:
        if output.expression is not None:
            return _requalified(output.expression, scope, column), None
        return column(_source(output), output.table), None
    if kind is OutputKind.count:
        return exp.Count(this=exp.Star()), None
    if kind is OutputKind.count_units:
        return _distinct(column(_source(output), output.table)), None
    function = FUNCTIONS[kind]
    if isinstance(output.expression, exp.Case):
        case = _requalified(output.expression, scope, column)
        matched = case.copy()
        matched.set("default", None)  # ELSE 0 adds zeros, not units: count the matched units only
        return function(this=case), matched
    source = column(_source(output), output.table)
    if kind in (OutputKind.min, OutputKind.max):
        return function(this=source), None  # a public column: nothing to protect
    if not scope.joined and scope.grant is not None and not scope.grant.columns[_source(output)].nullable:
        # No NULLs in one table: every unit of the group is behind the cell. (A join repeats rows.)
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
        return column(granted.name, granted.table)
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
