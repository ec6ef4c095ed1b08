"""Group keys: a `group` or `public` column, bare, through listed transforms, or mapped by CASE.

GROUP BY, the SELECT list and `rewrite` all read keys here. A derived key is any expression
`transforms` accepts (`date_trunc('month', c)`, `floor(c / 10) * 10`, `lower(c)`, ...) or a CASE that
maps ONE column to literals:

    CASE WHEN c < 18 THEN 'minor' WHEN c IS NULL THEN 'unknown' ELSE 'adult' END
    CASE lower(c) WHEN 'a' THEN 1 WHEN 'b' THEN 2 END

Each WHEN is a condition (`conditions`) on that same column, and every THEN and ELSE a literal, so the
key is a coarsening of the column chosen by the operator, never a value from elsewhere in the row.

A SELECT item that is a derived key must be grouped by the same expression: GROUP BY repeats it, or
names the item's alias. Expressions are compared after each column is resolved to its granted name,
so `lower(r.District)` matches `lower(district)`. The plan reports such an output with kind `group`
and the underlying column as its `source_column`.

>>> import sqlglot
>>> from policies.gate.parse import Source
>>> scope = Scope(Source("", ()), None)
>>> case = sqlglot.parse_one("CASE WHEN a < 3 THEN 'low' ELSE 'high' END", read="duckdb")
>>> key = read(case, scope, Place.group_by)
>>> key.label, key.reasons
('case', ())
>>> canonical(sqlglot.parse_one("LOWER(r.A)", read="duckdb"), scope)
'LOWER("a")'
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policies.gate.columns import Place, level_reasons, names_alias
from policies.gate.conditions import condition
from policies.gate.nodes import column_refs, construct, has_aggregate, is_column, literal_reason, unparen
from policies.gate.parse import DIALECT
from policies.gate.plan import ColumnGrant
from policies.gate.reasons import Reason
from policies.gate.scope import Scope, resolve
from policies.gate.transforms import derive

_RESULT_HINT = "Map each case to a literal, e.g. CASE WHEN c < 18 THEN 'minor' ELSE 'adult' END."
_ONE_COLUMN_HINT = "A CASE group key tests one column only; group by each column separately instead."


@dataclass(frozen=True)
class Key:
    """A group key as read: its column (None when refused or unusable), a label for a default output
    name, and the reasons it is refused."""

    column: ColumnGrant | None
    label: str
    reasons: tuple[Reason, ...] = ()


def read(node: exp.Expr, scope: Scope, place: Place) -> Key:
    """Read `node` as a key over one column of a level allowed at `place`."""
    node = unparen(node)
    if isinstance(node, exp.Case) and column_refs(node) and not has_aggregate(node):
        return _mapping(node, scope, place)
    derived = derive(node, scope, place)
    return Key(derived.column, derived.label, derived.reasons)


def _mapping(case: exp.Case, scope: Scope, place: Place) -> Key:
    found = level_reasons(column_refs(case), place, scope)
    if found:
        return Key(None, "", tuple(found))
    reasons: list[Reason] = []
    subject = case.this
    columns: list[exp.Column] = []
    if subject is not None:
        reasons.extend(derive(subject, scope, place).reasons)
        columns.extend(column_refs(subject))
    for branch in case.args.get("ifs") or []:
        test = branch.this
        if subject is None:
            reasons.extend(condition(test, scope))
            columns.extend(column_refs(test))
        elif (problem := literal_reason(test, scope)) is not None:
            reasons.append(problem)
        reasons.extend(_result(branch.args.get("true"), scope))
    reasons.extend(_result(case.args.get("default"), scope))
    if len({_name(column, scope) for column in columns}) > 1:
        reasons.append(construct("CASE over several columns", case, scope, _ONE_COLUMN_HINT))
    if reasons or not columns:
        return Key(None, "", tuple(reasons))
    return Key(resolve(columns[0], scope)[0], "case", ())


def _result(value: exp.Expr | None, scope: Scope) -> list[Reason]:
    if value is None or literal_reason(value, scope) is None:
        return []
    return [construct("CASE result that is not a literal", value, scope, _RESULT_HINT)]


def _name(column: exp.Column, scope: Scope) -> str:
    granted = resolve(column, scope)[0]
    if granted is None:
        return column.name.lower()
    return f"{granted.table}.{granted.name}".lower() if scope.joined else granted.name.lower()


def expression(key: exp.Expr, scope: Scope) -> exp.Expr:
    """What a GROUP BY item groups by: the SELECT item it names by alias, else itself."""
    if isinstance(key, exp.Column) and is_column(key) and names_alias(key, scope):
        return scope.outputs[key.name.lower()]
    return key


def canonical(node: exp.Expr, scope: Scope) -> str:
    """`node` as SQL with every column replaced by its granted name, unqualified: equal for two
    spellings of one expression."""

    def plain(inner: exp.Expr) -> exp.Expr:
        if is_column(inner):
            granted = resolve(inner, scope)[0]
            if granted is None:
                return exp.column(inner.name.lower(), quoted=True)
            table = granted.table if scope.joined else None  # joined: name the column's table too
            return exp.column(granted.name, table=table, quoted=True)
        return inner

    return unparen(node).copy().transform(plain).sql(dialect=DIALECT)


def grouped(tree: exp.Select, scope: Scope) -> frozenset[str]:
    """The canonical SQL of every GROUP BY item (through aliases)."""
    group = tree.args.get("group")
    keys = group.expressions if group is not None else []
    return frozenset(canonical(expression(key, scope), scope) for key in keys)
