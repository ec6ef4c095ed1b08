r"""Dominance companions: the per-cell facts the SDC layer's p% and N-K rules need, computed in the plan.

For every SUM or AVG output the plan also selects, hidden beside it, the total of the absolute
per-unit contributions (`__dom_total_<i>`) and the two largest absolute per-unit contributions, as a
list largest first (`__dom_top_<i>`). Absolute values, because a large negative contribution
dominates as much as a large positive one (a loss of one firm in a sector's profit).

A contribution is a privacy unit's part of the cell, not a row's: with at most one row per unit
(and no join) each row is one unit's contribution, so `SUM(ABS(x))` and DuckDB's top-n
`MAX(ABS(x), 2)` over the group are the answer. Otherwise the rows of one unit must be added up
first: a pre-aggregation by (group keys, unit) over the same FROM, joins and WHERE, then the same two
aggregates per group, in a derived table joined back to the query's rows on the group keys with
`IS NOT DISTINCT FROM` (a NULL key is a group like any other). The derived table has one row per
group, so the join repeats nothing, and the query reads it with `ANY_VALUE`. After a join the unit
is that of the aggregate's own table: its reserved `__unit` ordinal.

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> levels = {"pid": ColumnLevel.join_key, "d": ColumnLevel.group, "x": ColumnLevel.aggregate}
>>> columns = {c: ColumnGrant(c, v) for c, v in levels.items()}
>>> grant = TableGrant("t", "ds", columns, frozenset(levels), "pid", 1)
>>> plan = check("SELECT d, SUM(x) AS s FROM t GROUP BY d", GateContext(tables={"t": grant})).plan
>>> plan.outputs[1].dominance_total, plan.outputs[1].dominance_top
('__dom_total_1', '__dom_top_1')
>>> 'MAX(ABS("t"."x"), 2) AS "__dom_top_1"' in plan.sql
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp

from policies.gate.plan import OutputColumn, OutputKind

TOTAL = "__dom_total"
TOP = "__dom_top"
UNIT_SET = "__unitset:"  # policies.privacy.differencing.UNIT_SET_PREFIX
DOMINANCE_KINDS = frozenset({OutputKind.sum, OutputKind.avg})


def attach(
    query: exp.Select,
    outputs: Sequence[OutputColumn],
    units: Mapping[str, str],
    default_table: str,
    one_row: bool,
) -> tuple[exp.Select, list[OutputColumn]]:
    """`query` with the dominance companions of its SUM/AVG outputs, and the outputs naming them.

    `units` maps each table's SQL name to its privacy unit column; `one_row` says every row is a
    different unit (one table, at most one row per unit).
    """
    described = list(outputs)
    wanted: list[tuple[int, exp.Expr, str]] = []  # (output index, argument, table of its unit)
    first: dict[tuple[str, str], int] = {}  # SUM(x) and AVG(x) share one pair of companions
    named: dict[int, int] = {}  # output index -> index of the companions it reads
    for index, output in enumerate(outputs):
        if output.kind not in DOMINANCE_KINDS:
            continue
        argument = _argument(query, output.name)
        if argument is None:
            continue
        table = output.source_table or default_table
        key = (argument.sql(), table)
        if key not in first:
            first[key] = index
            wanted.append((index, argument, table))
        named[index] = first[key]
    if not wanted:
        return query, described
    if one_row:
        for index, argument, _ in wanted:
            magnitude = exp.Abs(this=argument.copy())
            query = query.select(
                exp.Sum(this=magnitude.copy()).as_(f"{TOTAL}_{index}", quoted=True),
                _top2(magnitude).as_(f"{TOP}_{index}", quoted=True),
                copy=False,
            )
    else:
        by_table: dict[str, list[tuple[int, exp.Expr]]] = {}
        for index, argument, table in wanted:
            by_table.setdefault(table, []).append((index, argument))
        keys = [key.copy() for key in (query.args["group"].expressions if query.args.get("group") else [])]
        base = query.copy()
        for number, (table, items) in enumerate(by_table.items()):
            alias = f"__dom{number}"
            derived = _per_group(base, keys, exp.column(units[table], table=table, quoted=True), items)
            on: exp.Expr = exp.true()
            for position, key in enumerate(keys):
                grouped = exp.column(f"__g{position}", table=alias, quoted=True)
                match = exp.NullSafeEQ(this=key.copy(), expression=grouped)
                on = match if position == 0 else exp.and_(on, match)
            query = query.join(
                exp.Subquery(this=derived, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))),
                on=on,
                join_type="left",
                copy=False,
            )
            for index, _ in items:
                for prefix in (TOTAL, TOP):
                    value = exp.AnyValue(this=exp.column(f"{prefix}_{index}", alias, quoted=True))
                    query = query.select(value.as_(f"{prefix}_{index}", quoted=True), copy=False)
    for index, source in named.items():
        described[index] = dataclasses.replace(
            described[index], dominance_total=f"{TOTAL}_{source}", dominance_top=f"{TOP}_{source}"
        )
    return query, described


def _argument(query: exp.Select, name: str) -> exp.Expr | None:
    """The argument of the SUM/AVG the query selects as `name`."""
    for item in query.expressions:
        if isinstance(item, exp.Alias) and item.alias == name and isinstance(item.this, exp.Sum | exp.Avg):
            return item.this.this
    return None


def _top2(value: exp.Expr) -> exp.Expr:
    """DuckDB's top-n MAX: the two largest values as a list, largest first."""
    return exp.Anonymous(this="MAX", expressions=[value, exp.Literal.number(2)])


def _per_group(
    base: exp.Select, keys: list[exp.Expr], unit: exp.Column, items: list[tuple[int, exp.Expr]]
) -> exp.Select:
    """One row per group: the total and the two largest of the per-unit sums of each argument."""
    pre = exp.select(
        *(key.copy().as_(f"__g{position}", quoted=True) for position, key in enumerate(keys)),
        unit.copy().as_("__u", quoted=True),
        *(exp.Sum(this=argument.copy()).as_(f"__c{index}", quoted=True) for index, argument in items),
    )
    pre.set("from_", base.args["from_"].copy())
    if base.args.get("joins"):
        pre.set("joins", [join.copy() for join in base.args["joins"]])
    if base.args.get("where") is not None:
        pre.set("where", base.args["where"].copy())
    pre = pre.group_by(*(key.copy() for key in keys), unit.copy(), copy=False)
    parts: list[exp.Expr] = [exp.column(f"__g{position}", quoted=True) for position in range(len(keys))]
    for index, _ in items:
        magnitude = exp.Abs(this=exp.column(f"__c{index}", quoted=True))
        parts.append(exp.Sum(this=magnitude.copy()).as_(f"{TOTAL}_{index}", quoted=True))
        parts.append(_top2(magnitude).as_(f"{TOP}_{index}", quoted=True))
    alias = exp.TableAlias(this=exp.to_identifier("__pre", quoted=True))
    grouped = exp.select(*parts).from_(exp.Subquery(this=pre, alias=alias))
    if keys:
        grouped = grouped.group_by(
            *(exp.column(f"__g{position}", quoted=True) for position in range(len(keys))), copy=False
        )
    return grouped


def attach_unit_sets(query: exp.Select, tables: Sequence[str], one_row: bool = False) -> exp.Select:
    """`query` with, per contributing table, the set of unit ordinals behind each row:
    `LIST(DISTINCT t."__unit")` as `"__unitset:<table>"`, for the differencing guard
    (`policies.privacy.differencing`), which keeps the sets of released rows inside the domain.
    With one row per unit (`one_row`) the rows' units are already distinct: a plain LIST."""
    for table in tables:
        unit = exp.column("__unit", table=table, quoted=True)
        argument = unit.copy() if one_row else exp.Distinct(expressions=[unit.copy()])
        listed = exp.Anonymous(this="LIST", expressions=[argument])
        present = exp.Where(this=exp.Not(this=exp.Is(this=unit.copy(), expression=exp.Null())))
        query = query.select(
            exp.Filter(this=listed, expression=present).as_(f"{UNIT_SET}{table}", quoted=True), copy=False
        )
    return query


def without(sql: str) -> str:
    """`sql` with the dominance and unit-set companions taken out again: the plan as the other passes
    wrote it (the gate's allowed cases state their rewrites without them).

    >>> without('SELECT SUM("t"."x") AS "s", SUM(ABS("t"."x")) AS "__dom_total_0" FROM "t"')
    'SELECT SUM("t"."x") AS "s" FROM "t"'
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    ours = ("__dom", UNIT_SET)
    for select in list(tree.find_all(exp.Select)):  # every layer: wrappers carry them up by name
        select.set("expressions", [e for e in select.expressions if not e.alias_or_name.startswith(ours)])
        joins = [j for j in select.args.get("joins") or [] if not j.alias_or_name.startswith("__dom")]
        select.set("joins", joins or None)
    return tree.sql(dialect="duckdb", identify=True, comments=False)
