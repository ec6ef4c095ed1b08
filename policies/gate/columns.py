"""Pass 4: every column reference names a granted, visible column; and where each level may go.

This pass looks at every column wherever it stands (inside casts, aggregates, windows, subqueries), so
a hidden or ungranted column is reported even when the construct around it is refused too. Whether a
column may stand in its place is decided by the clause passes with `level_reason`, from the table
`PLACES` below, which is the column control list of ARCHITECTURE.md made executable.

A bare name in GROUP BY or ORDER BY that is an output alias and not a table column names that output
(`SELECT lower(district) AS d ... GROUP BY d`) and is read by those passes. The variables of a list
comprehension or lambda are not columns; such constructs are refused where they stand, and only a
hidden or ungranted name inside them is reported here.
"""

from __future__ import annotations

from enum import StrEnum

from sqlglot import exp

from policies.gate.plan import ColumnGrant
from policies.gate.reasons import LEVEL_HINTS, Reason, ReasonCode, reason
from policies.gate.scope import Scope, clause_of, grant_of, is_scope_column, resolve
from policies.levels import ColumnLevel


class Place(StrEnum):
    """Where in a query a column stands."""

    output = "output"  # a grouped column in the SELECT list
    group_by = "group_by"
    where = "where"  # a comparison, IN, BETWEEN or IS NULL in WHERE
    like = "like"  # the left side of LIKE in WHERE
    aggregated = "aggregated"  # the argument of COUNT, SUM, AVG, STDDEV or VARIANCE (or its CASE's THEN)
    extreme = "extreme"  # the argument of MIN or MAX, which return one row's value
    count_distinct = "count_distinct"  # the argument of COUNT(DISTINCT ...): the privacy unit only


_CHECKED = frozenset({"expressions", "where", "group", "order"})  # clauses whose names must resolve
_GROUPABLE = frozenset({ColumnLevel.group, ColumnLevel.public})
PLACES: dict[Place, frozenset[ColumnLevel]] = {
    Place.output: _GROUPABLE,
    Place.group_by: _GROUPABLE,
    Place.where: _GROUPABLE | {ColumnLevel.compare},
    Place.like: _GROUPABLE,
    Place.aggregated: frozenset({ColumnLevel.aggregate}),
    Place.extreme: frozenset({ColumnLevel.public}),
}


def columns(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    """Report hidden, ungranted, unknown and ambiguous column references anywhere in the query."""
    reasons = []
    for column in tree.find_all(exp.Column):
        if not isinstance(column.this, exp.Identifier):
            continue  # `t.*`: refused by the SELECT list pass
        clause = clause_of(column, tree)
        if clause not in _CHECKED:
            # A nested query, join or other refused clause: its names may belong to other tables, so
            # only the names that are sensitive in this table are worth telling.
            found = resolve(column, scope)[1]
            if found is not None and found.code in (ReasonCode.hidden_column, ReasonCode.column_not_granted):
                reasons.append(found)
            continue
        if column.find_ancestor(exp.Comprehension, exp.Lambda) is not None:
            # A list comprehension's or lambda's own variables: refused with the construct around them.
            found = resolve(column, scope)[1]
            if found is not None and found.code in (ReasonCode.hidden_column, ReasonCode.column_not_granted):
                reasons.append(found)
            continue
        if names_output(column, scope):
            if clause in ("where", "group", "order") and _shadows(column, scope):
                reasons.append(reason(ReasonCode.ambiguous_name, column.name, scope.source.position(column)))
            if clause == "order" or (names_alias(column, scope) and isinstance(column.parent, exp.Group)):
                continue  # an output name, read by the ORDER BY or GROUP BY pass
        found = resolve(column, scope)[1]
        if found is not None:
            reasons.append(found)
    return tree, reasons


def names_output(column: exp.Column, scope: Scope) -> bool:
    """True for an unqualified name that is one of the SELECT list's output names."""
    return column.args.get("table") is None and column.name.lower() in scope.outputs


def names_alias(column: exp.Column, scope: Scope) -> bool:
    """True for an unqualified name that is an output alias and not a column of the table: DuckDB reads
    it as that output in GROUP BY and ORDER BY."""
    return names_output(column, scope) and not is_scope_column(scope, column.name)


def level_reasons(columns: list[exp.Column], place: Place, scope: Scope) -> list[Reason]:
    """The level reasons of every usable column in `columns` at `place` (unusable ones were reported)."""
    found = []
    for column in columns:
        granted = resolve(column, scope)[0]
        problem = None if granted is None else level_reason(granted, place, column, scope)
        if problem is not None:
            found.append(problem)
    return found


def _shadows(column: exp.Column, scope: Scope) -> bool:
    """An output alias that is also a column of the table, for something other than that column:
    DuckDB binds such a name differently in WHERE, GROUP BY and ORDER BY, so it is refused."""
    item = scope.outputs[column.name.lower()]
    same = isinstance(item, exp.Column) and item.name.lower() == column.name.lower()
    return not same and is_scope_column(scope, column.name)


def level_reason(granted: ColumnGrant, place: Place, node: exp.Expr, scope: Scope) -> Reason | None:
    """None when a column of this level may stand at `place`; else a reason saying where it may."""
    position = scope.source.position(node)
    if place is Place.count_distinct:
        table = grant_of(granted, scope)
        unit = table.privacy_unit if table is not None else None
        if granted.name == unit:
            return None
        hint = f"COUNT(DISTINCT ...) may only count the privacy unit '{unit}'."
        return reason(ReasonCode.level_violation, granted.name, position, hint)
    if granted.level in PLACES[place]:
        return None
    hint = LEVEL_HINTS[granted.level].format(column=granted.name)
    return reason(ReasonCode.level_violation, granted.name, position, hint)
