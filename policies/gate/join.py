"""Pass 5: each JOIN's ON is a conjunction of equalities between a column of the joined table and a
column of a table before it, both `join_key` or both `public`.

`join_key` columns reach the workspace as a keyed hash (one key per scenario), so two of them are equal
exactly when the raw values are, and a literal can never match one: `a.resident_id = 'R0001'` and any
function of the key are refused. A `public` column may equal a `public` column (a reference table
joined on a published code). A `join_key` is never compared with a `public` column, whose raw values
would meet the hashes. Nothing else may stand in ON: the joined columns are not outputs, and a
condition on other columns belongs in WHERE. Which join kinds reach this pass, and that a table appears
once, is decided by `scope`.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> tree = sqlglot.parse_one("SELECT 1 FROM a JOIN b ON a.x = b.y AND a.z > 1", read="duckdb")
>>> tables = (Bound(None, frozenset({"a"})), Bound(None, frozenset({"b"}), tree.args["joins"][0]))
>>> [r.construct for r in join(tree, Scope(Source("", ()), None, frozenset({"a"}), tables=tables))[1]]
['ON condition other than an equality']
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.nodes import is_column, unparen
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Bound, Scope, resolve
from policies.levels import ColumnLevel

_ON_HINT = "Write ON a.<column> = b.<column> [AND ...], with join_key or public columns of the two tables."
_LEVEL_HINT = (
    "Column '{column}' cannot join at its level: ON compares join_key columns with join_key columns, or "
    "public columns with public columns."
)
_NOT_EQUALITY = "ON condition other than an equality"
_JOINABLE = frozenset({ColumnLevel.join_key, ColumnLevel.public})


def join(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    """The reasons of every ON of a join `scope` accepted as a table in scope."""
    reasons: list[Reason] = []
    earlier: set[str] = set()
    for bound in scope.bound:
        if bound.join is not None and bound.join.args.get("on") is not None:
            reasons.extend(_on(bound.join.args["on"], bound, earlier, scope))
        earlier |= bound.qualifiers
    return tree, reasons


def _on(node: exp.Expr, bound: Bound, earlier: set[str], scope: Scope) -> list[Reason]:
    reasons: list[Reason] = []
    stack: list[exp.Expr] = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And):
            stack.extend((node.expression, node.this))  # left first, so reasons follow the text
        elif isinstance(node, exp.Paren):
            stack.append(node.this)
        elif isinstance(node, exp.EQ):
            reasons.extend(_equality(node, bound, earlier, scope))
        else:
            position = scope.source.position(node)
            reasons.append(reason(ReasonCode.construct_not_allowed, _NOT_EQUALITY, position, _ON_HINT))
    return reasons


def _equality(node: exp.EQ, bound: Bound, earlier: set[str], scope: Scope) -> list[Reason]:
    sides = [unparen(node.this), unparen(node.expression)]
    position = scope.source.position(node)
    if not all(is_column(side) for side in sides):
        return [
            reason(ReasonCode.construct_not_allowed, "ON operand that is not a column", position, _ON_HINT)
        ]
    reasons: list[Reason] = []
    granted = []
    for side in sides:
        column, found = resolve(side, scope)
        if found is not None:
            reasons.append(found)
        granted.append(column)
    for side, column in zip(sides, granted, strict=True):
        if column is not None and column.level not in _JOINABLE:
            hint = _LEVEL_HINT.format(column=column.name)
            reasons.append(reason(ReasonCode.level_violation, column.name, scope.source.position(side), hint))
    left, right = granted
    if reasons or left is None or right is None:
        return reasons
    if left.level != right.level:
        hint = _LEVEL_HINT.format(column=right.name)
        return [reason(ReasonCode.level_violation, right.name, scope.source.position(sides[1]), hint)]
    tables = [_qualifiers(column.table, scope) for column in granted]
    joined = [bool(names & bound.qualifiers) for names in tables]
    before = [bool(names & earlier) for names in tables]
    if not ((joined[0] and before[1]) or (joined[1] and before[0])):
        hint = "Each equality in ON compares a column of the joined table with a column of a table before it."
        return [reason(ReasonCode.construct_not_allowed, "ON equality across other tables", position, hint)]
    return []


def _qualifiers(table: str | None, scope: Scope) -> frozenset[str]:
    for bound in scope.bound:
        if bound.grant is not None and bound.grant.name == table:
            return bound.qualifiers
    return frozenset()
