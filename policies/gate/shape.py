"""Pass 3: the clauses a SELECT may have. Everything not on the allow-list is refused by name.

sqlglot keeps every clause as one argument of the `Select` node, so an allow-list of argument names
is an allow-list of clauses: a clause sqlglot learns tomorrow is refused until someone adds it here.
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.reasons import Reason, ReasonCode, describe, reason
from policies.gate.scope import Scope

# The clauses later passes check; joins and laterals were refused by `scope`.
ALLOWED = frozenset({"expressions", "from_", "where", "group", "order", "limit", "joins", "laterals"})

_KEYWORDS = {
    "with_": "WITH",
    "distinct": "DISTINCT",
    "having": "HAVING",
    "qualify": "QUALIFY",
    "windows": "WINDOW",
    "sample": "USING SAMPLE",
    "offset": "OFFSET",
    "into": "INTO",
    "pivots": "PIVOT",
    "locks": "FOR UPDATE",
    "kind": "SELECT AS",
    "exclude": "EXCLUDE",
}


def shape(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    """Refuse every clause outside `ALLOWED`, naming its keyword.

    >>> import sqlglot
    >>> from policies.gate.parse import Source
    >>> tree = sqlglot.parse_one("SELECT DISTINCT a FROM t", read="duckdb")
    >>> [r.construct for r in shape(tree, Scope(Source("", ()), None))[1]]
    ['DISTINCT']
    """
    reasons = []
    for key, value in tree.args.items():
        if key in ALLOWED or not value:
            continue
        node = value[0] if isinstance(value, list) else value
        construct = _KEYWORDS.get(key) or (describe(node) if isinstance(node, exp.Expr) else key.upper())
        if key == "with_" and isinstance(node, exp.With) and node.args.get("recursive"):
            construct = "WITH RECURSIVE"
        position = scope.source.keyword(construct.split()[0]) if key in _KEYWORDS else None
        if position is None and isinstance(node, exp.Expr):
            position = scope.source.position(node)
        reasons.append(reason(ReasonCode.construct_not_allowed, construct, position))
    if not tree.expressions:
        reasons.append(
            reason(ReasonCode.construct_not_allowed, "empty SELECT list", scope.source.position(tree))
        )
    return tree, reasons
