"""Pass 1: turn the operator's text into one SELECT tree, or stop with a reason.

Statements are split and the leading keyword is checked on the token stream before parsing, so that
COPY, ATTACH, LOAD and friends are refused without sqlglot ever falling back to a raw `Command` (and
without its warning, which would copy the SQL into a log line). sqlglot's own error text quotes the
query, so only its line and column are kept. Unquoted CJK identifiers (`SELECT 区 FROM 居民`) tokenize
as names in sqlglot's DuckDB dialect, as they do in DuckDB itself; quoted ones work too.

Where each DuckDB-specific form stops (every one has a case in `tests/policies/gate/cases/`):

- `not_a_query`, here, by its first keyword: TABLE, SUMMARIZE, DESCRIBE, SHOW, EXPLAIN, SET, RESET,
  PRAGMA, COPY, EXPORT, ATTACH, DETACH, [FORCE] INSTALL, LOAD, CALL, USE, CHECKPOINT, VACUUM, PREPARE,
  EXECUTE, BEGIN, VALUES, DDL (CREATE incl. MACRO, VIEW and SECRET; ALTER; DROP) and DML (INSERT,
  UPDATE, DELETE, MERGE, TRUNCATE).
- `construct_not_allowed`: FROM-first and PIVOT/UNPIVOT statements (here); SELECT ... INTO, QUALIFY,
  WINDOW, USING SAMPLE, WITH [RECURSIVE] that `merge` could not flatten, DISTINCT [ON] (`shape`); every
  join (ASOF, POSITIONAL, ...), LATERAL, VALUES, UNNEST, PIVOT/UNPIVOT and subqueries in FROM that
  `merge` could not flatten, TABLESAMPLE, AT (time travel)
  (`scope`); `*`, `* EXCLUDE/REPLACE/LIKE`, COLUMNS(...), window functions, struct and list literals,
  list comprehensions, subscripts, `->`/`->>` (`project`, `nodes`); GROUP BY ALL, ROLLUP, CUBE,
  GROUPING SETS (`group`); ORDER BY ALL (`order`); parameters `?`, `$1`, `$name` and `#n` where a
  literal belongs (`nodes`).
- `function_not_allowed`: lambdas (named by the function taking them), UNNEST in the SELECT list, and
  every function that is not a listed transform (`transforms`).
- `table_function`: read_*, glob, range, duckdb_* and file paths in FROM (`scope`).
- `unknown_column`: struct field access `c.f`, which reads as column `f` of a table `c`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from policies.gate.reasons import Reason, ReasonCode, describe, reason

DIALECT = "duckdb"

# Statements that may start a query we can analyse; anything else is not a query.
_QUERY_STARTS = frozenset(
    {TokenType.SELECT, TokenType.FROM, TokenType.WITH, TokenType.L_PAREN, TokenType.PIVOT, TokenType.UNPIVOT}
)
_TYPED_LITERALS = frozenset({TokenType.DATE, TokenType.TIMESTAMP, TokenType.TIMESTAMPNTZ})
_STRINGS = frozenset(
    getattr(TokenType, name)
    for name in ("STRING", "BYTE_STRING", "HEREDOC_STRING", "NATIONAL_STRING", "RAW_STRING", "UNICODE_STRING")
    if hasattr(TokenType, name)
)
_CALL_OPENERS = frozenset({TokenType.L_PAREN, TokenType.DISTINCT})
_PARAMETERS = frozenset({TokenType.PLACEHOLDER, TokenType.PARAMETER})
_UNPLACED: dict[type[exp.Expr], frozenset[TokenType]] = {
    exp.PositionalColumn: frozenset({TokenType.HASH}),
    exp.Ordered: frozenset({TokenType.ORDER_BY}),
}
_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class Source:
    """The operator's text and tokens, to place reasons at a (line, column) and to read syntax the
    tree forgets (whether a cast was written `DATE '...'`, whether a FROM name was a quoted string)."""

    sql: str
    tokens: tuple[Token, ...]

    def at(self, offset: int) -> tuple[int, int]:
        line = self.sql.count("\n", 0, offset) + 1
        return line, offset - self.sql.rfind("\n", 0, offset)

    def start(self, node: exp.Expr) -> int | None:
        """Where `node` begins: its own token, its function name, else its earliest child's token."""
        name = self._name_index(node)
        if name is not None:
            return self.tokens[name].start
        starts = [n.meta["start"] for n in node.walk() if n.meta and n.meta.get("start") is not None]
        return int(min(starts)) if starts else None

    def _name_index(self, node: exp.Expr) -> int | None:
        """The token of the node itself, or for a call without one, the name before `(`/`DISTINCT`."""
        own = node.meta.get("start") if node.meta else None
        if own is not None:
            return self._token_index(int(own))
        if not isinstance(node, exp.Func):
            return None
        starts = [n.meta["start"] for n in node.walk() if n.meta and n.meta.get("start") is not None]
        index = self._token_index(int(min(starts))) if starts else None
        stepped = False
        while index is not None and index > 0 and self.tokens[index - 1].token_type in _CALL_OPENERS:
            index -= 1
            stepped = True
        return index - 1 if stepped and index is not None and index > 0 else None

    def position(self, node: exp.Expr | None) -> tuple[int, int] | None:
        start = None if node is None else self.start(node)
        if start is None and node is not None:
            # Nodes sqlglot builds without a token: place them at the first token of their kind.
            kinds = _PARAMETERS if isinstance(node, exp.Placeholder) else _UNPLACED.get(type(node), ())
            start = next((t.start for t in self.tokens if t.token_type in kinds), None)
        return None if start is None else self.at(start)

    def after_string_argument(self, node: exp.Expr) -> bool:
        """True when `node` is the second argument of a call whose first is a string literal, as in
        `date_trunc('month', node)`: sqlglot turns that first argument into a keyword, whatever it was."""
        start = self.start(node)
        index = None if start is None else self._token_index(start)
        if index is None or index < 3:
            return False
        kinds = [token.token_type for token in self.tokens[index - 3 : index]]
        return kinds[0] == TokenType.L_PAREN and kinds[1] in _STRINGS and kinds[2] == TokenType.COMMA

    def token_at(self, node: exp.Expr) -> Token | None:
        start = self.start(node)
        index = None if start is None else self._token_index(start)
        return None if index is None else self.tokens[index]

    def call_name(self, node: exp.Expr) -> str | None:
        """The function name as typed (STRING_AGG, not sqlglot's GROUP_CONCAT), when `node` is a call."""
        index = self._name_index(node) if isinstance(node, exp.Func) else None
        if index is None or index + 1 >= len(self.tokens):
            return None
        if self.tokens[index + 1].token_type != TokenType.L_PAREN:
            return None
        return self.tokens[index].text.upper()

    def written_as_string(self, node: exp.Expr | None) -> bool:
        """DuckDB accepts 'quoted strings' as aliases and table names; sqlglot makes them identifiers.
        The gate refuses them rather than echo what is, in the text, a string literal."""
        token = None if node is None else self.token_at(node)
        return token is not None and token.token_type in _STRINGS

    def is_typed_literal(self, cast: exp.Cast) -> bool:
        """True for `DATE '2024-01-31'` and `TIMESTAMP '...'`; false for CAST(...) and `'...'::DATE`."""
        literal = cast.this
        if not isinstance(literal, exp.Literal) or type(cast) is not exp.Cast:
            return False
        start = literal.meta.get("start") if literal.meta else None
        index = None if start is None else self._token_index(int(start))
        return index is not None and index > 0 and self.tokens[index - 1].token_type in _TYPED_LITERALS

    def keyword(self, word: str) -> tuple[int, int] | None:
        """Where a keyword first appears, for clauses whose node carries no position (DISTINCT)."""
        token = next((t for t in self.tokens if t.text.upper().split()[:1] == [word.upper()]), None)
        return None if token is None else self.at(token.start)

    def _token_index(self, start: int) -> int | None:
        return self._starts.get(start)

    @cached_property
    def _starts(self) -> dict[int, int]:
        return {token.start: index for index, token in enumerate(self.tokens)}


@dataclass(frozen=True)
class Parsed:
    tree: exp.Select | exp.SetOperation | None  # a set operation is read by `lineage`
    source: Source


def parse(sql: str) -> tuple[Parsed, list[Reason]]:
    """One SELECT tree; `tree` is None when the gate must stop here (and the reasons say why).

    >>> parse("COPY residents TO 'out.csv'")[1][0].message
    "'COPY' statements are not allowed; only SELECT is"
    """
    dialect = Dialect.get_or_raise(DIALECT)
    try:
        tokens = tuple(dialect.tokenize(sql))
    except TokenError:
        return Parsed(None, Source(sql, ())), [reason(ReasonCode.parse_error, "syntax", None)]
    source = Source(sql, tokens)
    statements = _split(tokens)
    if not statements:
        return Parsed(None, source), [
            reason(ReasonCode.parse_error, "empty query", None, "Write one SELECT statement.")
        ]
    if len(statements) > 1:
        end = statements[0][-1].start
        separator = next(t for t in tokens if t.token_type == TokenType.SEMICOLON and t.start > end)
        return Parsed(None, source), [reason(ReasonCode.multiple_statements, ";", source.at(separator.start))]
    first = statements[0][0]
    if first.token_type not in _QUERY_STARTS:
        word = first.text.upper() if _WORD.fullmatch(first.text) else "statement"
        return Parsed(None, source), [reason(ReasonCode.not_a_query, word, source.at(first.start))]
    try:
        trees = [tree for tree in dialect.parser().parse(list(tokens), sql) if tree is not None]
    except ParseError as error:
        return Parsed(None, source), [reason(ReasonCode.parse_error, "syntax", _error_position(error))]
    except Exception:  # sqlglot may raise other errors (e.g. recursion) on hostile text: still a parse error
        return Parsed(None, source), [reason(ReasonCode.parse_error, "syntax", None)]
    if len(trees) != 1:
        return Parsed(None, source), [reason(ReasonCode.parse_error, "syntax", None)]
    tree = trees[0]
    if isinstance(tree, exp.Select | exp.SetOperation):
        reasons = []
        if first.token_type == TokenType.FROM:
            reasons.append(
                reason(
                    ReasonCode.construct_not_allowed,
                    "FROM-first syntax",
                    source.at(first.start),
                    "Write SELECT ... FROM ..., with SELECT first.",
                )
            )
        return Parsed(tree, source), reasons
    if isinstance(tree, exp.Subquery | exp.Pivot):
        return Parsed(None, source), [
            reason(ReasonCode.construct_not_allowed, describe(tree), source.position(tree))
        ]
    return Parsed(None, source), [reason(ReasonCode.not_a_query, describe(tree), source.at(first.start))]


def _split(tokens: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    """The non-empty statements, as runs of tokens between semicolons."""
    statements: list[tuple[Token, ...]] = []
    current: list[Token] = []
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if current:
                statements.append(tuple(current))
            current = []
        else:
            current.append(token)
    if current:
        statements.append(tuple(current))
    return statements


def _error_position(error: ParseError) -> tuple[int, int] | None:
    """sqlglot reports the end column of the offending token; step back to its start."""
    if not error.errors:
        return None
    first = error.errors[0]
    line, column, highlight = first.get("line"), first.get("col"), first.get("highlight") or ""
    if not isinstance(line, int) or not isinstance(column, int):
        return None
    if highlight and "\n" not in highlight:
        column = column - len(highlight) + 1
    return line, max(column, 1)
