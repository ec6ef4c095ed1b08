r"""The SQL gate: decide whether an operator's query may run, and rewrite it for the workspace.

`check` runs small passes over one sqlglot tree. Parsing (then `merge`) and finding the table come
first, since the others need a tree and a grant; a query that does not parse, or is not a query, stops
there. Every other pass runs regardless, so the operator sees every problem at once. Each pass knows
the node kinds allowed in its place and refuses the rest by name.

The passes share readers, so one construct means one thing wherever it stands: `transforms` (the
listed functions a column may pass through), `conditions` (one-column tests against literals: WHERE,
and the WHEN of a CASE), `keys` (group keys, bare or derived), `aggregates` (the aggregate allow-list)
and `nodes` (literals, and the reason for a node no allow-list knows). What a query may do, in short:
one granted table, or several joined by INNER JOIN ... ON equalities of join_key (or public) columns
(`join`), each table once, every shared column name qualified; group keys that are `group`/`public`
columns or listed transforms and CASE mappings of one; COUNT, SUM, AVG, STDDEV, VARIANCE of `aggregate`
columns (SUM/AVG also conditionally), COUNT(DISTINCT <privacy unit>), MIN/MAX of `public` columns;
WHERE tests of one column against literals; ORDER BY outputs and grouped columns; LIMIT n. CTEs and
derived tables that only rename, project and filter granted tables are merged into one SELECT first
(`merge`), so every check above applies to the columns they read. A query over aggregate queries
(HAVING on keys, an outer query over an aggregating CTE or derived table, UNION [ALL]) is read by
`lineage`, which checks each aggregate SELECT in it with the passes above (`core`) and composes their
plans; any other CTE or subquery is refused.

>>> from policies.levels import ColumnLevel
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> levels = {"resident_id": ColumnLevel.join_key, "name": ColumnLevel.hidden, "district": ColumnLevel.group}
>>> grant = TableGrant(
...     name="residents",
...     dataset_id="ds-1",
...     columns={column: ColumnGrant(column, level) for column, level in levels.items()},
...     all_columns=frozenset(levels),
...     privacy_unit="resident_id",
...     max_rows_per_unit=1,
... )
>>> ctx = GateContext(tables={"residents": grant})
>>> for found in check("SELECT name FROM residents", ctx).reasons:
...     print(found.code, "-", found.message)
hidden_column - column 'name' is hidden and cannot be used anywhere
raw_projection - column 'name' is output without being grouped or aggregated
>>> decision = check("SELECT district, COUNT(*) AS n FROM residents GROUP BY district", ctx)
>>> decision.allowed, [output.name for output in decision.plan.outputs]
(True, ['district', 'n'])
>>> from policies.gate.companions import without  # SDC's dominance and unit-set companions
>>> print(without(decision.plan.sql).replace(" FROM", "\nFROM"))
SELECT "residents"."district" AS "district", COUNT(*) AS "n", COUNT(*) AS "__units"
FROM "residents" GROUP BY "residents"."district"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlglot import exp

from policies.gate import bounded, dp_shape, lineage
from policies.gate.columns import columns
from policies.gate.group import group
from policies.gate.join import join
from policies.gate.merge import merge
from policies.gate.order import order
from policies.gate.parse import Source, parse
from policies.gate.plan import GateContext, Plan
from policies.gate.project import project
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.rewrite import rewrite
from policies.gate.scope import Scope, scope
from policies.gate.shape import shape
from policies.gate.where import where

__all__ = ["PASSES", "Decision", "Reason", "ReasonCode", "check"]

Pass = Callable[[exp.Select, Scope], tuple[exp.Select, list[Reason]]]

# After `parse` and `scope`: each pass returns the tree and the reasons it found.
PASSES: tuple[Pass, ...] = (shape, columns, join, project, where, group, order)


@dataclass(frozen=True)
class Decision:
    """The gate's answer; `plan` is present exactly when the query is allowed."""

    allowed: bool
    reasons: tuple[Reason, ...]
    plan: Plan | None


def check(sql: str, ctx: GateContext) -> Decision:
    """Never raises: an unexpected failure inside the gate refuses the query (fail closed)."""
    try:
        return _check(sql, ctx)
    except Exception:
        return Decision(False, (reason(ReasonCode.internal_error, "query", None),), None)


def _check(sql: str, ctx: GateContext) -> Decision:
    parsed, reasons = parse(sql)
    if parsed.tree is None:
        return _refuse(reasons)
    if lineage.layered(parsed.tree):
        if ctx.mode != "sdc":  # the dp layer measures one aggregate query; a union would be several
            reasons.append(lineage.not_in_mode(ctx.mode, parsed.tree, parsed.source))
        plan, found = lineage.check(parsed.tree, parsed.source, partial(core, ctx=ctx, source=parsed.source))
    elif isinstance(parsed.tree, exp.Select):
        plan, found = core(parsed.tree, ctx, parsed.source)
    else:
        raise ValueError("parse returned a query that is neither a SELECT nor layered")
    reasons.extend(found)
    if reasons or plan is None:
        return _refuse(reasons)
    return Decision(True, (), plan)


def core(tree: exp.Select, ctx: GateContext, source: Source) -> tuple[Plan | None, list[Reason]]:
    """One aggregate SELECT over granted tables: merge, scope, every pass, then the rewrite."""
    reasons: list[Reason] = []
    tree, found = merge(tree, ctx, source)
    reasons.extend(found)
    context, found = scope(tree, ctx, source)
    reasons.extend(found)
    for step in PASSES:
        tree, found = step(tree, context)
        reasons.extend(found)
    if ctx.mode == "dp":
        reasons.extend(dp_shape.dp_shape(tree, context))
    if reasons:
        return None, reasons
    if ctx.mode == "dp":
        return bounded.rewrite(tree, context, ctx.dp_contributions), []
    return rewrite(tree, context), []


def _refuse(reasons: list[Reason]) -> Decision:
    return Decision(False, tuple(dict.fromkeys(reasons)), None)
