r"""UNION [ALL] of aggregate queries: each branch checked as its own query, outputs aligned by position.

Each branch is read by `lineage` (a core, an outer query over one, or another UNION) and keeps its own
unit companions, so each row of the result carries the units of the group it came from. The branches
must agree, position by position, on what each output is (`OutputKind`): the privacy layer treats a
group key and an aggregate differently (a key is shown in a suppressed row when public; a cell is
nulled), and a later rule (dominance) may apply to SUM and not to COUNT, so a column that is a key in
one branch and a sum in another would be checked as the wrong thing. The names are the first
branch's, as in SQL. A group output keeps its source column (for its declared public keys) only when
every branch draws it from the same column of the same table.

Companions align by position too: output i's units column is `__units_<i>` when any branch counts that
cell apart from its row, and a branch whose cell is covered by its row's units supplies its `__units`
there. Any other per-output companion (a field of `OutputColumn` ending in `_column`, such as a
dominance companion) must be present in every branch or the union is refused, never filled in.

`UNION` (distinct) removes duplicate rows of outputs *and* companions: two branches' identical output
rows with different unit counts both stay, each thresholded on its own units. INTERSECT and EXCEPT are
refused (`lineage` says why); so are `UNION BY NAME` and any modifier this module does not read.
ORDER BY names outputs; LIMIT is a whole number.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlglot import exp

from policies.gate.order import AGGREGATE_ORDER_HINT
from policies.gate.order import _limit as limit_reason
from policies.gate.reasons import Reason, describe

if TYPE_CHECKING:
    from policies.gate.lineage import Built, Env, _Reader

_ALLOWED = frozenset({"this", "expression", "distinct", "order", "limit", "with_"})
_UNIT_SET = "__unitset:"  # policies.gate.companions.UNIT_SET
_HINT = "Combine aggregate queries with UNION ALL (or UNION), with the same output kinds in the same order."
_COMPARE_HINT = (
    "Combine aggregate queries with UNION ALL; INTERSECT and EXCEPT compare rows before the privacy "
    "thresholds apply."
)


def combine(
    reader: _Reader, node: exp.SetOperation, env: Env, pushed: tuple[exp.Expr, ...]
) -> tuple[Built | None, list[Reason]]:
    from policies.gate.lineage import UNITS, Built, _companion_fields, _inner, render

    reasons: list[Reason] = []
    if isinstance(node, exp.Intersect | exp.Except):
        keyword = "INTERSECT" if isinstance(node, exp.Intersect) else "EXCEPT"
        reasons.append(reader.refuse(keyword, node.expression, _COMPARE_HINT))
    for key, value in node.args.items():
        if key in _ALLOWED or not value:
            continue
        construct = describe(value) if isinstance(value, exp.Expr) else key
        if key == "by_name":
            construct = "UNION BY NAME"
        reasons.append(reader.refuse(str(construct).upper(), node.expression, _HINT))
    limit = node.args.get("limit")
    if limit is not None:
        found = limit_reason(limit, reader.scope)
        if found is not None:
            reasons.append(found)
        if pushed:
            reasons.append(reader.refuse("filter over a LIMIT", limit, _HINT))
    branches = []
    for branch in (node.this, node.expression):
        built, found_reasons = reader.read(branch, env, pushed)
        reasons.extend(found_reasons)
        branches.append(built)
    if reasons or None in branches:
        return None, reasons
    left, right = (branch for branch in branches if branch is not None)
    if len(left.outputs) != len(right.outputs):
        construct = "UNION of queries with different numbers of columns"
        return None, [reader.refuse(construct, node.expression, _HINT)]
    outputs: list = []
    union_companions: list[str] = [UNITS]
    per_branch: list[list[str]] = [[UNITS], [UNITS]]  # each branch's column for each union companion
    for index, (a, b) in enumerate(zip(left.outputs, right.outputs, strict=True)):
        if a.kind is not b.kind:
            construct = f"UNION of a {a.kind.value} and a {b.kind.value} output at column {index + 1}"
            reasons.append(reader.refuse(construct, node.expression, _HINT))
            continue
        same = (a.source_column, a.source_table) == (b.source_column, b.source_table)
        changes: dict[str, object] = {} if same else {"source_column": None, "source_table": None}
        for field in _companion_fields():
            values = [getattr(a, field), getattr(b, field)]
            if all(value is None for value in values):
                continue
            if field == "units_column":
                values = [value or UNITS for value in values]
                if all(value == UNITS for value in values):
                    changes[field] = UNITS
                    continue
                name = f"{UNITS}_{index}"
            elif None in values:
                construct = f"UNION of outputs checked differently at column {index + 1}"
                reasons.append(reader.refuse(construct, node.expression, _HINT))
                continue
            else:
                name = f"__{field.removesuffix('_column')}_{index}"
            changes[field] = name
            union_companions.append(name)
            for columns, value in zip(per_branch, values, strict=True):
                columns.append(str(value))
        outputs.append(dataclasses.replace(a, **changes))  # type: ignore[arg-type]
    shared = [
        [name for name in built.companions if name not in _referenced(built)] for built in (left, right)
    ]
    # Row-level unit sets (`"__unitset:<table>"`, the differencing guard's) align by name: a branch
    # over other tables has no unit of that table behind its rows, so it supplies NULL (no units).
    unit_sets = [name for name in dict.fromkeys([*shared[0], *shared[1]]) if name.startswith(_UNIT_SET)]
    if {n for n in shared[0] if n not in unit_sets} != {n for n in shared[1] if n not in unit_sets}:
        reasons.append(reader.refuse("UNION of queries with different companions", node.expression, _HINT))
    if reasons:
        return None, reasons
    for name in [*(n for n in shared[0] if n not in unit_sets), *unit_sets]:
        union_companions.append(name)
        for columns, own in zip(per_branch, shared, strict=True):
            columns.append(name if name in own or name not in unit_sets else "")
    wrapped = []
    for number, (built, columns) in enumerate(zip((left, right), per_branch, strict=True)):
        selected = [
            exp.column(output.name, "__b", quoted=True).as_(union.name, quoted=True)
            for output, union in zip(built.outputs, outputs, strict=True)
        ]
        selected += [
            (
                exp.column(column, "__b", quoted=True)
                if column
                else exp.cast(exp.Null(), exp.DataType.build("BIGINT[]", dialect="duckdb"))
            ).as_(name, quoted=True)
            for column, name in zip(columns, union_companions, strict=True)
        ]
        wrapped.append(exp.select(*selected).from_(_inner(number, "__b")))
    kind = exp.Union(this=wrapped[0], expression=wrapped[1], distinct=bool(node.args.get("distinct")))
    names = [output.name for output in outputs]
    order = node.args.get("order")
    if order is not None:
        keys = []
        for key in order.expressions:
            column = key.this if isinstance(key, exp.Ordered) else key
            lowered = [name.lower() for name in names]
            if (
                not isinstance(key, exp.Ordered)
                or key.args.get("with_fill")
                or not isinstance(column, exp.Column)
                or column.table
                or column.name.lower() not in lowered
            ):
                hint = "Order a UNION by its output names."
                reasons.append(reader.refuse("ORDER BY expression", column, hint))
                continue
            position = lowered.index(column.name.lower())
            if outputs[position].kind != "group":
                reasons.append(reader.refuse("ORDER BY an aggregate output", column, AGGREGATE_ORDER_HINT))
                continue
            copy = key.copy()
            copy.set("this", exp.column(names[position], quoted=True))
            keys.append(copy)
        if reasons:
            return None, reasons
        kind.set("order", exp.Order(expressions=keys))
    if limit is not None:
        kind.set("limit", exp.Limit(expression=limit.expression.copy()))
    used: dict[str, set[str]] = {}
    for built in (left, right):
        for table, columns in built.used.items():
            used.setdefault(table, set()).update(columns)
    built = Built(
        render(kind, [left.query, right.query]),
        tuple(outputs),
        tuple(union_companions),
        tuple(dict.fromkeys(left.tables + right.tables)),
        {table: tuple(sorted(columns)) for table, columns in used.items()},
        left.cores + right.cores,
        limit is not None,
    )
    return built, []


def _referenced(built: Built) -> set[str]:
    """The companions some output names (the row's `__units` among them)."""
    from policies.gate.lineage import UNITS, _companion_fields

    names = {UNITS}
    for output in built.outputs:
        names |= {getattr(output, field) for field in _companion_fields() if getattr(output, field)}
    return names
