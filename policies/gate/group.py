"""Pass 7: GROUP BY names plain `group` or `public` columns, nothing else.

Ordinals, expressions, ROLLUP, CUBE, GROUPING SETS and GROUP BY ALL are refused: every group key must
be a column whose level lets it be shown, so the privacy layer knows which output is a key.
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.columns import Place, level_reason
from policies.gate.project import disallowed
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, resolve

_KEYWORDS = {"all": "GROUP BY ALL", "grouping_sets": "GROUPING SETS", "cube": "CUBE", "rollup": "ROLLUP"}
_HINT = "Group by plain column names, e.g. GROUP BY district."


def group(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
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
        if isinstance(key, exp.Column) and isinstance(key.this, exp.Identifier):
            granted = resolve(key, scope)[0]
            found = None if granted is None else level_reason(granted, Place.group_by, key, scope)
        elif isinstance(key, exp.Literal):
            found = reason(
                ReasonCode.construct_not_allowed, "GROUP BY ordinal", scope.source.position(key), _HINT
            )
        elif isinstance(key, exp.Rollup | exp.Cube | exp.GroupingSets):
            found = reason(
                ReasonCode.construct_not_allowed, key.key.upper(), scope.source.position(key), _HINT
            )
        else:
            found = disallowed(key, scope)
        if found is not None:
            reasons.append(found)
    return tree, reasons
