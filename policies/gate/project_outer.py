"""The outer query over an aggregating CTE or derived table: rename, project, filter keys, order, limit.

Read for `lineage`: each item names an output of the aggregating source (`*` for all of them), renamed
with AS if wished; WHERE may test group-key outputs only, and is moved (by position) into the cores'
WHERE, where the WHERE pass checks it; ORDER BY ranks released outputs only; LIMIT is a whole number.
Anything else (a join, GROUP BY, DISTINCT, an expression or aggregate over the outputs, a window) is
refused with its construct named. The plan wraps the source's SQL as a subquery and selects the
chosen outputs under their new names, then `__units` and the companions those outputs name.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sqlglot import exp

from policies.gate.lineage import (
    _KEYWORDS,
    _OUTER_ARGS,
    _OUTER_HINT,
    UNITS,
    Built,
    Env,
    _companion_fields,
    _inner,
    _placeholder,
    _position,
    render,
)
from policies.gate.nodes import disallowed, has_aggregate
from policies.gate.order import AGGREGATE_ORDER_HINT
from policies.gate.order import _limit as limit_reason
from policies.gate.reasons import Reason, ReasonCode, describe, reason
from policies.gate.scope import string_alias

if TYPE_CHECKING:
    from policies.gate.lineage import _Reader
    from policies.gate.plan import OutputColumn


class OuterQuery:
    """One outer query, read with the reader that reads its source."""

    def __init__(self, reader: _Reader) -> None:
        self.read = reader.read
        self.refuse = reader.refuse
        self.source = reader.source
        self.scope = reader.scope

    def read_outer(
        self,
        select: exp.Select,
        found: tuple[exp.Query, frozenset[str], Env],
        pushed: tuple[exp.Expr, ...],
    ) -> tuple[Built | None, list[Reason]]:
        inner, qualifiers, env = found
        reasons: list[Reason] = []
        for key, value in select.args.items():
            if key in _OUTER_ARGS or not value:
                continue
            node = value[0] if isinstance(value, list) else value
            name = _KEYWORDS.get(key) or (describe(node) if isinstance(node, exp.Expr) else key.upper())
            position = node if isinstance(node, exp.Expr) else None
            reasons.append(self.refuse(f"{name} over an aggregating query", position, _OUTER_HINT))
        source, found_reasons = self.read(inner, env, ())
        if source is None:
            return None, reasons + found_reasons
        names = [output.name.lower() for output in source.outputs]
        items = self._items(select, qualifiers, source, reasons)
        if select.args.get("limit") is not None:
            found_limit = limit_reason(select.args["limit"], self.scope)
            if found_limit is not None:
                reasons.append(found_limit)
        conditions: list[exp.Expr] = []
        where = select.args.get("where")
        if where is not None:
            translated = self._translate(where.this, qualifiers, names, reasons)
            if translated is not None:
                conditions.append(translated)
        for condition in pushed:
            if select.args.get("limit") is not None:
                reasons.append(self.refuse("filter over a LIMIT", select.args["limit"], _OUTER_HINT))
                break
            conditions.append(condition.copy().transform(lambda n: self._through(n, items)))
        if reasons:
            return None, reasons
        if conditions:
            if source.limited:
                return None, [self.refuse("filter over a LIMIT", where, _OUTER_HINT)]
            source, found_reasons = self.read(inner, env, tuple(conditions))
            if source is None:
                return None, found_reasons
        outputs = [dataclasses.replace(source.outputs[index], name=name) for name, index in items]
        companions = [UNITS]
        for output in outputs:
            for field in _companion_fields():
                value = getattr(output, field)
                if isinstance(value, str) and value in source.companions and value not in companions:
                    companions.append(value)
        named = {getattr(o, f) for o in source.outputs for f in _companion_fields()}
        companions += [name for name in source.companions if name not in named and name not in companions]
        selected = [
            exp.column(source.outputs[index].name, "__q", quoted=True).as_(name, quoted=True)
            for name, index in items
        ]
        selected += [exp.column(name, "__q", quoted=True).as_(name, quoted=True) for name in companions]
        query = exp.select(*selected).from_(_inner(0, "__q"))
        order = self._order(select, items, qualifiers, names, reasons, source.outputs)
        if reasons:
            return None, reasons
        if order:
            query = query.order_by(*order)
        if select.args.get("limit") is not None:
            query = query.limit(select.args["limit"].expression.copy())
        cores = tuple((core, tuple(mapping[index] for _, index in items)) for core, mapping in source.cores)
        limited = select.args.get("limit") is not None or source.limited
        sql = render(query, [source.query])
        built = Built(sql, tuple(outputs), tuple(companions), source.tables, source.used, cores, limited)
        return built, []

    def _reference(
        self, node: exp.Expr, qualifiers: frozenset[str], names: list[str], reasons: list[Reason] | None
    ) -> int | None:
        """The source output a column names (None, with `unknown_column` when asked, if it names none)."""
        if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
            return None
        qualifier = node.args.get("table")
        known = qualifier is None or qualifier.name.lower() in qualifiers
        if known and not node.args.get("db") and node.name.lower() in names:
            return names.index(node.name.lower())
        if reasons is not None:
            parts = ".".join(part.name for part in node.parts)
            reasons.append(reason(ReasonCode.unknown_column, parts, self.source.position(node)))
        return None

    def _items(
        self, select: exp.Select, qualifiers: frozenset[str], source: Built, reasons: list[Reason]
    ) -> list[tuple[str, int]]:
        names = [output.name.lower() for output in source.outputs]
        items: list[tuple[str, int]] = []
        for item in select.expressions:
            alias = item.args.get("alias") if isinstance(item, exp.Alias) else None
            node = item.this if isinstance(item, exp.Alias) else item
            if isinstance(node, exp.Star) and not any(node.args.values()) and alias is None:
                items.extend((output.name, index) for index, output in enumerate(source.outputs))
                continue
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
                index = self._reference(node, qualifiers, names, reasons)
                if index is not None:
                    if alias is not None and self.source.written_as_string(alias):
                        reasons.append(string_alias(self.source.position(alias)))
                    items.append((alias.name if alias is not None else source.outputs[index].name, index))
                continue
            if any(isinstance(inner, exp.Window) for inner in node.walk()):
                reasons.append(disallowed(next(node.find_all(exp.Window)), self.scope))
            elif has_aggregate(node):
                hint = "Aggregate once, in the inner query: a total over its cells counts suppressed ones."
                reasons.append(self.refuse("aggregate over an aggregating query", node, hint))
            else:
                reasons.append(self.refuse("expression over an aggregating query", node, _OUTER_HINT))
        seen: set[str] = set()
        for name, _ in items:
            if name.startswith("__"):
                reasons.append(reason(ReasonCode.reserved_output_name, name, None))
            elif name.lower() in seen:
                reasons.append(reason(ReasonCode.duplicate_output_name, name, None))
            seen.add(name.lower())
        return items

    def _translate(
        self, condition: exp.Expr, qualifiers: frozenset[str], names: list[str], reasons: list[Reason]
    ) -> exp.Expr | None:
        """The outer WHERE with each column replaced by its source output's position."""
        nested = next((n for n in condition.walk() if isinstance(n, exp.Query | exp.Window)), None)
        if nested is not None:
            reasons.append(disallowed(nested, self.scope))
            return None
        before = len(reasons)

        def swap(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
                index = self._reference(node, qualifiers, names, reasons)
                return node if index is None else _placeholder(index)
            return node

        swapped = condition.copy().transform(swap)
        return swapped if len(reasons) == before else None

    @staticmethod
    def _through(node: exp.Expr, items: list[tuple[str, int]]) -> exp.Expr:
        """A condition on this layer's outputs by position, onto the source's positions."""
        index = _position(node)
        return node if index is None else _placeholder(items[index][1])

    def _order(
        self,
        select: exp.Select,
        items: list[tuple[str, int]],
        qualifiers: frozenset[str],
        names: list[str],
        reasons: list[Reason],
        source_outputs: tuple[OutputColumn, ...] = (),
    ) -> list[exp.Ordered]:
        outputs = [name for name, _ in items]
        clause = select.args.get("order")
        ordered: list[exp.Ordered] = []
        for key in clause.expressions if clause is not None else []:
            node = key.this if isinstance(key, exp.Ordered) else key
            copy = key.copy()
            lowered = [name.lower() for name in outputs]
            if isinstance(node, exp.Column) and not node.table and node.name.lower() in lowered:
                copy.set("this", exp.column(outputs[lowered.index(node.name.lower())], quoted=True))
            else:
                index = self._reference(node, qualifiers, names, None)
                chosen = [name for name, selected in items if selected == index]
                if not chosen or not isinstance(key, exp.Ordered) or key.args.get("with_fill"):
                    # Only selected outputs: ordering by a cell the release leaves out would rank
                    # values no threshold ever looked at.
                    hint = "Order by an output name of the query."
                    reasons.append(self.refuse("ORDER BY expression", node, hint))
                    continue
                copy.set("this", exp.column(chosen[0], quoted=True))
            name = copy.this.name.lower()
            index = next((i for n, i in items if n.lower() == name), None)
            if index is not None and index < len(source_outputs) and source_outputs[index].kind != "group":
                reasons.append(self.refuse("ORDER BY an aggregate output", node, AGGREGATE_ORDER_HINT))
                continue
            ordered.append(copy)
        return ordered
