"""Catalog sessions: reads (`Catalog.reading()`) never wait for a writer and cannot write; writes on
SQLite still take the write lock at BEGIN, so they queue behind each other."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, cast, event, select, update
from sqlalchemy.exc import DBAPIError

from sandbox.catalog import Catalog, DriverStatement
from sandbox.catalog.models import User


@pytest.fixture
def catalog(catalog_url: str) -> Any:
    cat = Catalog(catalog_url)
    cat.migrate()
    with cat.session() as s:
        s.add(User(id="u1", name="a", roles=["operator"], token_hash="h" * 64, created_at=datetime.now(UTC)))
    yield cat
    cat.dispose()


def test_reads_answer_while_a_writer_holds_the_catalog(catalog: Catalog) -> None:
    """Ten concurrent reads all finish while a write transaction is open, and see the committed state.

    With every session a `BEGIN IMMEDIATE`, each read on SQLite waited for the writer's lock (up to the
    30 s busy timeout): a job's write transaction stalled every status poll and every sign-in.
    """
    writing, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with catalog.session() as s:
                s.execute(update(User).where(User.id == "u1").values(name="b"))
                writing.set()
                release.wait(60)
        except BaseException as e:  # reported by the assertion below
            errors.append(e)
            writing.set()

    names: list[str] = []

    def reader() -> None:
        try:
            with catalog.reading() as s:
                names.append(s.execute(select(User.name).where(User.id == "u1")).scalar_one())
        except BaseException as e:  # "database is locked" when reads take the write lock
            errors.append(e)

    w = threading.Thread(target=writer)
    w.start()
    assert writing.wait(30)
    readers = [threading.Thread(target=reader) for _ in range(10)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=20)
    finished = sum(not r.is_alive() for r in readers)
    release.set()
    w.join(30)
    for r in readers:
        r.join(30)
    assert not errors
    assert finished == 10, "reads waited for the writer"
    assert names == ["a"] * 10  # the snapshot before the uncommitted write
    with catalog.reading() as s:
        assert s.execute(select(User.name)).scalar_one() == "b"


def test_a_write_inside_a_read_session_fails(catalog: Catalog) -> None:
    with pytest.raises(DBAPIError), catalog.reading() as s:
        s.execute(update(User).values(name="c"))
    with catalog.reading() as s:
        assert s.execute(select(User.name)).scalar_one() == "a"


def test_sqlite_write_sessions_still_take_the_lock_at_begin(tmp_path: Path) -> None:
    """Reads run on their own connections without a lock; writes still begin IMMEDIATE (audit order)."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    catalog.migrate()
    seen: dict[str, list[str]] = {"write": [], "read": []}
    for kind, engine in (("write", catalog.engine), ("read", catalog.read_engine)):
        event.listen(
            engine,
            "before_cursor_execute",
            lambda _c, _cur, stmt, *_a, kind=kind: seen[kind].append(stmt),
        )
    try:
        with catalog.session() as s:
            s.execute(select(User.id))
        with catalog.reading() as s:
            s.execute(select(User.id))
    finally:
        catalog.dispose()
    assert "BEGIN IMMEDIATE" in seen["write"]
    assert seen["read"] and not any(stmt.startswith("BEGIN") for stmt in seen["read"])


def test_a_driver_statement_stores_what_sqlalchemy_stores(catalog_url: str) -> None:
    """Rows written on the driver (the product call's hot path) and through SQLAlchemy read back the
    same, stored text included: each value went through its column type's own bind processor."""
    md = MetaData()
    table = Table(
        "scratch",
        md,
        Column("id", String(10), primary_key=True),
        Column("params", JSON),
        Column("at", DateTime(timezone=True)),
        Column("n", Integer),
        Column("note", String(20)),
    )
    catalog = Catalog(catalog_url)
    md.create_all(catalog.engine)
    at = datetime(2026, 12, 1, 15, 30, 1, 123456, tzinfo=UTC)
    row = {"params": {"district": "光明区", "min_age": 18}, "at": at, "n": 3, "note": None}
    fast = DriverStatement(table.insert(), ["id", "params", "at", "n", "note"])
    try:
        with catalog.session() as s:
            fast.execute(s, {"id": "driver", **row})
            s.connection().execute(table.insert(), {"id": "core", **row})
        with catalog.session() as s:
            out = {r[0]: tuple(r)[1:] for r in s.execute(select(table))}
            stored = {
                r[0]: r[1:]
                for r in s.execute(select(table.c.id, cast(table.c.params, String), cast(table.c.at, String)))
            }
            head = DriverStatement(select(table.c.n).where(table.c.id == "driver")).first(s, {})
        assert out["driver"] == out["core"] and out["driver"][0] == row["params"]
        assert stored["driver"] == stored["core"]
        assert head == (3,)
    finally:
        md.drop_all(catalog.engine)
        catalog.dispose()
