"""Pass 6: each SELECT item is a group key or an allowed aggregate, and has a usable name.

Only these leave the workspace, and each has a units count the privacy layer can threshold:

- a group key: a grouped `group`/`public` column, or a derived key (`keys`: listed transforms or a CASE
  mapping of one such column) that GROUP BY groups by, as the same expression or by its alias;
- an aggregate from the allow-list in `aggregates` (COUNT, SUM, AVG, STDDEV, VARIANCE, conditional
  SUM/AVG, MIN/MAX of public columns). MIN of a protected column, string_agg, quantiles and friends
  would return one person's value, so they are refused by name.

A group key may not take the name of another table column (`SELECT sex AS district`, or
`lower(district) AS district`): DuckDB would read that name as the column in GROUP BY and ORDER BY,
and the privacy layer looks a key's declared public values up by its output name, so a derived key
named like a column would pass as that column's public value. Aggregates get default names such as
`sum_income`, derived keys such as `month_visit_date`. `classify` is shared with `rewrite`, so the
plan is built from the same reading of the query that was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policies.gate import aggregates, keys
from policies.gate.columns import Place, level_reason
from policies.gate.nodes import disallowed, has_aggregate, is_column
from policies.gate.plan import OutputKind, is_reserved_output_name
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.gate.scope import Scope, is_scope_column, resolve, string_alias
from policies.gate.transforms import TRANSFORMS

_SAME_KEY_HINT = "Group by this same expression: repeat it in GROUP BY, or name its alias there."
_STAR_HINT = "Name each output column."


@dataclass(frozen=True)
class Output:
    """One SELECT item as the gate reads it; `source` is the granted column's exact name, and
    `expression` the derived key or the conditional aggregate's CASE, as written (None otherwise)."""

    name: str
    kind: OutputKind
    source: str | None
    expression: exp.Expr | None = None
    table: str | None = None  # the table of `source`
    alpha: float | None = None  # a quantile's fraction (dp mode only)


def project(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    reasons: list[Reason] = []
    grouped = keys.grouped(tree, scope)
    seen: set[str] = set()
    for item in tree.expressions:
        output, found = classify(item, scope, grouped)
        reasons.extend(found)
        if output is None:
            continue
        position = scope.source.position(item.args.get("alias") if isinstance(item, exp.Alias) else item)
        if is_reserved_output_name(output.name):
            reasons.append(reason(ReasonCode.reserved_output_name, output.name, position))
        if output.name.lower() in seen:
            reasons.append(reason(ReasonCode.duplicate_output_name, output.name, position))
        if output.kind is OutputKind.group and _takes_column_name(output, scope):
            reasons.append(reason(ReasonCode.ambiguous_name, output.name, position))
        seen.add(output.name.lower())
    return tree, reasons


def _takes_column_name(output: Output, scope: Scope) -> bool:
    if not is_scope_column(scope, output.name):
        return False
    return output.expression is not None or (output.source or "").lower() != output.name.lower()


def classify(item: exp.Expr, scope: Scope, grouped: frozenset[str]) -> tuple[Output | None, list[Reason]]:
    """Read one SELECT item; an Output only when the item itself is allowed (its columns may still
    carry reasons of their own, reported by the columns pass)."""
    alias = item.alias if isinstance(item, exp.Alias) else None
    node = item.this if isinstance(item, exp.Alias) else item
    position = scope.source.position(node)
    if alias is not None and scope.source.written_as_string(item.args.get("alias")):
        found = classify(node, scope, grouped)[1]
        return None, [string_alias(scope.source.position(item.args.get("alias"))), *found]
    if is_column(node):
        return _grouped(node, alias, scope, grouped)
    if isinstance(node, exp.AggFunc) or (scope.mode == "dp" and aggregates.is_quantile(node)):
        aggregate, found = aggregates.read(node, scope)
        if aggregate is None:
            return None, found
        output = Output(
            alias or aggregate.label,
            aggregate.kind,
            aggregate.source,
            aggregate.case,
            aggregate.table,
            aggregate.alpha,
        )
        return output, []
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.AggFunc):
        return None, aggregates.read(node.this, scope)[1] or [disallowed(node, scope)]
    star = _star(node)
    if star is not None:
        return None, [reason(ReasonCode.construct_not_allowed, star, position, _STAR_HINT)]
    if isinstance(node, (exp.Case, *TRANSFORMS)) and not has_aggregate(node):
        return _derived(node, alias, scope, grouped)
    return None, [disallowed(node, scope)]


def _grouped(
    column: exp.Column, alias: str | None, scope: Scope, grouped: frozenset[str]
) -> tuple[Output | None, list[Reason]]:
    granted = resolve(column, scope)[0]
    name = granted.name if granted is not None else column.name
    reasons = []
    if keys.canonical(column, scope) not in grouped:
        reasons.append(reason(ReasonCode.raw_projection, name, scope.source.position(column)))
    if granted is not None:
        found = level_reason(granted, Place.output, column, scope)
        if found is not None:
            reasons.append(found)
    table = granted.table if granted is not None else None
    return Output(alias or name, OutputKind.group, name, table=table), reasons


def _derived(
    node: exp.Expr, alias: str | None, scope: Scope, grouped: frozenset[str]
) -> tuple[Output | None, list[Reason]]:
    key = keys.read(node, scope, Place.output)
    if key.reasons or key.column is None:
        return None, list(key.reasons)  # no reasons: an unusable column, which the columns pass reported
    reasons = []
    if keys.canonical(node, scope) not in grouped:
        position = scope.source.position(node)
        reasons.append(reason(ReasonCode.raw_projection, key.column.name, position, _SAME_KEY_HINT))
    name = alias or f"{key.label}_{key.column.name}"
    return Output(name, OutputKind.group, key.column.name, node, key.column.table), reasons


def _star(node: exp.Expr) -> str | None:
    """`*`, `t.*`, `* EXCLUDE (...)`, `* REPLACE (...)`, `* LIKE '...'`, named so the operator sees which."""
    if isinstance(node, exp.Like) and isinstance(node.this, exp.Star):
        return "* LIKE"
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        node = node.this
    if not isinstance(node, exp.Star):
        return None
    named = (("except_", "* EXCLUDE"), ("replace", "* REPLACE"), ("rename", "* RENAME"), ("ilike", "* ILIKE"))
    for key, keyword in named:
        if node.args.get(key):
            return keyword
    return "*"
