"""Engine errors become one of a fixed set of codes; the engine's text never leaves.

DuckDB messages quote the values that failed ("Could not convert string 'SECRET-ALICE' to INT32"),
so a message is raw data. `code_of` decides by exception class only (allow-list: an unknown class is
`query_failed`) and returns a code, never the message; callers must not log or re-raise the original.
"""

from __future__ import annotations

import duckdb

from sandbox.errors import ErrorCode

_BY_CLASS: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (duckdb.ConversionException, ErrorCode.query_conversion_failed),
    (duckdb.OutOfRangeException, ErrorCode.query_out_of_range),
    (duckdb.OutOfMemoryException, ErrorCode.query_out_of_memory),
    (MemoryError, ErrorCode.query_out_of_memory),
    (duckdb.InterruptException, ErrorCode.query_timeout),
)

# DuckDB has no class for integer division by zero: it raises InvalidInputException. This fixed
# prefix is compared, never copied, so the rest of the message (which quotes the expression) stays in.
_DIVISION_BY_ZERO = "Invalid Input Error: Division by zero"


def code_of(exc: BaseException) -> ErrorCode:
    """The ErrorCode for an exception raised while running a query.

    >>> code_of(duckdb.ConversionException("Could not convert string 'SECRET' to INT32"))
    <ErrorCode.query_conversion_failed: 'query_conversion_failed'>
    >>> code_of(ValueError("anything"))
    <ErrorCode.query_failed: 'query_failed'>
    """
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, duckdb.InvalidInputException) and str(exc).startswith(_DIVISION_BY_ZERO):
        return ErrorCode.query_division_by_zero
    return ErrorCode.query_failed
