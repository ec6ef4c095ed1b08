"""Pass 2: find the one granted table the query reads, and build the context the later passes share.

A query here reads exactly one table, named as the grant names it. Joins, derived tables, table
functions and file paths are refused here so that every later pass can resolve a column against that
one grant. `resolve` is the single place a column reference becomes a granted column.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Scope:
    """What every pass after this one needs: the text (for positions), the grant (None when the table
    is not known: column levels are then not checked), the names that may qualify a column, and the
    output names the SELECT list gives (lower-case name -> the unaliased item)."""

    source: Source
    grant: TableGrant | None
    qualifiers: frozenset[str] = frozenset()
    outputs: Mapping[str, exp.Expr] = field(default_factory=dict)


def scope(tree: exp.Select, ctx: GateContext, source: Source) -> tuple[Scope, list[Reason]]:
    reasons: list[Reason] = []
    for key in ("joins", "laterals"):
        for join in tree.args.get(key) or []:
            construct = "LATERAL" if isinstance(join.this, exp.Lateral) or key == "laterals" else _join(join)
            reasons.append(reason(ReasonCode.construct_not_allowed, construct, source.position(join)))
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
        return Scope(source, None, outputs=outputs), reasons
    table = from_.this
    if not isinstance(table, exp.Table):
        reasons.append(reason(ReasonCode.construct_not_allowed, describe(table), source.position(table)))
        return Scope(source, None, outputs=outputs), reasons
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
    return Scope(source, grant, frozenset(qualifiers), outputs), reasons


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


def resolve(column: exp.Column, scope: Scope) -> tuple[ColumnGrant | None, Reason | None]:
    """The granted column a reference names, or the reason it names none.

    Hidden columns resolve to None with `hidden_column`: no pass may treat them as usable.
    """
    position = scope.source.position(column)
    parts = [part.name for part in column.parts]
    qualifier = column.args.get("table")
    if (
        column.args.get("db")
        or column.args.get("catalog")
        or (qualifier is not None and qualifier.name.lower() not in scope.qualifiers)
    ):
        return None, reason(ReasonCode.unknown_column, ".".join(parts), position)
    grant = scope.grant
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
