"""A PostgreSQL table or query as a `pyarrow.RecordBatchReader`, streamed from a named (server-side) cursor.

The session is one READ ONLY transaction with TimeZone UTC and client_encoding UTF8, so the server
converts text from whatever encoding the database declares. Types, by the column's type OID:

| PostgreSQL                    | Arrow                                   |
|-------------------------------|-----------------------------------------|
| boolean                       | bool                                    |
| smallint / integer / bigint   | int16 / int32 / int64                   |
| real / double precision       | float32 / float64                       |
| numeric(p, s), p <= 38        | decimal128(p, s) (exact)                |
| numeric without p, or p > 38  | float64 (DuckDB's decimals stop at 38)  |
| date / time                   | date32 / time64[us]                     |
| timestamp                     | timestamp[us] (naive, as stored)        |
| timestamptz                   | timestamp[us, tz=UTC]                   |
| bytea                         | binary                                  |
| text, varchar, char, json,    | string                                  |
| uuid, interval, anything else |                                         |

Errors never carry the server's message (it can quote a value or the user name): see `ConnectorError`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.types.string import TextLoader

from connectors import database
from connectors.database import Convert, DatabaseSpec
from connectors.errors import ConnectorError

_SAFE_OPTIONS = {"sslmode", "sslrootcert", "connect_timeout", "target_session_attrs"}
# Types whose Python form is not their text (json -> dict, uuid -> UUID ...): loaded as text instead.
_AS_TEXT = {
    114: "json",
    3802: "jsonb",
    2950: "uuid",
    1186: "interval",
    790: "money",
    869: "inet",
    650: "cidr",
}
_FIXED: dict[int, pa.DataType] = {
    16: pa.bool_(),
    21: pa.int16(),
    23: pa.int32(),
    20: pa.int64(),
    26: pa.int64(),  # oid
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    17: pa.binary(),
}
_TEXT = {25, 1043, 1042, 19}  # text, varchar, char, name
_AUTH_STATES = {"28P01", "28000"}
_MISSING_STATES = {"42P01", "42501", "3F000", "42703"}


def column_type(oid: int, precision: int | None, scale: int | None) -> tuple[pa.DataType, Convert]:
    if oid in _FIXED:
        return _FIXED[oid], database.arrow(_FIXED[oid])
    if oid == 1700:
        if precision is not None and 0 < precision <= 38:
            type_ = pa.decimal128(precision, scale or 0)
            return type_, database.arrow(type_)
        return pa.float64(), database.as_float
    if oid in _TEXT or oid in _AS_TEXT:  # already str: no per-value Python work
        return pa.string(), database.arrow(pa.string())
    return pa.string(), database.as_text


def _connect(spec: DatabaseSpec) -> psycopg.Connection[Any]:
    ep = database.endpoint(spec)
    options = {k: v for k, v in ep.options.items() if k in _SAFE_OPTIONS}
    options.setdefault("connect_timeout", "10")
    failed: str | None = None
    try:
        conn = psycopg.connect(
            host=ep.host,
            port=ep.port,
            user=ep.user,
            password=ep.password,
            dbname=ep.database,
            client_encoding="UTF8",
            application_name="sandbox-connector",
            **options,
        )
    except psycopg.Error as e:  # the message names host and user; only its class is kept
        state = getattr(e, "sqlstate", None)
        text = str(e).lower()
        auth = state in _AUTH_STATES or "password" in text or "authentication" in text
        failed = "source_auth_failed" if auth else "source_unreachable"
    if failed == "source_auth_failed":
        raise ConnectorError("source_auth_failed", "the server refused the credentials", format="postgres")
    if failed is not None:
        raise ConnectorError("source_unreachable", "could not connect to the server", format="postgres")
    for oid in _AS_TEXT:
        conn.adapters.register_loader(oid, TextLoader)
    return conn


def open_postgres(spec: DatabaseSpec) -> pa.RecordBatchReader:
    """Connect, start a read-only transaction, declare a cursor; rows stream as the reader is read."""
    query = sql.SQL(database.check_select(spec.query, "postgres")) if spec.query else None
    conn = _connect(spec)
    problem: ConnectorError | None = None
    cursor: psycopg.ServerCursor[Any] | None = None
    try:
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        if query is None:
            assert spec.table is not None
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*spec.table.split(".", 1)))
        cursor = conn.cursor(name="sandbox_source")
        cursor.itersize = spec.batch_rows
        cursor.execute(query)
        description = cursor.description or []
    except psycopg.Error as e:  # dropped: it may quote the query or a value
        problem = _classify(e)
    if problem is not None:
        _close(conn, cursor)
        raise problem
    try:
        names = database.check_names([d.name for d in description], "postgres")
    except ConnectorError:
        _close(conn, cursor)
        raise
    columns = [column_type(d.type_code, d.precision, d.scale) for d in description]

    def close() -> None:
        _close(conn, cursor)

    return database.reader(names, columns, cursor.fetchmany, spec, close, (psycopg.Error,), _classify)


def _close(conn: psycopg.Connection[Any], cursor: psycopg.ServerCursor[Any] | None) -> None:
    # rollback first: it ends the transaction (and the cursor with it) even after a failed fetch
    steps = (conn.rollback, *((cursor.close,) if cursor is not None else ()), conn.close)
    for step in steps:
        with contextlib.suppress(psycopg.Error):
            step()


def _classify(e: BaseException) -> ConnectorError:
    """Our words for a server error, by its SQLSTATE only."""
    state = getattr(e, "sqlstate", None)
    if state in _MISSING_STATES:
        return ConnectorError(
            "source_not_found",
            "the table or a column it names does not exist or is not readable",
            format="postgres",
        )
    if state == "25006":
        return ConnectorError("source_query_refused", "the query tries to write", format="postgres")
    return ConnectorError("source_read_failed", "the server could not run the query", format="postgres")
