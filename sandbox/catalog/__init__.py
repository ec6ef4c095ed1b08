"""The catalog database: engine set-up, migrations and sessions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, create_engine, event, make_url, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x5A4D_0007  # pg_advisory_xact_lock key held while migrating


BUSY_TIMEOUT_S = 30  # how long a SQLite writer waits for the write lock before "database is locked"
POOL_SIZE = 20  # connections kept open per engine; the API's thread pool runs up to 40 requests


def make_engine(url: str) -> Engine:
    """The engine for the catalog's writes (and all reads that are not `Catalog.reading()`).

    SQLite gets WAL and immediate write transactions: SQLite takes its write lock at BEGIN, so two
    workers appending to the audit chain queue behind each other instead of failing with "database is
    locked" on upgrade. Connections past the pool are opened and closed per checkout (for PostgreSQL
    a new server process each), so the pool covers the API's concurrent requests.
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    engine = _sqlite_engine(url, "PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_read_engine(url: str, engine: Engine) -> Engine:
    """The engine behind `Catalog.reading()`: its own pool of read-only connections in autocommit.

    A status poll used to be an immediate transaction on SQLite: every read queued behind every other
    read and every job's writes, sleeping in SQLite's busy handler. Here each statement reads the
    latest committed state on its own (a WAL snapshot on SQLite; no BEGIN, no COMMIT, no lock, two
    round trips fewer on PostgreSQL), and the connection refuses writes (`query_only`,
    `default_transaction_read_only`), so a write attempted in a read fails instead of committing.
    No snapshot spans two statements: fine for what reads here (a user by token, a job and its
    release, which is written in the same transaction that marks the job released).
    """
    if make_url(url).database in (None, "", ":memory:"):
        return engine  # one in-memory SQLite database per connection: no second engine can see it
    if not url.startswith("sqlite"):
        return create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args={"options": "-c default_transaction_read_only=on"},
            pool_pre_ping=True,
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
        )
    return _sqlite_engine(url, "PRAGMA query_only=ON")


def _sqlite_engine(url: str, pragma: str) -> Engine:
    """Every SQLite connection: transactions under our control (begin events), WAL, a busy wait."""
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for statement in ("PRAGMA journal_mode=WAL", f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}", pragma):
            cur.execute(statement)
        cur.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the catalog schema to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # API and workers starting together migrate one at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def at_head(conn: Connection) -> bool:
    """Whether the catalog's schema is at the newest Alembic revision (readiness)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    return set(MigrationContext.configure(conn).get_current_heads()) == heads


class DriverStatement:
    """A table statement compiled once per dialect and run on the session's DBAPI cursor.

    A released product call writes four rows and moves the audit head; SQLAlchemy's per-execute
    machinery (compiled-cache lookup, execution context, result set-up) costs more per statement
    there than the driver itself. Values pass through each column type's own bind processor, so what
    is stored is exactly what SQLAlchemy would store. Compiled for the keys given, so it suits only
    statements whose every value is passed (no Python-side column defaults are applied), and it runs
    in the session's transaction like any other statement (same connection).
    """

    def __init__(self, stmt: Any, keys: Sequence[str] | None = None) -> None:
        self.stmt, self.keys = stmt, list(keys) if keys is not None else None
        self._plans: dict[str, tuple[str, list[tuple[str, str, Any, Any]], bool]] = {}

    def _plan(self, dialect: Any) -> tuple[str, list[tuple[str, str, Any, Any]], bool]:
        """(SQL text, binds in order as (name in the text, key in values, processor, own value),
        positional)."""
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = self.stmt.compile(dialect=dialect, column_keys=self.keys)
            processors = compiled._bind_processors  # the column types' own (SQLAlchemy 2.x)
            positional = compiled.positiontup is not None
            names = list(compiled.positiontup) if positional else list(compiled.binds)
            binds = [(n, compiled.binds[n].key, processors.get(n), compiled.binds[n].value) for n in names]
            plan = self._plans[dialect.name] = (compiled.string, binds, positional)
        return plan

    def execute(self, s: Session, values: dict[str, Any]) -> None:
        """Run with `values` (by column or bind key; a literal of the statement keeps its own value)."""
        self._cursor(s, values).close()

    def first(self, s: Session, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """A SELECT's first row (or None); the cursor is closed, so no read stays open."""
        cursor = self._cursor(s, values)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def _cursor(self, s: Session, values: dict[str, Any]) -> Any:
        conn = s.connection()
        sql, binds, positional = self._plan(conn.dialect)
        out = []
        for _, key, process, own in binds:
            value = values.get(key, own)
            out.append(value if process is None else process(value))
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(sql, out if positional else {b[0]: v for b, v in zip(binds, out, strict=True)})
        return cursor


def insert_for(s: Session) -> Any:
    """The catalog dialect's INSERT construct, for `ON CONFLICT DO NOTHING` (both dialects have it)."""
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def paginate(
    s: Session, query: Select[Any], key: InstrumentedAttribute[Any], limit: int, cursor: Any
) -> tuple[list[Any], str | None]:
    """Keyset pagination on one unique, ordered column: a page of rows and the next cursor, if any."""
    if cursor is not None and cursor != "":
        query = query.where(key > cursor)
    rows = list(s.execute(query.order_by(key).limit(limit + 1)).scalars())
    more = len(rows) > limit
    return rows[:limit], (str(getattr(rows[limit - 1], key.key)) if more else None)


class Catalog:
    """Sessions over one catalog database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.read_engine = make_read_engine(url, self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Reads for requests that only look (status polls, authentication): beside each other and
        beside a writer, each statement on the latest committed state; a write fails (make_read_engine).
        """
        with self._readers() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.read_engine.dispose()  # the write engine itself for in-memory SQLite: harmless twice
        self.engine.dispose()
