"""The one exception connectors raise, built only from words we wrote.

Engines quote the row they choke on ("Expected 3 columns, got 4: a,b,c,d"), and a row of a
registered dataset may hold a resident ID. So a `ConnectorError` carries a fixed code, a short
phrase of ours and a position, and its text is made from those alone:

>>> str(ConnectorError("malformed_file", "expected 3 fields, found 4", line=7, column=4, format="csv"))
'malformed_file: expected 3 fields, found 4 (line 7, column 4)'

Raise it outside the `except` block that caught the engine error (or `from None` at least), so the
engine's text is not reachable through `__cause__` or `__context__` either.
"""

from __future__ import annotations

from typing import Literal, get_args

ConnectorErrorCode = Literal[
    "malformed_file",
    "unsupported_format",
    "unknown_encoding",
    # database sources: never the URL, the password or the server's own message
    "source_unreachable",  # no connection: host, port or database wrong, or the server is down
    "source_auth_failed",  # the server refused the user name or password
    "source_not_found",  # the table (or a relation the query names) does not exist or is not readable
    "source_query_refused",  # a query that is not exactly one read-only SELECT
    "source_read_failed",  # the server or a value conversion failed while streaming
]
CODES: frozenset[str] = frozenset(get_args(ConnectorErrorCode))


class ConnectorError(Exception):
    """A source could not be read; says what and where, never which value."""

    def __init__(
        self,
        code: ConnectorErrorCode,
        problem: str,
        line: int | None = None,
        column: int | None = None,
        format: str | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown connector error code {code!r}")
        self.code: str = code
        self.problem = problem
        self.line = line
        self.column = column
        self.format = format
        super().__init__(self._message())

    def _message(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (("line", self.line), ("column", self.column))
            if value is not None
        ]
        return f"{self.code}: {self.problem}" + (f" ({', '.join(where)})" if where else "")

    def __str__(self) -> str:
        return self._message()

    def __repr__(self) -> str:
        return f"ConnectorError({self._message()!r})"

    def __reduce__(self) -> tuple[type[ConnectorError], tuple[str, str, int | None, int | None, str | None]]:
        # Workers hand errors across processes; rebuild from the same fields.
        return (type(self), (self.code, self.problem, self.line, self.column, self.format))
