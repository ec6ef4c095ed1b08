"""Pass 9: ORDER BY names outputs or grouped columns; LIMIT is a plain non-negative whole number.

Ordering by anything else (an aggregate expression or output, an ungrouped column, an ordinal) could
rank rows by values that are not released: ordering and LIMIT happen before the privacy layer withholds
small cells, so a withheld row would keep the place its exact value gave it. OFFSET and LIMIT
expressions would let a query page through rows.
A derived group key is ordered by its output name (`SELECT year(d) AS y ... ORDER BY y`).
"""

from __future__ import annotations

import re

from sqlglot import exp

from policies.gate import keys
from policies.gate.columns import names_output
from policies.gate.nodes import disallowed, has_aggregate, is_column
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_WHOLE = re.compile(r"[0-9]+")
_ORDER_HINT = "Order by an output name or a grouped column, e.g. ORDER BY district DESC."
# Rows are ordered (and cut by LIMIT) before the privacy layer withholds small cells, so an order by an
# aggregate's exact value would place a withheld row among the released ones by its value.
AGGREGATE_ORDER_HINT = "Order by group keys; sort the released file by its aggregates afterwards."
_LIMIT_HINT = "Write LIMIT followed by a non-negative whole number, e.g. LIMIT 10."


def order(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    reasons = []
    clause = tree.args.get("order")
    if clause is not None:
        grouped = keys.grouped(tree, scope)
        if clause.args.get("siblings"):
            reasons.append(_refuse("ORDER SIBLINGS BY", clause, scope, _ORDER_HINT))
        for ordered in clause.expressions:
            found = _key(ordered, scope, grouped)
            if found is not None:
                reasons.append(found)
    limit = tree.args.get("limit")
    if limit is not None:
        found = _limit(limit, scope)
        if found is not None:
            reasons.append(found)
    return tree, reasons


def _key(ordered: exp.Expr, scope: Scope, grouped: frozenset[str]) -> Reason | None:
    if not isinstance(ordered, exp.Ordered) or ordered.args.get("with_fill"):
        return _refuse("ORDER BY expression", ordered, scope, _ORDER_HINT)
    key = ordered.this
    if is_column(key):
        if names_output(key, scope):
            item = scope.outputs.get(key.name.lower())
            if item is not None and has_aggregate(item):
                return _refuse("ORDER BY an aggregate output", key, scope, AGGREGATE_ORDER_HINT)
            return None
        if resolve(key, scope)[0] is None or keys.canonical(key, scope) in grouped:
            return None  # unusable columns were reported by the columns pass
        return _refuse("ORDER BY", key, scope, _ORDER_HINT)
    if isinstance(key, exp.Literal):
        return _refuse("ORDER BY ordinal", key, scope, _ORDER_HINT)
    if isinstance(key, exp.Var) and key.name.upper() == "ALL":
        return _refuse("ORDER BY ALL", ordered, scope, _ORDER_HINT)
    return disallowed(key, scope)


def _limit(limit: exp.Expr, scope: Scope) -> Reason | None:
    if not isinstance(limit, exp.Limit):
        return _refuse("FETCH" if isinstance(limit, exp.Fetch) else "LIMIT", limit, scope, _LIMIT_HINT)
    extra = any(value for key, value in limit.args.items() if key != "expression")
    count = limit.expression
    if extra or not (isinstance(count, exp.Literal) and not count.is_string and _WHOLE.fullmatch(count.name)):
        return _refuse("LIMIT", limit, scope, _LIMIT_HINT)
    return None


def _refuse(construct: str, node: exp.Expr, scope: Scope, hint: str) -> Reason:
    return reason(ReasonCode.construct_not_allowed, construct, scope.source.position(node), hint)
