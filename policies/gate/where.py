"""Pass 7: WHERE is one condition: a boolean combination of one-column tests against literals.

The tests, and the listed transforms a column may pass through on its side of a test, are the ones
`conditions` reads for every condition in a query (`WHERE year(birth_date) >= 1980`,
`WHERE lower(district) = 'haidian'`). A hidden column is refused anywhere, a `join_key` or `aggregate`
column in any test, bare or transformed, and two columns are never compared with each other.
"""

from __future__ import annotations

from sqlglot import exp

from policies.gate.conditions import condition
from policies.gate.reasons import Reason
from policies.gate.scope import Scope


def where(tree: exp.Select, scope: Scope) -> tuple[exp.Select, list[Reason]]:
    """The reasons of the WHERE condition, if there is one.

    >>> import sqlglot
    >>> from policies.gate.parse import Source
    >>> tree = sqlglot.parse_one("SELECT 1 FROM t WHERE upper(a) = lower(b)", read="duckdb")
    >>> [r.construct for r in where(tree, Scope(Source("", ()), None))[1]]
    ['column-to-column comparison']
    """
    clause = tree.args.get("where")
    if clause is None:
        return tree, []
    return tree, condition(clause.this, scope)
