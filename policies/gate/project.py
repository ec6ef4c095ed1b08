"""Pass 5: each SELECT item is a grouped column or one of four aggregates, and has a usable name.

Only these leave the workspace, and each has a units count the privacy layer can threshold:
a grouped `group`/`public` column, COUNT(*), COUNT(DISTINCT <privacy unit>), SUM(<aggregate column>)
and AVG(<aggregate column>). MIN, MAX, string_agg, quantiles and friends would return one person's
value, so they are refused by name. `classify` is shared with `rewrite`, so the plan is built from the
same reading of the query that was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policies.gate.columns import Place, level_reason
from policies.gate.plan import OutputKind
from policies.gate.reasons import Reason, ReasonCode, describe, reason
from policies.gate.scope import Scope, resolve, string_alias

_AGGREGATE_HINT = "Use COUNT(*), COUNT(DISTINCT <privacy unit>), SUM(<column>) or AVG(<column>)."


@dataclass(frozen=True)
class Output:
    """One SELECT item as the gate reads it; `source` is the granted column's exact name."""

    name: str
    kind: OutputKind
    source: str | None


def project(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    reasons: list[Reason] = []
    grouped = grouped_columns(tree, scope)
    seen: set[str] = set()
    for item in tree.expressions:
        output, found = classify(item, scope, grouped)
        reasons.extend(found)
        if output is None:
            continue
        position = scope.source.position(item)
        if output.name.startswith("__"):
            reasons.append(reason(ReasonCode.reserved_output_name, output.name, position))
        if output.name.lower() in seen:
            reasons.append(reason(ReasonCode.duplicate_output_name, output.name, position))
        seen.add(output.name.lower())
    return tree, reasons


def grouped_columns(tree: exp.Select, scope: Scope) -> frozenset[str]:
    """Lower-case names of the plain columns in GROUP BY (resolved to the grant's spelling when known)."""
    group = tree.args.get("group")
    names = set()
    for key in group.expressions if group is not None else []:
        if isinstance(key, exp.Column) and isinstance(key.this, exp.Identifier):
            granted = resolve(key, scope)[0]
            names.add((granted.name if granted is not None else key.name).lower())
    return frozenset(names)


def classify(item: exp.Expr, scope: Scope, grouped: frozenset[str]) -> tuple[Output | None, list[Reason]]:
    """Read one SELECT item; an Output only when the item itself is allowed (its columns may still
    carry reasons of their own, reported by the columns pass)."""
    alias = item.alias if isinstance(item, exp.Alias) else None
    node = item.this if isinstance(item, exp.Alias) else item
    position = scope.source.position(node)
    if alias is not None and scope.source.written_as_string(item.args.get("alias")):
        found = classify(node, scope, grouped)[1]
        return None, [string_alias(scope.source.position(item.args.get("alias"))), *found]
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return _grouped(node, alias, scope, grouped)
    if isinstance(node, exp.Count | exp.Sum | exp.Avg):
        return _aggregate(node, alias, scope)
    if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
        return None, [reason(ReasonCode.construct_not_allowed, "*", position, "Name each output column.")]
    return None, [disallowed(node, scope)]


def _grouped(
    column: exp.Column, alias: str | None, scope: Scope, grouped: frozenset[str]
) -> tuple[Output | None, list[Reason]]:
    granted = resolve(column, scope)[0]
    name = granted.name if granted is not None else column.name
    reasons = []
    if name.lower() not in grouped:
        reasons.append(reason(ReasonCode.raw_projection, name, scope.source.position(column)))
    if granted is not None:
        found = level_reason(granted, Place.output, column, scope)
        if found is not None:
            reasons.append(found)
    return Output(alias or name, OutputKind.group, name), reasons


def _aggregate(
    node: exp.Count | exp.Sum | exp.Avg, alias: str | None, scope: Scope
) -> tuple[Output | None, list[Reason]]:
    name = function_name(node, scope)
    position = scope.source.position(node)
    refused = [reason(ReasonCode.aggregate_not_allowed, name, position, _AGGREGATE_HINT)]
    extra = any(value for key, value in node.args.items() if key not in ("this", "big_int"))
    argument = node.this
    if extra or argument is None:
        return None, refused
    if isinstance(node, exp.Count) and isinstance(argument, exp.Star):
        return Output(alias or "count", OutputKind.count, None), []
    if isinstance(node, exp.Count):
        distinct = argument.expressions if isinstance(argument, exp.Distinct) else []
        if len(distinct) != 1 or argument.args.get("on") or not _is_column(distinct[0]):
            return None, refused
        return _argument(distinct[0], Place.count_distinct, OutputKind.count_units, alias, scope)
    if not _is_column(argument):
        return None, refused
    kind = OutputKind.sum if isinstance(node, exp.Sum) else OutputKind.avg
    return _argument(argument, Place.sum_avg, kind, alias, scope)


def _argument(
    column: exp.Column, place: Place, kind: OutputKind, alias: str | None, scope: Scope
) -> tuple[Output | None, list[Reason]]:
    granted = resolve(column, scope)[0]
    if granted is None:
        return None, []  # unusable column: the columns pass said why
    found = level_reason(granted, place, column, scope)
    if found is not None:
        return None, [found]
    prefix = {OutputKind.count_units: "count_distinct", OutputKind.sum: "sum", OutputKind.avg: "avg"}[kind]
    return Output(alias or f"{prefix}_{granted.name}", kind, granted.name), []


def _is_column(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier)


def function_name(node: exp.Expr, scope: Scope) -> str:
    typed = scope.source.call_name(node) if isinstance(node, exp.Func) else None
    return typed or describe(node)


def disallowed(node: exp.Expr, scope: Scope) -> Reason:
    """The reason for a node no allow-list in its place knows: aggregate, function or construct."""
    position = scope.source.position(node)
    inner = node.this if isinstance(node, exp.IgnoreNulls | exp.RespectNulls) else node
    if isinstance(inner, exp.AggFunc):
        return reason(
            ReasonCode.aggregate_not_allowed, function_name(inner, scope), position, _AGGREGATE_HINT
        )
    if isinstance(inner, exp.Func) and not isinstance(inner, exp.Columns | exp.Case):
        return reason(ReasonCode.function_not_allowed, function_name(inner, scope), position)
    return reason(ReasonCode.construct_not_allowed, describe(node), position)
