"""Pass 2: find the granted tables the query reads, and build the context the later passes share.

A query reads one granted table, or several joined by INNER JOIN ... ON or LEFT JOIN ... ON (the ON
itself is checked by the `join` pass, the left join's unit counts by `outer`). Each table is named
as the grant names it and appears once: a self-join would count one unit's rows against each other.
Other join kinds (RIGHT, FULL, CROSS, ...), derived tables, table functions and file paths are refused
here, so that every later pass can resolve a column against the grants in scope. `resolve` is the
single place a column reference becomes a granted column: a qualifier picks the table by its name or
alias; an unqualified name must belong to exactly one of the tables (else `ambiguous_name`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from policies.gate.parse import Source
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.gate.reasons import Reason, ReasonCode, describe, reason
from policies.levels import ColumnLevel

_TABLE_ARGS = frozenset({"this", "alias", "db", "catalog"})  # db, catalog: see below
_JOIN_WORDS = frozenset(
    {"ASOF", "POSITIONAL", "NATURAL", "LEFT", "RIGHT", "FULL", "INNER", "OUTER", "CROSS", "SEMI", "ANTI"}
)
_JOIN_HINT = (
    "Join granted tables with [INNER] JOIN or LEFT JOIN <table> ON a.<column> = b.<column> [AND ...]; "
    "for a RIGHT JOIN, name its preserved table first and LEFT JOIN the other."
)
_AMBIGUOUS_HINT = "Qualify the column with its table's name or alias, e.g. r.district."


@dataclass(frozen=True)
class Bound:
    """One table in scope: its grant (None when unknown; its columns then name it as their `table`),
    the names that may qualify its columns, and the join that brought it in (None for FROM's table)."""

    grant: TableGrant | None
    qualifiers: frozenset[str]
    join: exp.Join | None = None


@dataclass(frozen=True)
class Scope:
    """What every pass after this one needs: the text (for positions), the grant of FROM's table (None
    when the table is not known: column levels are then not checked), the names that may qualify its
    columns, the output names the SELECT list gives (lower-case name -> the unaliased item), and every
    table in scope (FROM's first, then each joined table; empty means just `grant`)."""

    source: Source
    grant: TableGrant | None
    qualifiers: frozenset[str] = frozenset()
    outputs: Mapping[str, exp.Expr] = field(default_factory=dict)
    tables: tuple[Bound, ...] = ()
    mode: str = "sdc"  # the job's mode: dp mode reads quantiles, which sdc refuses (`aggregates`)

    @property
    def bound(self) -> tuple[Bound, ...]:
        return self.tables or (Bound(self.grant, self.qualifiers),)

    @property
    def joined(self) -> bool:
        return len(self.tables) > 1


def scope(tree: exp.Select, ctx: GateContext, source: Source) -> tuple[Scope, list[Reason]]:
    reasons: list[Reason] = []
    for lateral in tree.args.get("laterals") or []:
        reasons.append(reason(ReasonCode.construct_not_allowed, "LATERAL", source.position(lateral)))
    outputs = _outputs(tree)
    from_ = tree.args.get("from_")
    if from_ is None:
        reasons.append(
            reason(
                ReasonCode.construct_not_allowed,
                "SELECT without FROM",
                source.position(tree),
                "Select from one granted table with FROM <table>.",
            )
        )
        reasons.extend(_refused(join, source) for join in _joins(tree))
        return Scope(source, None, outputs=outputs, mode=ctx.mode), reasons
    first, found = _bind(from_.this, None, ctx, source)
    reasons.extend(found)
    if first is None:
        reasons.extend(_refused(join, source) for join in _joins(tree))
        return Scope(source, None, outputs=outputs, mode=ctx.mode), reasons
    tables = [first]
    for join in _joins(tree):
        refused = _join_kind(join, source)
        if refused is not None:
            reasons.append(refused)
        if not isinstance(join.this, exp.Table):
            if refused is None:
                reasons.append(_not_table(join, source))
            continue
        bound, found = _bind(join.this, join, ctx, source)
        reasons.extend(found)
        if bound is None:
            continue
        if bound.grant is not None and any(
            other.grant is not None and other.grant.name == bound.grant.name for other in tables
        ):
            hint = "Each granted table may appear once in a query."
            reasons.append(reason(ReasonCode.construct_not_allowed, "self-join", source.position(join), hint))
            continue
        if any(bound.qualifiers & other.qualifiers for other in tables):
            hint = "Give each table a distinct name or alias."
            position = source.position(join.this)
            reasons.append(reason(ReasonCode.construct_not_allowed, "duplicate table name", position, hint))
            continue
        tables.append(bound)
    return Scope(source, first.grant, first.qualifiers, outputs, tuple(tables), ctx.mode), reasons


def _joins(tree: exp.Select) -> list[exp.Join]:
    return list(tree.args.get("joins") or [])


def _join_kind(join: exp.Join, source: Source) -> Reason | None:
    """None for `[INNER] JOIN <table> ON ...` and `LEFT [OUTER] JOIN`; else the join's keywords, refused."""
    if isinstance(join.this, exp.Lateral):
        return reason(ReasonCode.construct_not_allowed, "LATERAL", source.position(join))
    kind = str(join.args.get("kind") or "").upper()
    side = str(join.args.get("side") or "").upper()
    extra = any(value for key, value in join.args.items() if key not in ("this", "on", "kind", "side"))
    inner = side == "" and kind in ("", "INNER")
    left = side == "LEFT" and kind in ("", "OUTER")  # counted by `outer`
    if extra or not (inner or left):
        construct = _join(join) + (" USING" if join.args.get("using") else "")
        return reason(ReasonCode.construct_not_allowed, construct, source.position(join), _JOIN_HINT)
    if join.args.get("on") is None:
        position = source.position(join)
        return reason(ReasonCode.construct_not_allowed, "JOIN without ON", position, _JOIN_HINT)
    return None


def _refused(join: exp.Join, source: Source) -> Reason:
    """A join after a FROM that is not a granted table: refused by its keywords alone."""
    construct = "LATERAL" if isinstance(join.this, exp.Lateral) else _join(join)
    return reason(ReasonCode.construct_not_allowed, construct, source.position(join))


def _not_table(join: exp.Join, source: Source) -> Reason:
    return reason(ReasonCode.construct_not_allowed, describe(join.this), source.position(join.this))


def _bind(
    table: exp.Expr, join: exp.Join | None, ctx: GateContext, source: Source
) -> tuple[Bound | None, list[Reason]]:
    """The table as a Bound (None when it is not a table at all), and the reasons it is refused."""
    if not isinstance(table, exp.Table):
        return None, [reason(ReasonCode.construct_not_allowed, describe(table), source.position(table))]
    reasons: list[Reason] = []
    grant, found = _table(table, ctx, source)
    reasons.extend(found)
    # As in DuckDB, once a table has an alias only the alias may qualify its columns.
    qualifiers = {table.name.lower()} if isinstance(table.this, exp.Identifier) else set()
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.this is not None:
        if source.written_as_string(alias.this):
            reasons.append(string_alias(source.position(alias)))
        qualifiers = {alias.name.lower()}
        if alias.args.get("columns"):
            reasons.append(
                reason(ReasonCode.construct_not_allowed, "column aliases in FROM", source.position(alias))
            )
    if grant is not None:
        named = {key: dataclasses.replace(column, table=grant.name) for key, column in grant.columns.items()}
        grant = dataclasses.replace(grant, columns=named)
    return Bound(grant, frozenset(qualifiers), join), reasons


def _join(join: exp.Expr) -> str:
    """The join's keywords (`ASOF JOIN`, `POSITIONAL JOIN`, `LEFT JOIN`), never its operands."""
    words = [str(join.args.get(key) or "").upper() for key in ("method", "side", "kind")]
    known = [word for word in words if word in _JOIN_WORDS]
    return " ".join([*known, "JOIN"])


def string_alias(position: tuple[int, int] | None) -> Reason:
    hint = 'Write aliases as identifiers, e.g. AS total or AS "total".'
    return reason(ReasonCode.construct_not_allowed, "string literal as alias", position, hint)


def _table(table: exp.Table, ctx: GateContext, source: Source) -> tuple[TableGrant | None, list[Reason]]:
    reasons = []
    for key, value in table.args.items():
        if not value or key in _TABLE_ARGS:
            continue
        node = value[0] if isinstance(value, list) else value
        construct = describe(node) if isinstance(node, exp.Expr) else key.upper()
        reasons.append(reason(ReasonCode.construct_not_allowed, construct, source.position(table)))
    name = table.this
    if not isinstance(name, exp.Identifier):
        construct = "table function"
        if isinstance(name, exp.Expr):
            construct = source.call_name(name) or describe(name)
        reasons.append(reason(ReasonCode.table_function, construct, source.position(table)))
        return None, reasons
    if source.written_as_string(name):
        reasons.append(reason(ReasonCode.table_function, "file path", source.position(name)))
        return None, reasons
    if table.args.get("db") or table.args.get("catalog"):
        parts = [part.name for part in table.parts]
        reasons.append(
            reason(
                ReasonCode.unknown_table,
                ".".join(parts),
                source.position(table),
                "Name the table without a schema or catalog.",
            )
        )
        return None, reasons
    grant = ctx.tables.get(name.name.lower())
    if grant is None:
        reasons.append(reason(ReasonCode.unknown_table, name.name, source.position(name)))
    return grant, reasons


def _outputs(tree: exp.Select) -> dict[str, exp.Expr]:
    """Names the operator can see in the result: explicit aliases and unaliased plain columns."""
    names: dict[str, exp.Expr] = {}
    for item in tree.expressions:
        if isinstance(item, exp.Alias):
            names.setdefault(item.alias.lower(), item.this)
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Identifier):
            names.setdefault(item.name.lower(), item)
    return names


def lookup(grant: TableGrant, name: str) -> ColumnGrant | None:
    """A granted column by name; DuckDB names are case-insensitive, so an exact match wins, then any."""
    if name in grant.columns:
        return grant.columns[name]
    folded = name.lower()
    return next((column for key, column in grant.columns.items() if key.lower() == folded), None)


def is_table_column(grant: TableGrant | None, name: str) -> bool:
    folded = name.lower()
    return grant is not None and any(column.lower() == folded for column in grant.all_columns)


def is_scope_column(scope: Scope, name: str) -> bool:
    """True when `name` is a column of any table in scope."""
    return any(is_table_column(bound.grant, name) for bound in scope.bound)


def grant_of(granted: ColumnGrant, scope: Scope) -> TableGrant | None:
    """The grant of the table a resolved column belongs to."""
    for bound in scope.bound:
        if bound.grant is not None and (granted.table is None or bound.grant.name == granted.table):
            return bound.grant
    return None


def resolve(column: exp.Column, scope: Scope) -> tuple[ColumnGrant | None, Reason | None]:
    """The granted column a reference names, or the reason it names none.

    Hidden columns resolve to None with `hidden_column`: no pass may treat them as usable.
    """
    position = scope.source.position(column)
    parts = [part.name for part in column.parts]
    qualifier = column.args.get("table")
    if column.args.get("db") or column.args.get("catalog"):
        return None, reason(ReasonCode.unknown_column, ".".join(parts), position)
    if qualifier is not None:
        named = [bound for bound in scope.bound if qualifier.name.lower() in bound.qualifiers]
        if not named:
            return None, reason(ReasonCode.unknown_column, ".".join(parts), position)
        grant = named[0].grant
    else:
        having = [bound for bound in scope.bound if is_table_column(bound.grant, column.name)]
        if len(having) > 1:
            return None, reason(ReasonCode.ambiguous_name, column.name, position, _AMBIGUOUS_HINT)
        if having:
            grant = having[0].grant
        elif any(bound.grant is None for bound in scope.bound):
            return None, None  # maybe a column of the unknown table, which was reported
        else:
            grant = scope.bound[0].grant
    if grant is None:
        return None, None
    granted = lookup(grant, column.name)
    if granted is None:
        code = (
            ReasonCode.column_not_granted
            if is_table_column(grant, column.name)
            else ReasonCode.unknown_column
        )
        return None, reason(code, column.name, position)
    if granted.level == ColumnLevel.hidden:
        return None, reason(ReasonCode.hidden_column, granted.name, position)
    return granted, None


def clause_of(node: exp.Expr, root: exp.Select) -> str | None:
    """The argument of `root` that holds `node` ("where", "group", ...), or None when `node` sits in
    a nested query, whose columns do not belong to this scope."""
    current = node
    while current.parent is not None and current.parent is not root:
        if isinstance(current.parent, exp.Query) and current.parent is not root:
            return None
        current = current.parent
    return current.arg_key if current.parent is root else None
