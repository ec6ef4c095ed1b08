"""Pass 8: GROUP BY names group keys: `group` or `public` columns, bare or derived (`keys`).

A key is a column, a listed transform of one (`date_trunc('month', d)`, `floor(c / 10) * 10`, ...), a
CASE mapping one column to literals, or the alias of a SELECT item that is one of these. A key over a
`join_key`, `aggregate` or `compare` column is that column's `level_violation`, whatever the function
around it (`GROUP BY substr(resident_id, 1, 6)`, `GROUP BY floor(income / 1000)`); any other function
is `function_not_allowed`, any other construct `construct_not_allowed`. Ordinals, ROLLUP, CUBE,
GROUPING SETS and GROUP BY ALL are refused: every group key must be an expression the gate has read,
so the privacy layer knows which output is a key.
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate import keys
from policies.gate.columns import Place, level_reason, names_alias
from policies.gate.nodes import construct, has_aggregate, is_column
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_KEYWORDS = {"all": "GROUP BY ALL", "grouping_sets": "GROUPING SETS", "cube": "CUBE", "rollup": "ROLLUP"}
_HINT = (
    "Group by column names, listed transforms of one column (e.g. date_trunc('month', c)), CASE "
    "mappings of one column to literals, or the aliases of such SELECT items."
)


def group(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    """Every problem with the GROUP BY keys.

    >>> import sqlglot
    >>> from policies.gate.parse import Source
    >>> tree = sqlglot.parse_one("SELECT 1 FROM t GROUP BY 1, ROLLUP (a)", read="duckdb")
    >>> [r.construct for r in group(tree, Scope(Source("", ()), None))[1]]
    ['GROUP BY ordinal', 'ROLLUP']
    """
    clause = tree.args.get("group")
    if clause is None:
        return tree, []
    position = scope.source.position(clause) or scope.source.keyword("GROUP")
    reasons = [
        reason(ReasonCode.construct_not_allowed, _KEYWORDS.get(key, key.upper()), position, _HINT)
        for key, value in clause.args.items()
        if value and key != "expressions"
    ]
    for key in clause.expressions:
        reasons.extend(_key(key, scope))
    return tree, reasons


def _key(key: exp.Expr, scope: Scope) -> list[Reason]:
    position = scope.source.position(key)
    if is_column(key) and not names_alias(key, scope):
        granted = resolve(key, scope)[0]
        found = None if granted is None else level_reason(granted, Place.group_by, key, scope)
        return [] if found is None else [found]
    if isinstance(key, exp.Literal):
        return [reason(ReasonCode.construct_not_allowed, "GROUP BY ordinal", position, _HINT)]
    if isinstance(key, exp.Rollup | exp.Cube | exp.GroupingSets):
        return [reason(ReasonCode.construct_not_allowed, key.key.upper(), position, _HINT)]
    named = keys.expression(key, scope)
    if has_aggregate(named):
        hint = "Group by keys only; aggregates are computed per group."
        return [construct("aggregate in GROUP BY", key, scope, hint)]
    if is_column(named):  # the alias of a plain column item
        granted = resolve(named, scope)[0]
        found = None if granted is None else level_reason(granted, Place.group_by, named, scope)
        return [] if found is None else [found]
    return list(keys.read(named, scope, Place.group_by).reasons)
