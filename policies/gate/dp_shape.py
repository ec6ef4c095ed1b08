"""The dp-mode pass: the query shape for which `bounded` can compute cells with a known sensitivity.

Runs after every other pass (so a column the query may not use is already refused) and adds what dp
mode needs on top: outputs are group keys, COUNT(*), COUNT(DISTINCT <privacy unit>), SUM, AVG or a
quantile (MEDIAN, QUANTILE_CONT, PERCENTILE_CONT ... WITHIN GROUP, read by `aggregates`) of an
`aggregate` column with declared bounds (clamping needs them; a quantile's candidates span them);
joins are equalities of the tables' privacy units (so one person's rows in each table can be bounded,
and the joined rows of a person are at most the product of the bounds); every GROUP BY key is an
output (the released row must say which group it is); no ORDER BY or LIMIT (a LIMIT over exact values
would pick rows by their exact, not noisy, values: sort the released table instead). Group keys need
no check here: a bare column with a public key set gets every key, anything else goes through
partition selection, which `bounded` plans.

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> levels = {"pid": ColumnLevel.join_key, "d": ColumnLevel.group, "x": ColumnLevel.aggregate}
>>> cols = {c: ColumnGrant(c, v) for c, v in levels.items()}
>>> ctx = GateContext({"t": TableGrant("t", "ds", cols, frozenset(levels), "pid", 1)}, "dp")
>>> [r.code.value for r in check("SELECT d, SUM(x) AS s FROM t GROUP BY d", ctx).reasons]
['dp_bounds_missing']
"""

from __future__ import annotations

import math

from sqlglot import exp

from policies.gate import keys
from policies.gate.nodes import is_column, unparen
from policies.gate.plan import ColumnGrant, OutputKind
from policies.gate.project import Output, classify
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, grant_of, resolve

SUPPORTED = frozenset(
    {
        OutputKind.group,
        OutputKind.count,
        OutputKind.count_units,
        OutputKind.sum,
        OutputKind.avg,
        OutputKind.quantile,
    }
)
BOUNDED = frozenset({OutputKind.sum, OutputKind.avg, OutputKind.quantile})
MAX_CELLS = 10_000  # public key sets multiply; beyond this a release is mostly noise over empty cells


def outputs(tree: exp.Select, scope: Scope) -> list[tuple[exp.Expr, Output | None]]:
    grouped = keys.grouped(tree, scope)
    return [(item, classify(item, scope, grouped)[0]) for item in tree.expressions]


def dp_shape(tree: exp.Select, scope: Scope) -> list[Reason]:
    reasons: list[Reason] = []
    for clause, name in (("order", "ORDER BY"), ("limit", "LIMIT"), ("offset", "OFFSET")):
        node = tree.args.get(clause)
        if node is not None:
            reasons.append(reason(ReasonCode.dp_construct_not_supported, name, scope.source.position(node)))
    read = outputs(tree, scope)
    for item, output in read:
        if output is None:
            continue  # refused by another pass
        node = item.this if isinstance(item, exp.Alias) else item
        position = scope.source.position(node)
        if output.kind not in SUPPORTED or (output.kind in BOUNDED and output.expression is not None):
            name = node.sql_name() if isinstance(node, exp.Func) else output.kind.value
            reasons.append(reason(ReasonCode.dp_aggregate_not_supported, name, position))
        elif output.kind in BOUNDED:
            granted = bound_column(output, scope)
            if (
                granted is None
                or granted.lower is None
                or granted.upper is None
                or granted.lower > granted.upper
            ):
                reasons.append(reason(ReasonCode.dp_bounds_missing, output.source or "", position))
    group = tree.args.get("group")
    key_outputs = [o for _, o in read if o is not None and o.kind is OutputKind.group]
    if group is not None and len(group.expressions) > len(key_outputs):
        reasons.append(
            reason(
                ReasonCode.dp_construct_not_supported,
                "GROUP BY key not in the output",
                scope.source.position(group),
            )
        )
    sets = [keyset(o, scope) for o in key_outputs]
    if key_outputs and all(s is not None for s in sets) and math.prod(len(s or ()) for s in sets) > MAX_CELLS:
        reasons.append(reason(ReasonCode.dp_keyset_too_large, ", ".join(o.name for o in key_outputs), None))
    for bound in scope.bound[1:]:
        on = bound.join.args.get("on") if bound.join is not None else None
        if on is None or not _on_units(on, scope):
            position = scope.source.position(on if on is not None else bound.join)
            reasons.append(reason(ReasonCode.dp_join_not_on_unit, "JOIN ... ON", position))
    return reasons


def bound_column(output: Output, scope: Scope) -> ColumnGrant | None:
    for bound in scope.bound:
        grant = bound.grant
        if grant is not None and (output.table is None or grant.name == output.table) and output.source:
            found = grant.columns.get(output.source)
            if found is not None:
                return found
    return None


def keyset(output: Output, scope: Scope) -> tuple[str, ...] | None:
    """The declared public keys of a bare group column (a derived key has none: it is selected)."""
    if output.expression is not None:
        return None
    granted = bound_column(output, scope)
    return granted.public_keys if granted is not None and granted.public_keys else None


def _on_units(on: exp.Expr, scope: Scope) -> bool:
    on = unparen(on)
    if not isinstance(on, exp.EQ):
        return False
    sides = [unparen(on.this), unparen(on.expression)]
    if not all(is_column(side) for side in sides):
        return False
    tables = []
    for side in sides:
        granted = resolve(side, scope)[0]
        grant = grant_of(granted, scope) if granted is not None else None
        if granted is None or grant is None or granted.name != grant.privacy_unit:
            return False
        tables.append(grant.name)
    return tables[0] != tables[1]
