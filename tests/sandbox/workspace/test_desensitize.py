"""Desensitization in the views: each method as DuckDB SQL over a vault file, and the types the gate sees."""

from __future__ import annotations

import datetime
import doctest
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sandbox.workspace.desensitize
from policies.levels import ColumnLevel
from sandbox.workspace.desensitize import Desensitization, applicable, granted_type
from sandbox.workspace.views import ViewSpec, view_sql


def test_doctests_pass() -> None:
    assert doctest.testmod(sandbox.workspace.desensitize).failed == 0


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "p.parquet"
    table = pa.table(
        {
            "phone": ["13812345678", "12345", None],
            "age": [37, 40, None],
            "amount": [12345.6, 999.0, None],
            "born": [datetime.date(1990, 5, 17), datetime.date(2001, 12, 31), None],
            "addr": ["广东省深圳市南山区科技园1号", "北京市东城区王府井", None],
            "code": ["A1", "B2", None],
            "__unit": [0, 1, 2],
            "__rank": [1, 1, 1],
        }
    )
    pq.write_table(table, path)
    return path


def _view(path: Path, methods: dict[str, Desensitization]) -> list[dict]:
    columns = tuple((c, ColumnLevel.group) for c in ("phone", "age", "amount", "born", "addr", "code"))
    spec = ViewSpec("p", path, columns, b"scenario-key", desensitize=methods)
    con = duckdb.connect()
    con.execute(view_sql(spec))
    return con.sql("SELECT * EXCLUDE (__unit, __rank) FROM p").to_arrow_table().to_pylist()


def test_each_method_runs_in_the_view(people: Path) -> None:
    rows = _view(
        people,
        {
            "phone": Desensitization("mask"),
            "age": Desensitization("band", 10),
            "amount": Desensitization("bucket", 1000),
            "born": Desensitization("month"),
            "addr": Desensitization("district"),
            "code": Desensitization("hash"),
        },
    )
    first, second, empty = rows
    assert first["phone"] == "138****5678" and second["phone"] == "*****"
    assert (first["age"], second["age"]) == (30, 40)
    assert (first["amount"], second["amount"]) == (12000.0, 0.0)
    assert (first["born"], second["born"]) == (datetime.date(1990, 5, 1), datetime.date(2001, 12, 1))
    assert (first["addr"], second["addr"]) == ("广东省深圳市南山区", "北京市东城区")
    assert len(first["code"]) == 64 and first["code"] != "A1"
    assert all(v is None for v in empty.values())


def test_address_levels_and_years(people: Path) -> None:
    province = _view(people, {"addr": Desensitization("province"), "born": Desensitization("year")})
    assert [r["addr"] for r in province] == ["广东省", "北京市", None]
    assert [r["born"] for r in province][:2] == [datetime.date(1990, 1, 1), datetime.date(2001, 1, 1)]
    city = _view(people, {"addr": Desensitization("city")})
    assert [r["addr"] for r in city][:2] == ["广东省深圳市", "北京市"]


def test_the_gate_sees_the_desensitized_type() -> None:
    assert granted_type("string", {"method": "mask"}) == "string"
    assert granted_type("int32", {"method": "band", "width": 5}) == "int64"
    assert granted_type("double", {"method": "bucket", "width": 100}) == "double"
    assert granted_type("timestamp[us]", {"method": "month"}) == "date32[day]"
    assert granted_type("int64", {"method": "hash"}) == "string"
    assert granted_type("int64", None) == "int64"


def test_methods_only_apply_to_fitting_types() -> None:
    assert applicable("mask", "string") and not applicable("mask", "int64")
    assert applicable("bucket", "decimal128(12, 2)") and not applicable("year", "string")
    assert not applicable("shuffle", "string")
