"""Shared fixtures: catalogs on SQLite and (when configured) PostgreSQL, and a real server per test."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker_engine
import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from support import Stack

from sandbox.auth import Role, add_user
from sandbox.runtime import Runtime
from sandbox.settings import Settings

PG_ENV = "SANDBOX_TEST_POSTGRES_URL"
_pg_skips: list[str] = []


@pytest.fixture(scope="session")
def postgres_admin_url() -> str | None:
    """The PostgreSQL server to test on; a set but unreachable URL fails the run instead of skipping."""
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {type(e).__name__}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def docker_url() -> Iterator[str]:
    """A Docker engine for the docker backend (started for the run if none answers). Locally its absence
    skips those tests with the reason; in CI, where `make test` installed docker.io, it fails them."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(docker_engine.engine(Settings().docker_url))
        except docker_engine.EngineUnavailable as e:
            if os.environ.get("CI"):
                pytest.fail(f"CI needs a Docker engine for the docker backend: {e}", pytrace=False)
            pytest.skip(f"docker backend not tested: {e}")
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_admin_url: str | None
) -> Iterator[str]:
    """A fresh, empty catalog database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        return
    if postgres_admin_url is None:
        _pg_skips.append(request.node.nodeid)
        pytest.skip(f"PostgreSQL variant skipped: {PG_ENV} is not set")
    name = f"sandbox_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_skips:
        terminalreporter.write_line(
            f"NOTE: {len(_pg_skips)} PostgreSQL test variant(s) were skipped because {PG_ENV} is not set; "
            "they ran on SQLite only.",
            yellow=True,
        )


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=catalog_url, workspace_timeout_s=60)


USERS: list[tuple[str, list[Role], str | None]] = [
    ("source", [Role.source_unit], "统计局"),
    ("admin", [Role.admin], "数据局"),
    ("operator", [Role.operator], "Acme"),
    ("operator2", [Role.operator], "Other Co"),
    ("reviewer", [Role.reviewer], "审核组"),
    ("auditor", [Role.auditor], "监管"),
    ("opreviewer", [Role.operator, Role.reviewer], "Dual"),
]


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    rt = Runtime(settings)
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    with rt.catalog.session() as s:
        for name, roles, unit in USERS:
            user, tokens[name] = add_user(s, name, roles, unit)
            ids[name] = user.id
    rt.close()
    from sandbox.server import BackgroundServer

    server = BackgroundServer(settings)
    url = server.start()
    clients = {
        n: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {t}"}, timeout=60)
        for n, t in tokens.items()
    }
    clients["anonymous"] = httpx.Client(base_url=url, timeout=60)
    try:
        yield Stack(url, settings, clients, ids, tokens)
    finally:
        for c in clients.values():
            c.close()
        server.stop()
