r"""Queries over aggregate queries: HAVING, aggregating CTEs and derived tables, UNION [ALL].

The passes check one aggregate SELECT over granted tables (a *core*). This module reads a query made
of cores and traces every output back to one: an outer query over an aggregating CTE or derived table
may only rename, project (`*` too), filter, order and limit the core's outputs; `UNION [ALL]` stacks
cores whose outputs align by position. Each core is checked by the passes as its own query and
rewritten with its own unit companions, so every row of the result carries the units of the core
group it came from, and the privacy layer thresholds it as before (`Plan` is unchanged: one row set,
the outputs, `__units`, then per-output companions). The plan wraps each layer as a subquery, so what
runs is what was checked.

Filters over aggregate outputs, and why only on group keys. A filter on a group key (`HAVING district
= 'x'`, or the outer `WHERE d = 'x'` over an aggregating CTE) is moved into the core's WHERE: a key
has one value across its group, so filtering groups by it and rows by it give the same table, and the
WHERE pass checks it with every rule a WHERE has (levels, listed transforms, literal types). A filter
on an aggregate (`HAVING SUM(income) > 1e6`, `HAVING COUNT(*) = 1`, or an outer `WHERE n > 3`) is
refused: it removes rows by the exact value of cells before any threshold applies. Suppressed rows are
kept in the release (marked, public keys shown), so whether the row of a 1-person group survived
`HAVING SUM(income) > 1e6` tells that person's income bit by bit; even if suppressed rows were dropped,
a cell withheld by dominance, secondary suppression or rounding would still be filtered by its exact
value, and a count filter below k would tell 1 unit from 2..k-1. A filter evaluated on released values
only (after the privacy layer) would be safe, but that is post-processing the operator can do on the
released file.

INTERSECT and EXCEPT are refused: they compare rows across queries before thresholds apply (whether a
small group's exact row also exists in another query). Window functions stay refused everywhere (a
rank over cells orders suppressed values among released ones); an aggregate over an aggregating query
is refused (a total over cells counts the suppressed ones). A filter may not be moved below a LIMIT.

>>> from policies.gate import check
>>> from policies.gate.plan import ColumnGrant, GateContext, TableGrant
>>> from policies.levels import ColumnLevel
>>> levels = {"pid": ColumnLevel.join_key, "d": ColumnLevel.group, "x": ColumnLevel.aggregate}
>>> columns = {c: ColumnGrant(c, v) for c, v in levels.items()}
>>> grant = TableGrant("t", "ds", columns, frozenset(levels), "pid", 1)
>>> ctx = GateContext(tables={"t": grant})
>>> sql = "WITH a AS (SELECT d, SUM(x) AS s FROM t GROUP BY d) SELECT d AS k, s FROM a WHERE d <> 'z'"
>>> plan = check(sql, ctx).plan
>>> [(o.name, o.kind.value, o.units_column) for o in plan.outputs]
[('k', 'group', None), ('s', 'sum', '__units_1')]
>>> "WHERE" in plan.sql and 'AS "__q"' in plan.sql
True
>>> [r.construct for r in check("SELECT d FROM t GROUP BY d HAVING SUM(x) > 5", ctx).reasons]
['HAVING on an aggregate']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from policies.gate.nodes import has_aggregate
from policies.gate.parse import DIALECT, Source
from policies.gate.plan import OutputColumn, Plan
from policies.gate.reasons import Reason, ReasonCode, describe, reason
from policies.gate.scope import Scope

Core = Callable[[exp.Select], tuple[Plan | None, list[Reason]]]
Env = Mapping[str, tuple[exp.CTE, "Env"]]

UNITS = "__units"
_POSITION = "__lineage_position_"
_OUTER_ARGS = frozenset({"expressions", "from_", "where", "order", "limit", "with_"})
_KEYWORDS = {"joins": "JOIN", "group": "GROUP BY", "having": "HAVING", "distinct": "DISTINCT"}
_AGGREGATE_FILTER_HINT = (
    "Filter on group keys only (they are moved into WHERE); a filter on an aggregate would drop rows by "
    "the exact values of cells before their thresholds apply."
)
_OUTER_HINT = "Over an aggregating query, select its outputs by name (renamed with AS), filter, order, limit."


@dataclass(frozen=True)
class Built:
    """A checked layer: its query (outputs, then `__units`, then companions), what the outputs are,
    and each core it reads with the core output behind each of this layer's outputs."""

    query: str  # the layer's SQL, as the workspace runs it
    outputs: tuple[OutputColumn, ...]
    companions: tuple[str, ...]
    tables: tuple[str, ...]
    used: Mapping[str, tuple[str, ...]]
    cores: tuple[tuple[exp.Select, tuple[int, ...]], ...]
    limited: bool = False


def layered(tree: exp.Expr) -> bool:
    """True when the query is more than one core: the plain path handles everything else."""
    if isinstance(tree, exp.SetOperation):
        return True
    if not isinstance(tree, exp.Select):
        return False
    return bool(tree.args.get("having")) or _source(tree, _with(tree, {})) is not None


def check(tree: exp.Query, source: Source, core: Core) -> tuple[Plan | None, list[Reason]]:
    built, reasons = _Reader(source, core).read(tree, {}, ())
    if reasons or built is None:
        return None, reasons
    return Plan(built.query, built.tables, built.outputs, UNITS, dict(built.used)), []


def not_in_mode(mode: str, tree: exp.Query, source: Source) -> Reason:
    """Layered queries are read for sdc only: in dp mode each core would be its own measurement."""
    union = isinstance(tree, exp.SetOperation)
    construct = f"{'UNION' if union else 'query over an aggregate query'} in {mode} mode"
    position = source.keyword("UNION") if union else source.position(tree)
    hint = f"In {mode} mode, write one aggregate query (filter group keys in WHERE)."
    return reason(ReasonCode.construct_not_allowed, construct, position, hint)


def cores(tree: exp.Query, source: Source, core: Core) -> tuple[tuple[exp.Select, tuple[int, ...]], ...]:
    """The cores an allowed layered query reads, as checked, with the output mapping (for tests)."""
    built, _ = _Reader(source, core).read(tree, {}, ())
    return () if built is None else built.cores


def _with(query: exp.Query, env: Env) -> dict[str, tuple[exp.CTE, Env]]:
    scope = dict(env)
    with_ = query.args.get("with_")
    for cte in with_.expressions if isinstance(with_, exp.With) else []:
        scope[cte.alias_or_name.lower()] = (cte, dict(scope))
    return scope


def _aggregating(query: exp.Expr, env: Env) -> bool:
    if isinstance(query, exp.SetOperation):
        return True
    if isinstance(query, exp.Subquery):
        return _aggregating(query.this, env)
    if not isinstance(query, exp.Select):
        return False
    if query.args.get("group") or query.args.get("having"):
        return True
    if any(has_aggregate(item) for item in query.expressions):
        return True
    return _source(query, _with(query, env)) is not None


def _source(select: exp.Select, env: Env) -> tuple[exp.Query, frozenset[str], Env] | None:
    """FROM's aggregating source: the query, the names that qualify its outputs, its environment."""
    from_ = select.args.get("from_")
    node = from_.this if from_ is not None else None
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and not node.args.get("db"):
        found = env.get(node.name.lower())
        if found is not None and not node.args.get("catalog") and _aggregating(found[0].this, found[1]):
            return found[0].this, frozenset({node.alias_or_name.lower()}), found[1]
    if isinstance(node, exp.Subquery) and _aggregating(node.this, env):
        return node.this, frozenset({node.alias.lower()} if node.alias else ()), env
    return None


def _position(node: exp.Expr) -> int | None:
    if isinstance(node, exp.Column) and node.name.startswith(_POSITION) and not node.table:
        return int(node.name.removeprefix(_POSITION))
    return None


def _placeholder(index: int) -> exp.Column:
    return exp.column(f"{_POSITION}{index}")


def _inner(index: int, alias: str) -> exp.Table:
    """A stand-in for a layer's SQL in FROM, replaced by `render` (its text is generated once only)."""
    return exp.table_(f"__inner_{index}__", quoted=True, alias=exp.to_identifier(alias, quoted=True))


def render(query: exp.Query, inners: list[str]) -> str:
    """`query` as SQL with each stand-in replaced by its layer's SQL in parentheses. The names are the
    gate's own: output names may not start with `__`, so none can equal a stand-in."""
    text = query.sql(dialect=DIALECT, identify=True, comments=False)
    for index, sql in enumerate(inners):
        text = text.replace(f'"__inner_{index}__"', f"({sql})", 1)
    return text


def companions_of(outputs: tuple[OutputColumn, ...], sql: str | None = None) -> tuple[str, ...]:
    """`__units`, then every companion an output names, then (given the core's SQL) the row-level
    companions no output names, such as the differencing guard's `"__unitset:<table>"`: a wrapper
    that dropped them would release rows the guard never saw."""
    names = [UNITS]
    for output in outputs:
        for field in _companion_fields():
            value = getattr(output, field)
            if isinstance(value, str) and value not in names:
                names.append(value)
    if sql is not None:
        tree = sqlglot.parse_one(sql, read=DIALECT)
        for item in tree.selects:
            name = item.alias_or_name
            if name.startswith("__") and name not in names:
                names.append(name)
    return tuple(names)


def _companion_fields() -> tuple[str, ...]:
    """OutputColumn fields that name a companion column (units_column first): those ending in
    `_column` (but `source_column`) and the dominance companions."""
    names = [
        f.name
        for f in dataclasses.fields(OutputColumn)
        if (f.name.endswith("_column") and f.name != "source_column") or f.name.startswith("dominance_")
    ]
    return tuple(sorted(names, key=lambda n: n != "units_column"))


class _Reader:
    def __init__(self, source: Source, core: Core) -> None:
        self.source = source
        self.core = core
        self.scope = Scope(source, None)

    def refuse(self, construct: str, node: exp.Expr | None, hint: str | None = None) -> Reason:
        return reason(ReasonCode.construct_not_allowed, construct, self.source.position(node), hint)

    def read(
        self, query: exp.Expr, env: Env, pushed: tuple[exp.Expr, ...]
    ) -> tuple[Built | None, list[Reason]]:
        """`pushed`: conditions on this layer's outputs by position, to move into its cores' WHERE."""
        if isinstance(query, exp.Subquery) and not any(k != "this" and v for k, v in query.args.items()):
            return self.read(query.this, env, pushed)
        if isinstance(query, exp.SetOperation):
            with_ = query.args.get("with_")
            if isinstance(with_, exp.With) and with_.args.get("recursive"):
                return None, [self.refuse("WITH RECURSIVE", with_)]
            return self._set(query, _with(query, env), pushed)
        if not isinstance(query, exp.Select):
            return None, [self.refuse(describe(query), query)]
        scope = _with(query, env)
        found = _source(query, scope)
        if found is not None:
            refused = self._unread(query, scope)
            if refused:
                return None, refused
            return self._outer(query, found, pushed)
        return self._core(query, scope, pushed)

    def _unread(self, query: exp.Query, env: Env) -> list[Reason]:
        """WITH RECURSIVE, CTE options and column lists over an aggregating source: not read here."""
        with_ = query.args.get("with_")
        if isinstance(with_, exp.With) and with_.args.get("recursive"):
            return [self.refuse("WITH RECURSIVE", with_)]
        node = query.args["from_"].this
        ctes = [env[node.name.lower()][0]] if isinstance(node, exp.Table) else []
        for holder in [node, *ctes]:
            alias = holder.args.get("alias")
            extra = [key for key, value in holder.args.items() if value and key not in ("this", "alias")]
            if (isinstance(alias, exp.TableAlias) and alias.args.get("columns")) or extra:
                return [self.refuse("column aliases or options in FROM or WITH", holder)]
        return []

    # --- one aggregate SELECT over granted tables ---------------------------------------------------

    def _core(self, select: exp.Select, env: Env, pushed: tuple[exp.Expr, ...]) -> tuple[Built | None, list]:
        tree = select.copy()
        tree.set("with_", None)
        reasons: list[Reason] = []
        if pushed and tree.args.get("limit") is not None:
            reasons.append(self.refuse("filter over a LIMIT", tree.args["limit"], _OUTER_HINT))
        conditions = [self._substitute(condition, tree, reasons) for condition in pushed]
        having = tree.args.get("having")
        if having is not None:
            tree.set("having", None)
            conditions.append(self._having(having.this, tree, reasons))
        for condition in conditions:
            if condition is not None:
                where = tree.args.get("where")
                both = condition if where is None else exp.and_(exp.paren(where.this), exp.paren(condition))
                tree.set("where", exp.Where(this=both))
        referenced = self._referenced(tree, env)
        if referenced:
            tree.set("with_", exp.With(expressions=[cte.copy() for cte in referenced]))
        plan, found = self.core(tree)
        reasons.extend(found)
        if reasons or plan is None:
            return None, reasons
        mapping = tuple(range(len(plan.outputs)))
        built = Built(
            plan.sql,
            plan.outputs,
            companions_of(plan.outputs, plan.sql),
            plan.tables,
            plan.columns_used,
            ((tree, mapping),),
            tree.args.get("limit") is not None,
        )
        return built, []

    def _referenced(self, tree: exp.Select, env: Env) -> list[exp.CTE]:
        """The CTEs `tree` reads, directly or through each other, in definition order."""
        found: dict[str, exp.CTE] = {}
        stack: list[tuple[exp.Expr, Env]] = [(tree, env)]
        while stack:
            node, scope = stack.pop()
            for table in node.find_all(exp.Table):
                name = table.name.lower()
                if name in scope and name not in found and not table.args.get("db"):
                    cte, defined = scope[name]
                    found[name] = cte
                    stack.append((cte.this, defined))
        order = list(env)
        return sorted(found.values(), key=lambda cte: order.index(cte.alias_or_name.lower()))

    def _substitute(self, condition: exp.Expr, tree: exp.Select, reasons: list[Reason]) -> exp.Expr | None:
        """A pushed condition over this core's items by position; only group-key items may be filtered."""
        items = tree.expressions
        refused = False

        def swap(node: exp.Expr) -> exp.Expr:
            nonlocal refused
            index = _position(node)
            if index is None:
                return node
            item = items[index]
            value = item.this if isinstance(item, exp.Alias) else item
            if has_aggregate(value):
                refused = True
                reasons.append(self.refuse("filter on an aggregate output", value, _AGGREGATE_FILTER_HINT))
            return value.copy()

        swapped = condition.copy().transform(swap)
        return None if refused else swapped

    def _having(self, condition: exp.Expr, tree: exp.Select, reasons: list[Reason]) -> exp.Expr | None:
        """HAVING on group keys, as a WHERE: aliases of key items become the items; aggregates refused."""
        aggregate = next((n for n in condition.walk() if isinstance(n, exp.AggFunc | exp.Window)), None)
        if aggregate is not None:
            reasons.append(self.refuse("HAVING on an aggregate", aggregate, _AGGREGATE_FILTER_HINT))
            return None
        aliases = {item.alias.lower(): item.this for item in tree.expressions if isinstance(item, exp.Alias)}
        group = tree.args.get("group")
        written = group.expressions if group else []
        keys = {(key.table.lower(), key.name.lower()) for key in written if isinstance(key, exp.Column)}

        def grouped(column: exp.Column) -> bool:
            """The column is a bare GROUP BY key (a qualifier on either side must agree)."""
            table = column.table.lower()
            return any(name == column.name.lower() and table in ("", by, by or table) for by, name in keys)

        refused = False

        def swap(node: exp.Expr) -> exp.Expr:
            nonlocal refused
            if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
                return node
            name = node.name.lower()
            if not node.table and name in aliases:
                value = aliases[name]
                if has_aggregate(value):
                    refused = True
                    reasons.append(self.refuse("HAVING on an aggregate", node, _AGGREGATE_FILTER_HINT))
                return value.copy()
            if not grouped(node) and (node.table or name not in aliases):
                refused = True
                hint = "HAVING may test GROUP BY keys only."
                reasons.append(self.refuse("HAVING on a column outside GROUP BY", node, hint))
            return node

        swapped = condition.copy().transform(swap)
        return None if refused else swapped

    def _outer(
        self, select: exp.Select, found: tuple[exp.Query, frozenset[str], Env], pushed: tuple[exp.Expr, ...]
    ) -> tuple[Built | None, list[Reason]]:
        from policies.gate.project_outer import OuterQuery

        return OuterQuery(self).read_outer(select, found, pushed)

    # --- UNION [ALL] --------------------------------------------------------------------------------

    def _set(
        self, node: exp.SetOperation, env: Env, pushed: tuple[exp.Expr, ...]
    ) -> tuple[Built | None, list[Reason]]:
        from policies.gate.setops import combine

        return combine(self, node, env, pushed)
