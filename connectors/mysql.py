"""A MySQL/MariaDB table or query as a `pyarrow.RecordBatchReader`, streamed with PyMySQL's `SSCursor`.

The session reads in one `START TRANSACTION READ ONLY` with `time_zone = '+00:00'` and the
connection character set utf8mb4, so the server converts each column from its declared character
set (latin1, gbk, utf8mb3 ...). Types, by the result field's type code:

| MySQL                               | Arrow                                         |
|-------------------------------------|-----------------------------------------------|
| TINYINT(1) / BOOLEAN                | bool                                          |
| TINYINT SMALLINT MEDIUMINT INT      | int16 / int16 / int32 / int32 (unsigned: wider)|
| BIGINT                              | int64 (unsigned: decimal128(20, 0))           |
| FLOAT / DOUBLE                      | float32 / float64                             |
| DECIMAL(p, s), p <= 38              | decimal128(p, s) (exact)                      |
| DECIMAL(p, s), p > 38               | float64 (DuckDB's decimals stop at 38)        |
| DATE                                | date32 (zero dates '0000-00-00' become NULL)  |
| DATETIME                            | timestamp[us] (naive, as stored)              |
| TIMESTAMP                           | timestamp[us, tz=UTC]                         |
| TIME                                | duration[us] (MySQL TIME spans +-838 hours)   |
| YEAR                                | int16                                         |
| binary strings and BLOBs            | binary                                        |
| text, ENUM, SET, JSON, anything else| string                                        |
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE, FLAG

from connectors import database
from connectors.database import Convert, DatabaseSpec
from connectors.errors import ConnectorError

_AUTH_ERRORS = {1045, 1044, 1698}  # access denied (password / database), plugin refused
_MISSING_ERRORS = {1146, 1049, 1142, 1054}  # no table, no database, no privilege, no column
_READ_ONLY_ERRORS = {1792}
_BINARY_CHARSET = 63
# signed, unsigned
_INTS = {
    FIELD_TYPE.TINY: (pa.int16(), pa.int16()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.int32()),
    FIELD_TYPE.INT24: (pa.int32(), pa.int32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.int64()),
}
_FIXED = {
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FIELD_TYPE.TIME: pa.duration("us"),
    FIELD_TYPE.YEAR: pa.int16(),
}
_BLOBS = {
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.VARCHAR,
}


def _utc(values: Sequence[Any]) -> pa.Array:
    out = [None if v is None or not isinstance(v, dt.datetime) else v.replace(tzinfo=dt.UTC) for v in values]
    return pa.array(out, type=pa.timestamp("us", tz="UTC"))


def _dates(type_: pa.DataType, kind: type) -> Convert:
    """Zero dates come back as text ('0000-00-00'): they mean 'no date', so NULL."""
    return lambda values: pa.array([v if isinstance(v, kind) else None for v in values], type=type_)


def column_type(field: Any) -> tuple[pa.DataType, Convert]:
    """Arrow type and converter for one PyMySQL result field (type_code, length, scale, flags, charset)."""
    code, flags = field.type_code, field.flags
    unsigned = bool(flags & FLAG.UNSIGNED)
    if code == FIELD_TYPE.TINY and field.length == 1:
        return pa.bool_(), lambda values: pa.array([None if v is None else bool(v) for v in values])
    if code in _INTS:
        type_ = _INTS[code][int(unsigned)]
        return type_, database.arrow(type_)
    if code == FIELD_TYPE.LONGLONG:
        type_ = pa.decimal128(20, 0) if unsigned else pa.int64()
        return type_, database.arrow(type_)
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        scale = field.scale or 0
        precision = field.length - (1 if scale else 0) - (0 if unsigned else 1)
        if 0 < precision <= 38:
            return pa.decimal128(precision, scale), database.arrow(pa.decimal128(precision, scale))
        return pa.float64(), database.as_float
    if code == FIELD_TYPE.TIMESTAMP:
        return pa.timestamp("us", tz="UTC"), _utc
    if code in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return pa.date32(), _dates(pa.date32(), dt.date)
    if code == FIELD_TYPE.DATETIME:
        return pa.timestamp("us"), _dates(pa.timestamp("us"), dt.datetime)
    if code in _FIXED:
        return _FIXED[code], database.arrow(_FIXED[code])
    if code in _BLOBS and field.charsetnr == _BINARY_CHARSET:
        return pa.binary(), database.arrow(pa.binary())
    if code in _BLOBS or code in (FIELD_TYPE.ENUM, FIELD_TYPE.SET):  # text: PyMySQL gives str
        return pa.string(), database.arrow(pa.string())
    return pa.string(), database.as_text


def _quote(name: str) -> str:
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split(".", 1))


def _connect(spec: DatabaseSpec) -> pymysql.connections.Connection:
    ep = database.endpoint(spec)
    code: str | None = None
    try:
        return pymysql.connect(
            host=ep.host,
            port=ep.port,
            user=ep.user or "",
            password=ep.password or "",
            database=ep.database,
            charset="utf8mb4",
            connect_timeout=10,
            cursorclass=pymysql.cursors.SSCursor,
            autocommit=False,
            init_command="SET time_zone = '+00:00'",
        )
    except pymysql.err.OperationalError as e:  # the message names user and host: only its number is kept
        number = e.args[0] if e.args else None
        code = "source_auth_failed" if number in _AUTH_ERRORS else "source_unreachable"
    except pymysql.err.MySQLError:
        code = "source_unreachable"
    if code == "source_auth_failed":
        raise ConnectorError("source_auth_failed", "the server refused the credentials", format="mysql")
    raise ConnectorError("source_unreachable", "could not connect to the server", format="mysql")


def open_mysql(spec: DatabaseSpec) -> pa.RecordBatchReader:
    """Connect, start a read-only transaction, run the SELECT unbuffered; rows stream as read."""
    query = (
        database.check_select(spec.query, "mysql")
        if spec.query
        else f"SELECT * FROM {_quote(spec.table or '')}"
    )
    conn = _connect(spec)
    problem: str | None = None
    try:
        cursor = conn.cursor()
        cursor.execute("START TRANSACTION READ ONLY")
        cursor.execute(query)
        fields = list(cursor._result.fields) if cursor._result is not None else []
        names = [d[0] for d in cursor.description or []]
    except pymysql.err.MySQLError as e:  # dropped: it may quote the query or a value
        number = e.args[0] if e.args else None
        problem = (
            "source_not_found"
            if number in _MISSING_ERRORS
            else "source_query_refused"
            if number in _READ_ONLY_ERRORS
            else "source_read_failed"
        )
    if problem is not None:
        conn.close()
        words = {
            "source_not_found": "the table or a column it names does not exist or is not readable",
            "source_query_refused": "the query tries to write",
            "source_read_failed": "the server could not run the query",
        }[problem]
        raise ConnectorError(problem, words, format="mysql")  # type: ignore[arg-type]
    try:
        names = database.check_names(names, "mysql")
    except ConnectorError:
        conn.close()
        raise
    columns = [column_type(f) for f in fields]

    def close() -> None:
        # not cursor.close(): it would read the rest of an unfinished result first
        with contextlib.suppress(pymysql.err.MySQLError):
            conn.close()

    return database.reader(names, columns, cursor.fetchmany, spec, close, (pymysql.err.MySQLError,))
