"""Pass 1b: flatten CTEs and derived tables that only rename, project and filter into one SELECT.

Runs right after `parse`, before `scope`, so that every later pass checks the query that actually
runs. It merges only when every CTE and derived table is a plain `SELECT <column or expression> [AS
name], ... FROM <granted table, earlier CTE or such a derived table> [WHERE ...]`: no `*`, aggregate,
window, DISTINCT, LIMIT, join, set operation or nested query inside; each CTE is referenced exactly
once, defines no column list, is not recursive and does not shadow a granted table. The merge itself
is sqlglot's optimizer (`qualify` with a schema built from the grants, then `merge_subqueries`);
anything else, or anything sqlglot leaves unmerged, returns the operator's tree unchanged, and the
later passes refuse WITH and subqueries as before (`construct_not_allowed`).

The merged tree names the real columns, so an alias cannot launder a column past its level: the level
checks see `name` in `WITH t AS (SELECT name AS n FROM residents) SELECT n ...`. The final SELECT's
output names are restored to what the operator wrote: an alias stays, a bare column keeps its name as
an alias (`SELECT n` outputs `n`), and an unaliased expression gets no alias (as without a CTE).
Positions stay in the operator's text, since sqlglot keeps each identifier's token on the copy.

>>> from policies.levels import ColumnLevel
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> levels = {"resident_id": ColumnLevel.join_key, "district": ColumnLevel.group}
>>> grant = TableGrant(
...     name="residents",
...     dataset_id="ds-1",
...     columns={column: ColumnGrant(column, level) for column, level in levels.items()},
...     all_columns=frozenset(levels),
...     privacy_unit="resident_id",
...     max_rows_per_unit=1,
... )
>>> ctx = GateContext(tables={"residents": grant})
>>> import sqlglot
>>> tree = sqlglot.parse_one("WITH t AS (SELECT district AS d FROM residents) SELECT d FROM t", read="duckdb")
>>> merge(tree, ctx)[0].sql(dialect="duckdb")
'SELECT residents.district AS d FROM residents AS residents'
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.merge_subqueries import merge_subqueries
from sqlglot.optimizer.qualify import qualify

from policies.gate.nodes import has_aggregate
from policies.gate.parse import Source
from policies.gate.plan import GateContext
from policies.gate.reasons import Reason, ReasonCode, reason
from policies.levels import ColumnLevel

DIALECT = "duckdb"
_SIMPLE_ARGS = frozenset({"expressions", "from_", "where"})

__all__ = ["merge"]


def merge(
    tree: exp.Select, ctx: GateContext, source: Source | None = None
) -> tuple[exp.Select, list[Reason]]:
    """The flat SELECT when the query's CTEs and derived tables can be merged, else `tree` as it is.

    What it does not merge, `shape` and `scope` refuse as before. The one reason it reports itself: a
    column the merge drops because the outer query never uses it must still be one the operator may
    name at all, so `WITH t AS (SELECT name FROM residents) SELECT COUNT(*) FROM t` is refused for
    naming the hidden `name`, though the query that would run never reads it.
    """
    if not tree.args.get("with_") and not _derived(tree):
        return tree, []
    if not _mergeable(tree, ctx):
        return tree, []
    try:
        schema = {
            name: {column: "UNKNOWN" for column in grant.all_columns | set(grant.columns)}
            for name, grant in ctx.tables.items()
        }
        qualified = qualify(
            tree.copy(),
            dialect=DIALECT,
            schema=schema,
            expand_stars=False,
            quote_identifiers=False,
            identify=False,
        )
        before = _references(qualified, ctx)
        merged = merge_subqueries(qualified.copy())
    except Exception:
        return tree, []
    if not isinstance(merged, exp.Select) or merged.args.get("with_") or _nested(merged):
        return tree, []
    if len(merged.expressions) != len(tree.expressions):
        return tree, []
    merged.set(
        "expressions",
        [_named(item, written) for item, written in zip(merged.expressions, tree.expressions, strict=True)],
    )
    return merged, _dropped(before, _references(merged, ctx), ctx, source)


def _references(tree: exp.Expr, ctx: GateContext) -> dict[tuple[str, str], exp.Column]:
    """(granted table, column) -> the first reference to it, through the qualified table aliases."""
    aliases = {
        table.alias_or_name.lower(): table.name.lower()
        for table in tree.find_all(exp.Table)
        if table.name.lower() in ctx.tables
    }
    found: dict[tuple[str, str], exp.Column] = {}
    for column in tree.find_all(exp.Column):
        table = aliases.get(column.table.lower())
        if table is not None:
            found.setdefault((table, column.name), column)
    return found


def _dropped(
    before: dict[tuple[str, str], exp.Column],
    after: dict[tuple[str, str], exp.Column],
    ctx: GateContext,
    source: Source | None,
) -> list[Reason]:
    reasons: list[Reason] = []
    for (table, name), node in before.items():
        if (table, name) in after:
            continue
        grant = ctx.tables[table]
        column = grant.columns.get(name)
        if column is None:
            code = ReasonCode.column_not_granted if name in grant.all_columns else ReasonCode.unknown_column
        elif column.level is ColumnLevel.hidden:
            code = ReasonCode.hidden_column
        else:
            continue  # granted and unused: dropping it changes nothing
        reasons.append(reason(code, name, source.position(node) if source else None))
    return reasons


def _derived(select: exp.Select) -> bool:
    from_ = select.args.get("from_")
    sources = [from_.this] if from_ is not None else []
    sources += [join.this for join in select.args.get("joins") or []]
    return any(isinstance(source, exp.Subquery) for source in sources)


def _nested(tree: exp.Expr) -> bool:
    return any(
        isinstance(node, exp.Query | exp.Subquery | exp.With) for node in tree.walk() if node is not tree
    )


def _mergeable(tree: exp.Select, ctx: GateContext) -> bool:
    with_ = tree.args.get("with_")
    ctes: list[exp.CTE] = []
    if with_ is not None:
        if with_.args.get("recursive") or any(
            key != "expressions" and value for key, value in with_.args.items()
        ):
            return False
        ctes = list(with_.expressions)
    names = [cte.alias_or_name.lower() for cte in ctes]
    if len(set(names)) != len(names) or any(name in ctx.tables or not name for name in names):
        return False
    tables = [
        node for node in tree.find_all(exp.Table) if not node.args.get("db") and not node.args.get("catalog")
    ]
    for name in names:
        if sum(1 for table in tables if table.name.lower() == name) != 1:
            return False
    defined: set[str] = set()
    for cte in ctes:
        alias = cte.args.get("alias")
        if any(key != "this" and value for key, value in (alias.args.items() if alias else ())):
            return False  # a column list, or MATERIALIZED
        if any(key not in ("this", "alias") and value for key, value in cte.args.items()):
            return False
        if not isinstance(cte.this, exp.Select) or not _simple(cte.this, ctx, defined):
            return False
        defined.add(cte.alias_or_name.lower())
    # The outer query: derived tables in FROM/JOIN must be simple; no other nested query anywhere.
    for source in _sources(tree):
        if isinstance(source, exp.Subquery) and not _derived_ok(source, ctx, defined):
            return False
    allowed = {id(cte.this) for cte in ctes} | _derived_ids(tree)
    for node in tree.walk():
        if node is tree:
            continue
        if isinstance(node, exp.Query) and id(node) not in allowed:
            return False
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return False
    return True


def _sources(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    sources = [from_.this] if from_ is not None else []
    return sources + [join.this for join in select.args.get("joins") or []]


def _derived_ids(tree: exp.Expr) -> set[int]:
    ids: set[int] = set()
    for select in tree.find_all(exp.Select):
        for source in _sources(select):
            if isinstance(source, exp.Subquery):
                ids |= {id(source), id(source.this)}
    return ids


def _derived_ok(subquery: exp.Subquery, ctx: GateContext, defined: set[str]) -> bool:
    alias = subquery.args.get("alias")
    if not isinstance(alias, exp.TableAlias) or not alias.name or alias.args.get("columns"):
        return False
    if any(key not in ("this", "alias") and value for key, value in subquery.args.items()):
        return False
    return isinstance(subquery.this, exp.Select) and _simple(subquery.this, ctx, defined)


def _simple(select: exp.Select, ctx: GateContext, defined: set[str]) -> bool:
    """SELECT <items> FROM <granted table, earlier CTE or simple derived table> [WHERE ...]."""
    if any(key not in _SIMPLE_ARGS and value for key, value in select.args.items()):
        return False
    from_ = select.args.get("from_")
    if from_ is None or not select.expressions:
        return False
    source = from_.this
    if isinstance(source, exp.Subquery):
        if not _derived_ok(source, ctx, defined):
            return False
    elif isinstance(source, exp.Table):
        if any(key not in ("this", "alias") and value for key, value in source.args.items()):
            return False
        alias = source.args.get("alias")
        if alias is not None and any(key != "this" and value for key, value in alias.args.items()):
            return False
        if not isinstance(source.this, exp.Identifier):
            return False
        name = source.name.lower()
        if name not in ctx.tables and name not in defined:
            return False
    else:
        return False
    for item in select.expressions:
        if not isinstance(item, exp.Column | exp.Alias) or has_aggregate(item):
            return False
        if any(isinstance(node, exp.Star | exp.Query) for node in item.walk()):
            return False
    where = select.args.get("where")
    return where is None or not any(isinstance(node, exp.Query) for node in where.walk())


def _named(item: exp.Expr, written: exp.Expr) -> exp.Expr:
    """The merged item under the name the operator gave it (or none, when they gave none)."""
    value = item.this if isinstance(item, exp.Alias) else item
    if isinstance(written, exp.Alias):
        return exp.Alias(this=value, alias=written.args["alias"].copy())
    if isinstance(written, exp.Column) and isinstance(written.this, exp.Identifier):
        if isinstance(value, exp.Column) and value.name == written.name:
            return value
        return exp.Alias(this=value, alias=written.this.copy())
    return value
