"""Small readers of sqlglot nodes that several passes share: columns, literals, and the reason for a
node that no allow-list in its place knows.

A literal is a number, a string, NULL, a boolean, or a typed `DATE '...'`/`TIMESTAMP '...'` whose text
has the shape of a date or time. Casts written any other way are functions, and refused as such: a
cast that may fail on some value is an error oracle.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> scope = Scope(Source("", ()), None)
>>> literal_reason(sqlglot.parse_one("-3", read="duckdb"), scope) is None
True
>>> disallowed(sqlglot.parse_one("substr(x, 1, 2)", read="duckdb"), scope).code
<ReasonCode.function_not_allowed: 'function_not_allowed'>
"""

from __future__ import annotations

import math
import re

from sqlglot import exp

from policies.gate.reasons import AGGREGATE_HINT, Reason, ReasonCode, describe, reason
from policies.gate.scope import Scope

_TYPED = {
    exp.DataType.Type.DATE: ("DATE literal", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
    exp.DataType.Type.TIMESTAMP: (
        "TIMESTAMP literal",
        re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"),
    ),
}
_TYPED[exp.DataType.Type.TIMESTAMPNTZ] = _TYPED[exp.DataType.Type.TIMESTAMP]
TYPED_HINT = "Write dates as DATE 'YYYY-MM-DD' and times as TIMESTAMP 'YYYY-MM-DD HH:MM:SS'."
TEST_HINT = (
    "Compare one column, or one listed transform of it, with literals: =, <>, <, <=, >, >=, IN, BETWEEN, "
    "IS [NOT] NULL or LIKE."
)
_LITERAL_HINT = "Write a literal: a number, a string, NULL, TRUE or FALSE, DATE '...' or TIMESTAMP '...'."
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
# Function-shaped nodes that an operator reads as syntax, not as a function call.
_CONSTRUCTS = (
    exp.Columns,
    exp.Case,
    exp.Array,
    exp.Struct,
    exp.Comprehension,
    exp.JSONExtract,
    exp.JSONExtractScalar,
    exp.Collate,
    exp.Exists,
)


def unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def is_column(node: exp.Expr | None) -> bool:
    """A plain column reference (`c`, `t.c`), not `t.*`."""
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier)


def column_refs(node: exp.Expr) -> list[exp.Column]:
    """The plain column references in `node`, in the order they are written."""
    return [column for column in node.find_all(exp.Column, bfs=False) if is_column(column)]


def has_aggregate(node: exp.Expr) -> bool:
    """True when `node` computes over rows (an aggregate or a window function) anywhere inside."""
    return any(isinstance(inner, exp.AggFunc | exp.Window) for inner in node.walk())


def is_positive_number(node: exp.Expr) -> bool:
    """A finite numeric literal greater than zero, written as digits (no exponent, no sign)."""
    if not (isinstance(node, exp.Literal) and not node.is_string and _NUMBER.fullmatch(node.name)):
        return False
    value = float(node.name)
    return math.isfinite(value) and value > 0


def literal_reason(node: exp.Expr, scope: Scope) -> Reason | None:
    """None for numbers, strings, NULL, booleans and typed DATE/TIMESTAMP literals."""
    node = unparen(node)
    if isinstance(node, exp.Literal | exp.Null | exp.Boolean):
        return None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return None
    if column_refs(node):
        return construct("column-to-column comparison", node, scope, TEST_HINT)
    if isinstance(node, exp.Cast) and scope.source.is_typed_literal(node):
        typed = _TYPED.get(node.to.this)
        if typed is None:
            return construct("typed literal", node, scope, TYPED_HINT)
        name, pattern = typed
        return None if pattern.fullmatch(node.this.name) else construct(name, node, scope, TYPED_HINT)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return reason(ReasonCode.function_not_allowed, "CAST", scope.source.position(node), TYPED_HINT)
    found = disallowed(node, scope)
    if found.code is ReasonCode.construct_not_allowed:
        return reason(found.code, found.construct, found.position, _LITERAL_HINT)
    return found


def function_name(node: exp.Expr, scope: Scope) -> str:
    """The function's name as typed when it was written as a call, else a keyword for the node."""
    typed = scope.source.call_name(node) if isinstance(node, exp.Func) else None
    return typed or describe(node)


def disallowed(node: exp.Expr, scope: Scope) -> Reason:
    """The reason for a node no allow-list in its place knows: aggregate, function or construct."""
    position = scope.source.position(node)
    inner = node.this if isinstance(node, exp.IgnoreNulls | exp.RespectNulls) else node
    if isinstance(inner, exp.AggFunc):
        return reason(ReasonCode.aggregate_not_allowed, function_name(inner, scope), position, AGGREGATE_HINT)
    if isinstance(inner, exp.Func) and not isinstance(inner, _CONSTRUCTS):
        return reason(ReasonCode.function_not_allowed, function_name(inner, scope), position)
    return reason(ReasonCode.construct_not_allowed, describe(node), position)


def construct(name: str, node: exp.Expr, scope: Scope, hint: str | None = None) -> Reason:
    return reason(ReasonCode.construct_not_allowed, name, scope.source.position(node), hint)
