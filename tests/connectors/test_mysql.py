"""MySQL/MariaDB sources against the real MariaDB on this machine (root, empty password, database `test`)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest

import connectors
from connectors import ConnectorError, DatabaseSpec

URL = "mysql://root@127.0.0.1:3306/test"
SECRET = "Pw-Hunter2-1a9z"


def _admin() -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", database="test", autocommit=True
    )


@pytest.fixture
def table() -> Iterator[str]:
    name = f"src_{uuid.uuid4().hex[:10]}"
    with _admin() as conn, conn.cursor() as c:
        c.execute(
            f"""CREATE TABLE {name} (
                id BIGINT, small SMALLINT, n INT, big BIGINT UNSIGNED, amount DECIMAL(12, 2),
                score DOUBLE, ok BOOLEAN, born DATE, seen DATETIME, stamped TIMESTAMP NULL,
                name VARCHAR(20) CHARACTER SET utf8mb4, old_name VARCHAR(20) CHARACTER SET gbk,
                code VARCHAR(10), kind ENUM('a', 'b'), raw BLOB) DEFAULT CHARSET=utf8mb4"""
        )
        c.execute(
            f"""INSERT INTO {name} VALUES
            (1, 2, 3, 18446744073709551615, 1234.56, 0.5, TRUE, '1990-01-02', '2024-05-06 07:08:09',
             '2024-05-06 07:08:09', '张三', '李四', '000123', 'b', X'00FF'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""
        )
    yield name
    with _admin() as conn, conn.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")


def test_types_chinese_text_in_two_charsets_and_nulls(table: str) -> None:
    got = connectors.open({"kind": "mysql", "url": URL, "table": table}).read_all()
    types = {f.name: f.type for f in got.schema}
    assert types == {
        "id": pa.int64(),
        "small": pa.int16(),
        "n": pa.int32(),
        "big": pa.decimal128(20, 0),
        "amount": pa.decimal128(12, 2),
        "score": pa.float64(),
        "ok": pa.bool_(),
        "born": pa.date32(),
        "seen": pa.timestamp("us"),
        "stamped": pa.timestamp("us", tz="UTC"),
        "name": pa.string(),
        "old_name": pa.string(),
        "code": pa.string(),
        "kind": pa.string(),
        "raw": pa.binary(),
    }
    first, second = got.to_pylist()
    assert first["big"] == Decimal(18446744073709551615) and first["amount"] == Decimal("1234.56")
    assert first["ok"] is True and first["born"] == dt.date(1990, 1, 2)
    assert first["seen"] == dt.datetime(2024, 5, 6, 7, 8, 9)
    assert first["stamped"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)  # session time zone UTC
    assert first["name"] == "张三" and first["old_name"] == "李四"  # GBK column converted by the server
    assert first["code"] == "000123" and first["kind"] == "b" and first["raw"] == b"\x00\xff"
    assert second["id"] == 2 and all(v is None for k, v in second.items() if k != "id")


def test_streams_unbuffered_in_batches(table: str) -> None:
    with _admin() as conn, conn.cursor() as c:
        c.executemany(
            f"INSERT INTO {table} (id, name) VALUES (%s, %s)", [(i, f"王{i}") for i in range(3, 1001)]
        )
    sizes = [b.num_rows for b in connectors.open(DatabaseSpec("mysql", URL, table=table, batch_rows=100))]
    assert sum(sizes) == 1000 and max(sizes) == 100


def test_query_and_refusals(table: str) -> None:
    got = connectors.open(
        {"kind": "mysql", "url": URL, "query": f"SELECT id, name FROM {table} WHERE id = 1"}
    )
    assert got.read_all().to_pylist() == [{"id": 1, "name": "张三"}]
    for query in (f"DELETE FROM {table}", "SELECT 1; SELECT 2", f"SELECT * FROM {table} FOR UPDATE"):
        with pytest.raises(ConnectorError) as e:
            connectors.open({"kind": "mysql", "url": URL, "query": query})
        assert e.value.code == "source_query_refused"


def test_missing_table() -> None:
    with pytest.raises(ConnectorError) as e:
        connectors.open({"kind": "mysql", "url": URL, "table": "no_such_table_here"})
    assert e.value.code == "source_not_found"


@pytest.fixture
def user_with_password() -> Iterator[str]:
    name = f"u{uuid.uuid4().hex[:8]}"
    with _admin() as conn, conn.cursor() as c:
        c.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'right-password'")
        c.execute(f"GRANT SELECT ON test.* TO '{name}'@'%'")
    yield name
    with _admin() as conn, conn.cursor() as c:
        c.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def test_wrong_password_is_clear_and_never_echoed(
    table: str, user_with_password: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for spec in (
        {
            "kind": "mysql",
            "url": f"mysql://{user_with_password}:{SECRET}@127.0.0.1:3306/test",
            "table": table,
        },
        {
            "kind": "mysql",
            "url": f"mysql://{user_with_password}@127.0.0.1/test",
            "password": SECRET,
            "table": table,
        },
    ):
        with pytest.raises(ConnectorError) as e:
            connectors.open(spec)
        assert e.value.code == "source_auth_failed"
        for text in (str(e.value), repr(e.value), caplog.text):
            assert SECRET not in text and user_with_password not in text
        assert e.value.__cause__ is None and e.value.__context__ is None
    right = {
        "kind": "mysql",
        "url": f"mysql://{user_with_password}:right-password@127.0.0.1/test",
        "table": table,
    }
    assert connectors.open(right).read_all().num_rows == 2


def test_unreachable() -> None:
    with pytest.raises(ConnectorError) as e:
        connectors.open({"kind": "mysql", "url": f"mysql://root:{SECRET}@127.0.0.1:1/test", "table": "t"})
    assert e.value.code == "source_unreachable" and SECRET not in str(e.value)
