from __future__ import annotations

import duckdb
import pytest

from sandbox.errors import ErrorCode
from sandbox.workspace.sanitize import code_of


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT CAST('SECRET-ALICE' AS INTEGER)", ErrorCode.query_conversion_failed),
        ("SELECT 2147483647::INTEGER + 1", ErrorCode.query_out_of_range),
        ("SELECT 1 // 0", ErrorCode.query_division_by_zero),
        ("SELECT 7 % 0", ErrorCode.query_division_by_zero),
        ("SELECT no_such_column", ErrorCode.query_failed),
        ("SELECT * FROM no_such_table", ErrorCode.query_failed),
        ("SELEC 1", ErrorCode.query_failed),
    ],
)
def test_engine_errors_map_to_codes_by_class(sql: str, code: ErrorCode) -> None:
    with duckdb.connect() as con, pytest.raises(duckdb.Error) as caught:
        con.sql(sql).fetchall()
    assert code_of(caught.value) is code


def test_memory_and_interrupt_errors_have_their_own_codes() -> None:
    assert code_of(duckdb.OutOfMemoryException("x")) is ErrorCode.query_out_of_memory
    assert code_of(MemoryError()) is ErrorCode.query_out_of_memory
    assert code_of(duckdb.InterruptException("x")) is ErrorCode.query_timeout


def test_unknown_exceptions_are_query_failed() -> None:
    assert code_of(RuntimeError("SECRET-ALICE")) is ErrorCode.query_failed
    assert code_of(duckdb.InvalidInputException("something else")) is ErrorCode.query_failed
