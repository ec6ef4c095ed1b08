"""LEFT JOIN: which tables may be absent from a joined row, and how their unit counts read then.

`scope` lets `a LEFT JOIN b ON <equalities>` through (RIGHT and FULL joins stay refused: write the
preserved table first); `join` checks its ON like an inner join's. What changes is the counting.
After a left join a group may hold rows of `a` that matched no row of `b`: their `b` columns are NULL
and their `b."__unit"` is NULL, so COUNT(DISTINCT b."__unit") counts only the units of `b` that
matched, as it should (an unmatched row carries no unit of `b`). But the LEAST over the contributing
tables would then read 0 for a group no row of `b` matched, and suppress a cell that depends on none
of `b`'s people: the group's rows are `a`'s rows, once each. So a left-joined table's count is
`NULLIF(count, 0)`: zero units of `b` behind a row means `b` does not contribute to it, and LEAST
skips NULLs. As soon as one unit of `b` matched, its count stands, and a cell over one visit of one
person is held to that one unit (COUNT(*) then counts that person's visits). A reference table (all
columns public) does not count, as in an inner join. When every counted table is left-joined (FROM
names a reference table), the plain counts stand, so a row no protected unit matched has 0 units:
its being empty is still about the protected table's people, and it is suppressed.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT 1 FROM a LEFT JOIN b ON a.k = b.k JOIN c ON a.k = c.k", read="duckdb")
>>> [is_left(join) for join in tree.args["joins"]]
[True, False]
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.plan import TableGrant
from policies.gate.scope import Scope


def is_left(join: exp.Join | None) -> bool:
    return join is not None and str(join.args.get("side") or "").upper() == "LEFT"


def left_joined(scope: Scope, counted: list[TableGrant]) -> frozenset[str]:
    """The counted tables whose count reads NULL when zero: left-joined ones, unless all are."""
    left = {bound.grant.name for bound in scope.bound if bound.grant is not None and is_left(bound.join)}
    names = {table.name for table in counted}
    return frozenset() if names <= left else frozenset(left & names)


def count(table: TableGrant, counted: exp.Expr, left: frozenset[str]) -> exp.Expr:
    """The table's distinct-unit count, as NULL when it is zero for a left-joined table."""
    if table.name not in left:
        return counted
    return exp.Nullif(this=counted, expression=exp.Literal.number(0))
