"""What the PostgreSQL and MySQL sources share: the spec, URL handling, the SELECT-only rule, batching.

A source is a connection URL plus a table or one read-only query. The URL may carry the password, or
the password comes separately; either way it is only ever handed to the driver. `redact_url` is the
one form that may be shown or logged: scheme, user, host, port and database, no password, no options.

Rows are fetched from a server-side cursor `batch_rows` at a time and turned into Arrow column by
column, so memory is bounded by the batch, not the table.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit

import pyarrow as pa
import sqlglot
from sqlglot import exp

from connectors.errors import ConnectorError
from connectors.infer import BATCH_ROWS
from connectors.text import clean_name, name_problem

DatabaseKind = Literal["postgres", "mysql"]
_SCHEMES: dict[str, DatabaseKind] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}

# A column converter: a batch's Python values -> one Arrow array.
Convert = Callable[[Sequence[Any]], pa.Array]


@dataclass(frozen=True)
class DatabaseSpec:
    """A table or a query on a PostgreSQL or MySQL/MariaDB server."""

    kind: DatabaseKind
    url: str = field(repr=False)
    table: str | None = None  # "name" or "schema.name"
    query: str | None = None  # exactly one SELECT
    password: str | None = field(default=None, repr=False)
    batch_rows: int = BATCH_ROWS

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ConnectorError("source_query_refused", "give either a table or a query")


@dataclass(frozen=True)
class Endpoint:
    """A parsed URL; `password` is the separate one if given, else the URL's."""

    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    database: str | None
    options: dict[str, str]


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConnectorError("source_unreachable", "the connection URL is not valid") from None
    return parts


def url_kind(url: str) -> DatabaseKind | None:
    """ "postgres" or "mysql" from the URL's scheme (a driver suffix like +psycopg is ignored)."""
    return _SCHEMES.get(_split(url).scheme.split("+", 1)[0].lower())


def endpoint(spec: DatabaseSpec) -> Endpoint:
    parts = _split(spec.url)
    if url_kind(spec.url) != spec.kind or not parts.hostname:
        raise ConnectorError("source_unreachable", "the connection URL is not valid")
    options: dict[str, str] = {}
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        options[unquote(key)] = unquote(value)
    database = unquote(parts.path.lstrip("/")) or None
    password = spec.password if spec.password is not None else options.pop("password", None)
    if password is None and parts.password is not None:
        password = unquote(parts.password)
    return Endpoint(
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[spec.kind],
        user=unquote(parts.username) if parts.username else None,
        password=password,
        database=database,
        options=options,
    )


def redact_url(url: str) -> str:
    """The URL without password and options: safe to store in the clear, show and log.

    >>> redact_url("postgresql://etl:s3cret@db.gov:5432/stats?sslmode=require")
    'postgresql://etl@db.gov:5432/stats'
    """
    parts = _split(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


def password_in_url(url: str) -> str | None:
    parts = _split(url)
    return unquote(parts.password) if parts.password is not None else None


def without_password(url: str) -> str:
    """The URL with any password (user-info or `password=` option) removed, options otherwise kept."""
    parts = _split(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    query = "&".join(p for p in parts.query.split("&") if p and p.split("=", 1)[0] != "password")
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}" + (f"?{query}" if query else "")


def check_select(query: str, dialect: str) -> str:
    """The query if it is exactly one SELECT (UNION, WITH ... SELECT included) that writes nothing."""
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError:
        raise ConnectorError("source_query_refused", "the query could not be parsed") from None
    if len(statements) != 1:
        raise ConnectorError("source_query_refused", "give exactly one SELECT statement")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise ConnectorError("source_query_refused", "only a SELECT may be run on a source")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Into, exp.Lock)
    if any(True for _ in tree.find_all(*writes)):
        raise ConnectorError("source_query_refused", "only a SELECT may be run on a source")
    return query.strip().rstrip(";")


def check_names(names: list[str], kind: str) -> list[str]:
    cleaned = [clean_name(n) for n in names]
    problem = name_problem(cleaned)
    if problem is not None:
        raise ConnectorError("malformed_file", problem[1], column=problem[0], format=kind)
    return cleaned


def batches(
    schema: pa.Schema,
    converters: Sequence[Convert],
    fetch: Callable[[int], Sequence[Sequence[Any]]],
    batch_rows: int,
    close: Callable[[], None],
    kind: str,
    fetch_errors: tuple[type[BaseException], ...],
    classify: Callable[[BaseException], ConnectorError] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Fetch `batch_rows` rows at a time and convert them column by column; `close` runs at the end."""
    try:
        while True:
            failed: ConnectorError | None = None
            try:
                rows = fetch(batch_rows)
            except fetch_errors as e:  # the driver's message may quote a value: dropped
                failed = (classify(e) if classify is not None else None) or ConnectorError(
                    "source_read_failed", "the server failed while streaming rows", format=kind
                )
            if failed is not None:
                raise failed
            if not rows:
                return
            columns = list(zip(*rows, strict=True))
            arrays: list[pa.Array] = []
            for index, (convert, values) in enumerate(zip(converters, columns, strict=True), start=1):
                array = _convert(convert, values)
                if array is None:
                    raise ConnectorError(
                        "source_read_failed",
                        "a value does not fit the column type",
                        column=index,
                        format=kind,
                    )
                arrays.append(array)
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        close()


def _convert(convert: Convert, values: Sequence[Any]) -> pa.Array | None:
    try:
        return convert(values)
    except (pa.ArrowException, ValueError, TypeError, ArithmeticError, OverflowError):
        return None  # the message quotes the value


def arrow(type_: pa.DataType) -> Convert:
    """Values the driver already gives as the right Python type."""
    return lambda values: pa.array(values, type=type_)


def as_float(values: Sequence[Any]) -> pa.Array:
    return pa.array([None if v is None else float(v) for v in values], type=pa.float64())


def as_text(values: Sequence[Any]) -> pa.Array:
    """Anything else as text; bytes are decoded as UTF-8 (the connection's character set)."""
    out = [
        None if v is None else v.decode("utf-8") if isinstance(v, bytes | bytearray | memoryview) else str(v)
        for v in values
    ]
    return pa.array(out, type=pa.string())


def reader(
    names: list[str],
    columns: list[tuple[pa.DataType, Convert]],
    fetch: Callable[[int], Sequence[Sequence[Any]]],
    spec: DatabaseSpec,
    close: Callable[[], None],
    fetch_errors: tuple[type[BaseException], ...],
    classify: Callable[[BaseException], ConnectorError] | None = None,
) -> pa.RecordBatchReader:
    """The reader; the connection closes when it is exhausted, fails, or is dropped unread."""
    schema = pa.schema([pa.field(n, t) for n, (t, _) in zip(names, columns, strict=True)])
    once = _Once(close)
    gen = batches(
        schema, [c for _, c in columns], fetch, spec.batch_rows, once, spec.kind, fetch_errors, classify
    )
    weakref.finalize(gen, once)
    return pa.RecordBatchReader.from_batches(schema, gen)


class _Once:
    def __init__(self, close: Callable[[], None]) -> None:
        self._close: Callable[[], None] | None = close

    def __call__(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()
