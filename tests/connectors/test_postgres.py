"""PostgreSQL sources against the real server on this machine (database `test`, trust auth)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

import connectors
from connectors import ConnectorError, DatabaseSpec

URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def table() -> Iterator[str]:
    name = f"src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            f"""CREATE TABLE {name} (
                id bigint, small smallint, n int, amount numeric(12, 2), ratio numeric, score real,
                born date, seen timestamp, stamped timestamptz, name text, code varchar(20),
                ok boolean, doc jsonb, uid uuid)"""
        )
        conn.execute(
            f"""INSERT INTO {name} VALUES
            (1, 2, 3, 1234.56, 0.125, 1.5, '1990-01-02', '2024-05-06 07:08:09',
             '2024-05-06 07:08:09+08', '张三', '000123', true, '{{"区": "海淀"}}',
             '6f1c3b7e-2a1d-4c55-9d8e-1f2a3b4c5d6e'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""
        )
    yield name
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def test_types_chinese_text_and_nulls(table: str) -> None:
    got = connectors.open({"kind": "postgres", "url": URL, "table": table}).read_all()
    assert got.schema.field("id").type == pa.int64()
    assert got.schema.field("small").type == pa.int16()
    assert got.schema.field("n").type == pa.int32()
    assert got.schema.field("amount").type == pa.decimal128(12, 2)
    assert got.schema.field("ratio").type == pa.float64()  # numeric without precision
    assert got.schema.field("score").type == pa.float32()
    assert got.schema.field("born").type == pa.date32()
    assert got.schema.field("seen").type == pa.timestamp("us")
    assert got.schema.field("stamped").type == pa.timestamp("us", tz="UTC")
    assert got.schema.field("ok").type == pa.bool_()
    for text in ("name", "code", "doc", "uid"):
        assert got.schema.field(text).type == pa.string()
    first, second = got.to_pylist()
    assert first["amount"] == Decimal("1234.56")
    assert first["born"] == dt.date(1990, 1, 2)
    assert first["seen"] == dt.datetime(2024, 5, 6, 7, 8, 9)
    assert first["stamped"] == dt.datetime(2024, 5, 5, 23, 8, 9, tzinfo=dt.UTC)
    assert first["name"] == "张三" and first["code"] == "000123"
    assert first["doc"] == '{"区": "海淀"}'
    assert first["uid"] == "6f1c3b7e-2a1d-4c55-9d8e-1f2a3b4c5d6e"
    assert second["id"] == 2 and all(v is None for k, v in second.items() if k != "id")


def test_streams_in_batches_of_the_requested_size(table: str) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} (id, name) SELECT g, '王' || g FROM generate_series(3, 1000) g")
    spec = DatabaseSpec("postgres", URL, table=table, batch_rows=128)
    sizes = [b.num_rows for b in connectors.open(spec)]
    assert sum(sizes) == 1000 and max(sizes) == 128


def test_query_source(table: str) -> None:
    query = f"SELECT id, name FROM {table} WHERE id = 1"
    got = connectors.open({"kind": "postgres", "url": URL, "query": query}).read_all()
    assert got.to_pylist() == [{"id": 1, "name": "张三"}]


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM {t}",
        "SELECT 1; SELECT 2",
        "SELECT * INTO copy_of FROM {t}",
        "UPDATE {t} SET n = 1",
        "SELECT * FROM {t} FOR UPDATE",
    ],
)
def test_only_one_select_is_run(table: str, query: str) -> None:
    with pytest.raises(ConnectorError) as e:
        connectors.open({"kind": "postgres", "url": URL, "query": query.format(t=table)})
    assert e.value.code == "source_query_refused"


def test_the_transaction_is_read_only(table: str) -> None:
    # A function with side effects passes the SELECT check; the read-only transaction still stops it.
    query = f"SELECT nextval('ro_probe_{table}')"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE ro_probe_{table}")
    try:
        with pytest.raises(ConnectorError) as e:
            connectors.open({"kind": "postgres", "url": URL, "query": query}).read_all()
        assert e.value.code == "source_query_refused"
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f"DROP SEQUENCE ro_probe_{table}")


def test_missing_table() -> None:
    with pytest.raises(ConnectorError) as e:
        connectors.open({"kind": "postgres", "url": URL, "table": "no_such_table_here"})
    assert e.value.code == "source_not_found"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:Hunter2-secret@127.0.0.1:1/test",
        "postgresql://postgres:Hunter2-secret@127.0.0.1:5432/no_such_database_x",
    ],
)
def test_unreachable_errors_hold_no_password_or_url(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as e:
        connectors.open({"kind": "postgres", "url": url, "table": "t"})
    assert e.value.code == "source_unreachable"
    for text in (str(e.value), repr(e.value), caplog.text):
        assert "Hunter2-secret" not in text and "127.0.0.1" not in text
    assert e.value.__cause__ is None and e.value.__context__ is None


def test_separate_password_and_redaction() -> None:
    spec = DatabaseSpec("postgres", "postgresql://u:in-url@h/db", table="t", password="given")
    assert "given" not in repr(spec) and "in-url" not in repr(spec)
    assert connectors.redact_url("postgresql+psycopg://u:pw@h:5/db?password=x&sslmode=require") == (
        "postgresql+psycopg://u@h:5/db"
    )


def test_text_in_a_database_declared_gbk_family_encoding() -> None:
    """A database in EUC_CN (GB2312): the server converts to the connection's UTF-8."""
    name = f"src_euc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} ENCODING 'EUC_CN' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW server_encoding").fetchone() == ("EUC_CN",)
            conn.execute("CREATE TABLE people (name text, city varchar(10))")
            conn.execute("INSERT INTO people VALUES ('张三', '北京'), (NULL, '上海')")
        got = connectors.open({"kind": "postgres", "url": url, "table": "people"}).read_all()
        assert got.to_pylist() == [{"name": "张三", "city": "北京"}, {"name": None, "city": "上海"}]
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
