"""Pass 6: WHERE is a boolean combination of one-column tests against literals.

Each test compares ONE column with literals (=, <>, <, <=, >, >=, IN, BETWEEN, IS [NOT] NULL, LIKE).
Comparing two columns, or a column with an expression, would let a filter compute over values the
column's level does not release; functions and casts are refused for the same reason. The walk uses
an explicit stack so a long chain of ANDs cannot exhaust Python's recursion limit.
"""

from __future__ import annotations

import re

from sqlglot import exp

from policies.gate.columns import Place, level_reason
from policies.gate.project import disallowed
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_TYPED = {
    exp.DataType.Type.DATE: ("DATE literal", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
    exp.DataType.Type.TIMESTAMP: (
        "TIMESTAMP literal",
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"),
    ),
}
_TYPED[exp.DataType.Type.TIMESTAMPNTZ] = _TYPED[exp.DataType.Type.TIMESTAMP]
_TYPED_HINT = "Write dates as DATE 'YYYY-MM-DD' and times as TIMESTAMP 'YYYY-MM-DD HH:MM:SS'."
_TEST_HINT = "Compare one column with literals: =, <>, <, <=, >, >=, IN, BETWEEN, IS [NOT] NULL or LIKE."


def where(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    clause = tree.args.get("where")
    if clause is None:
        return tree, []
    reasons: list[Reason] = []
    stack: list[exp.Expr] = [clause.this]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And | exp.Or):
            stack.extend((node.expression, node.this))  # left first, so reasons follow the text
        elif isinstance(node, exp.Not | exp.Paren):
            stack.append(node.this)
        else:
            reasons.extend(_test(node, scope))
    return tree, reasons


def _test(node: exp.Expr, scope: Scope) -> list[Reason]:
    if isinstance(node, _COMPARISONS):
        return _compare(node, scope)
    if isinstance(node, exp.In):
        extra = [key for key in ("query", "unnest", "field", "is_global") if node.args.get(key)]
        if extra:
            return [_construct("IN " + describe_in(node), node, scope, "IN takes a list of literals.")]
        return _column_with(node.this, node.expressions, Place.where, node, scope)
    if isinstance(node, exp.Between):
        if node.args.get("symmetric"):
            return [_construct("BETWEEN SYMMETRIC", node, scope)]
        return _column_with(node.this, [node.args["low"], node.args["high"]], Place.where, node, scope)
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            return [_construct("IS", node, scope, "Only IS NULL and IS NOT NULL are allowed.")]
        return _column_with(node.this, [], Place.where, node, scope)
    if isinstance(node, exp.Like):
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return [_construct("LIKE pattern", node, scope, "LIKE takes a string literal pattern.")]
        return _column_with(node.this, [], Place.like, node, scope)
    if isinstance(node, exp.Column | exp.Boolean | exp.Literal):
        return [_construct("condition without a comparison", node, scope, _TEST_HINT)]
    return [disallowed(node, scope)]


def describe_in(node: exp.In) -> str:
    return "(subquery)" if node.args.get("query") else "(non-literal list)"


def _compare(node: exp.Expr, scope: Scope) -> list[Reason]:
    left, right = _unparen(node.this), _unparen(node.expression)
    if _is_column(left) and _is_column(right):
        return [_construct("column-to-column comparison", node, scope, _TEST_HINT)]
    if _is_column(right):
        left, right = right, left
    if not _is_column(left):
        found = [problem for side in (left, right) if (problem := _literal(side, scope)) is not None]
        return found or [_construct("comparison without a column", node, scope, _TEST_HINT)]
    return _column_with(left, [right], Place.where, node, scope)


def _column_with(
    column: exp.Expr, literals: list[exp.Expr], place: Place, node: exp.Expr, scope: Scope
) -> list[Reason]:
    """The test's column may stand in WHERE at its level, and everything else in it is a literal."""
    column = _unparen(column)
    if not _is_column(column):
        return [_construct("test without a column on its left", node, scope, _TEST_HINT)]
    reasons = [problem for literal in literals if (problem := _literal(_unparen(literal), scope)) is not None]
    granted = resolve(column, scope)[0]
    if granted is not None:
        found = level_reason(granted, place, column, scope)
        if found is not None:
            reasons.append(found)
    return reasons


def _literal(node: exp.Expr, scope: Scope) -> Reason | None:
    """None for numbers, strings, NULL, booleans and typed DATE/TIMESTAMP literals."""
    if isinstance(node, exp.Literal | exp.Null | exp.Boolean):
        return None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return None
    if isinstance(node, exp.Column):
        return _construct("column-to-column comparison", node, scope, _TEST_HINT)
    if isinstance(node, exp.Cast) and scope.source.is_typed_literal(node):
        typed = _TYPED.get(node.to.this)
        if typed is None:
            return _construct("typed literal", node, scope, _TYPED_HINT)
        construct, pattern = typed
        return None if pattern.fullmatch(node.this.name) else _construct(construct, node, scope, _TYPED_HINT)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return reason(ReasonCode.function_not_allowed, "CAST", scope.source.position(node), _TYPED_HINT)
    return disallowed(node, scope)


def _construct(construct: str, node: exp.Expr, scope: Scope, hint: str | None = None) -> Reason:
    return reason(ReasonCode.construct_not_allowed, construct, scope.source.position(node), hint)


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_column(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier)
