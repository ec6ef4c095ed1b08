"""Conditions: boolean combinations of one-column tests against literals.

WHERE is one condition; so is each WHEN of a CASE mapping in GROUP BY and of a conditional aggregate
(`SUM(CASE WHEN sex = 'F' THEN income END)`), which is a WHERE for that one cell.

Each test compares ONE column, bare or through listed transforms (`transforms`), with literals: =, <>,
<, <=, >, >=, IN, BETWEEN, IS [NOT] NULL, LIKE. Comparing two columns, or a column with an expression,
would let a filter compute over values the column's level does not release; any other function or cast
is refused for the same reason. CASE is not a test operand (`WHERE CASE ... END = 'x'`): write the
condition itself. The walk uses an explicit stack so a long chain of ANDs cannot exhaust Python's
recursion limit.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> test = sqlglot.parse_one("a = b AND c > 1", read="duckdb")
>>> [r.construct for r in condition(test, Scope(Source("", ()), None))]
['column-to-column comparison']
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.columns import Place
from policies.gate.nodes import TEST_HINT, column_refs, construct, disallowed, literal_reason, unparen
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope
from policies.gate.transforms import Derived, derive

_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)


def condition(node: exp.Expr, scope: Scope) -> list[Reason]:
    """Every problem with the tests in `node`, left to right."""
    reasons: list[Reason] = []
    stack: list[exp.Expr] = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And | exp.Or):
            stack.extend((node.expression, node.this))  # left first, so reasons follow the text
        elif isinstance(node, exp.Not | exp.Paren):
            stack.append(node.this)
        else:
            reasons.extend(_test(node, scope))
    return reasons


def _test(node: exp.Expr, scope: Scope) -> list[Reason]:
    if isinstance(node, _COMPARISONS):
        return _compare(node, scope)
    if isinstance(node, exp.In):
        extra = [key for key in ("query", "unnest", "field", "is_global") if node.args.get(key)]
        if extra:
            return [construct("IN " + describe_in(node), node, scope, "IN takes a list of literals.")]
        return _operand_with(node.this, node.expressions, Place.where, node, scope)
    if isinstance(node, exp.Between):
        if node.args.get("symmetric"):
            return [construct("BETWEEN SYMMETRIC", node, scope)]
        return _operand_with(node.this, [node.args["low"], node.args["high"]], Place.where, node, scope)
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            return [construct("IS", node, scope, "Only IS NULL and IS NOT NULL are allowed.")]
        return _operand_with(node.this, [], Place.where, node, scope)
    if isinstance(node, exp.Like):
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return [construct("LIKE pattern", node, scope, "LIKE takes a string literal pattern.")]
        return _operand_with(node.this, [], Place.like, node, scope)
    if isinstance(node, exp.Column | exp.Boolean | exp.Literal):
        return [construct("condition without a comparison", node, scope, TEST_HINT)]
    return [disallowed(node, scope)]


def describe_in(node: exp.In) -> str:
    return "(subquery)" if node.args.get("query") else "(non-literal list)"


def _compare(node: exp.Expr, scope: Scope) -> list[Reason]:
    left, right = unparen(node.this), unparen(node.expression)
    left_columns, right_columns = bool(column_refs(left)), bool(column_refs(right))
    if left_columns and right_columns:
        return [construct("column-to-column comparison", node, scope, TEST_HINT)]
    if right_columns:
        left, right = right, left
    if not left_columns and not right_columns:
        found = [problem for side in (left, right) if (problem := literal_reason(side, scope)) is not None]
        return found or [construct("comparison without a column", node, scope, TEST_HINT)]
    return _operand_with(left, [right], Place.where, node, scope)


def _operand_with(
    operand: exp.Expr, literals: list[exp.Expr], place: Place, node: exp.Expr, scope: Scope
) -> list[Reason]:
    """The test's operand is one column of a level allowed at `place`, bare or through listed
    transforms, and everything else in the test is a literal."""
    operand = unparen(operand)
    if not column_refs(operand):
        return [construct("test without a column on its left", node, scope, TEST_HINT)]
    reasons = [problem for literal in literals if (problem := literal_reason(literal, scope)) is not None]
    if isinstance(operand, exp.Case):
        hint = "Write the condition itself, e.g. WHERE district IN ('a', 'b'), instead of a CASE."
        return [*reasons, construct("CASE in a test", operand, scope, hint)]
    derived = derive(operand, scope, place)
    if place is Place.like and not derived.reasons and _typed_not_text(derived):
        hint = "LIKE matches text; compare numbers and dates with =, <, BETWEEN or IN."
        return [*reasons, construct("LIKE on a non-text column", node, scope, hint)]
    if reasons or derived.reasons or derived.column is None or not _yields_text(derived):
        return [*reasons, *derived.reasons]  # a literal refused already needs no second reason
    if place is Place.like or all(_is_text_literal(literal) for literal in literals):
        return reasons
    position = scope.source.position(node)
    return [*reasons, reason(ReasonCode.literal_type_mismatch, derived.column.name, position)]


_TEXT_TYPES = ("string", "large_string", "utf8", "large_utf8")
_TEXT_TRANSFORMS = frozenset({"lower", "upper", "trim", "coalesce"})


def _yields_text(derived: Derived) -> bool:
    """Whether the tested expression is text: a text column, bare or through a text-to-text transform.

    DuckDB compares text with a number, date or boolean by converting every value of the column, and
    that conversion fails on some values and not others, so whether a job fails would tell which
    values exist (an error oracle). A literal compared with a number or date column is converted once
    instead: it fails or not whatever the data.
    """
    column = derived.column
    if column is None or column.type is None or not column.type.startswith(_TEXT_TYPES):
        return False
    return derived.label == column.name or derived.label in _TEXT_TRANSFORMS


def _typed_not_text(derived: Derived) -> bool:
    """A column whose registered type is known and is not text (LIKE on it fails in the engine)."""
    column = derived.column
    return column is not None and column.type is not None and not _yields_text(derived)


def _is_text_literal(node: exp.Expr) -> bool:
    node = unparen(node)
    return isinstance(node, exp.Null) or (isinstance(node, exp.Literal) and node.is_string)
