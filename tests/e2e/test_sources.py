"""Registration from where the data lives, over real HTTP: PostgreSQL and MariaDB tables, new versions
from the same source, a schema change held until confirmed (jobs keep the confirmed version), refresh."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy import select
from support import Stack

from sandbox.catalog.models import AuditEvent, DatasetSource
from sandbox.demo_data import residents
from sandbox.refresh import tick
from sandbox.runtime import Runtime

PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_SECRET = "Pg-Secret-7f3k"
MY_SECRET = "My-Secret-9q2w"
N = 400


def _rows(n: int = N) -> list[tuple[Any, ...]]:
    t = residents(n, seed=5, small_count=4)
    return list(
        zip(
            *(t.column(c).to_pylist() for c in ("resident_id", "name", "phone", "district", "age", "income")),
            strict=True,
        )
    )


@pytest.fixture
def pg_table() -> Iterator[str]:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (resident_id text, name text, phone text, district text, age int,"
            " income numeric(12, 2), updated timestamptz DEFAULT now())"
        )
        with conn.cursor().copy(
            f"COPY {name} (resident_id, name, phone, district, age, income) FROM STDIN"
        ) as cp:
            for row in _rows():
                cp.write_row(row)
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def _my() -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", user="root", password="", database="test", autocommit=True)


@pytest.fixture
def my_table() -> Iterator[tuple[str, str]]:
    name, user = f"e2e_{uuid.uuid4().hex[:10]}", f"u{uuid.uuid4().hex[:8]}"
    with _my() as conn, conn.cursor() as c:
        c.execute(
            f"CREATE TABLE {name} (resident_id VARCHAR(18), name VARCHAR(40) CHARACTER SET gbk,"
            " phone VARCHAR(11), district VARCHAR(20), age INT, income DECIMAL(12, 2))"
            " DEFAULT CHARSET=utf8mb4"
        )
        c.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s, %s)", _rows())
        c.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{MY_SECRET}'")
        c.execute(f"GRANT SELECT ON test.{name} TO '{user}'@'%'")
    yield name, user
    with _my() as conn, conn.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")
        c.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def _register(stack: Stack, name: str, connector: dict[str, Any], **extra: Any) -> Any:
    body = {
        "name": name,
        "classification": "general",
        "privacy_unit": "resident_id",
        "connector": connector,
        **extra,
    }
    return stack["source"].post("/v1/datasets", json=body)


def _events(stack: Stack, dataset_id: str) -> list[str]:
    rt = Runtime(stack.settings, migrate=False)
    try:
        with rt.catalog.session() as s:
            return [
                e.event_type
                for e in s.execute(
                    select(AuditEvent).where(AuditEvent.object_id == dataset_id).order_by(AuditEvent.seq)
                ).scalars()
            ]
    finally:
        rt.close()


def _wait(stack: Stack, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job = stack["operator"].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            return job


def test_postgres_source_versions_and_held_schema_change(
    stack: Stack, pg_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/test?sslmode=disable"
    r = _register(stack, "pg_residents", {"kind": "postgres", "url": url, "table": pg_table}, refresh="daily")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert PG_SECRET not in r.text
    assert ds["rows"] == N and ds["version"] == 1 and ds["held_version"] is None
    assert ds["source"]["url"] == "postgresql://postgres@127.0.0.1:5432/test"
    assert ds["source"]["table"] == pg_table and ds["source"]["refresh"] == "daily"
    types = {c["name"]: c["type"] for c in ds["columns"]}
    assert types["income"] == "decimal128(12, 2)" and types["age"] == "int32"
    assert types["updated"] == "timestamp[us, tz=UTC]"

    # the credentials are sealed at rest: the catalog row has no password in the clear
    rt = Runtime(stack.settings, migrate=False)
    try:
        with rt.catalog.session() as s:
            src = s.execute(select(DatasetSource)).scalar_one()
            assert PG_SECRET.encode() not in src.sealed_spec and PG_SECRET not in str(src.display)
    finally:
        rt.close()

    # a new version from the same source: more rows, same schema -> current at once
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {pg_table} (resident_id, name, district, age, income)"
            " VALUES ('X1', '新', '福田区', 30, 1)"
        )
    r = stack["source"].post(f"/v1/datasets/{ds['id']}/versions")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["rows"] == N + 1

    # levels, a scenario, a job on version 2
    districts = sorted({row[3] for row in _rows()} | {"福田区"})
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns",
        json={
            "columns": {
                "resident_id": {"level": "join_key"},
                "district": {"level": "group", "public_keys": districts},
                "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
            }
        },
    )
    assert r.status_code == 200, r.text
    sc = (
        stack["operator"]
        .post(
            "/v1/scenarios",
            json={
                "name": "by district",
                "purpose": "planning",
                "datasets": {ds["id"]: ["resident_id", "district", "income"]},
            },
        )
        .json()
    )
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"}).status_code == 200

    # the schema changes: a column is added and one is retyped -> the version is held
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {pg_table} ADD COLUMN household text")
        conn.execute(f"ALTER TABLE {pg_table} ALTER COLUMN age TYPE bigint")
        conn.execute(
            f"INSERT INTO {pg_table} (resident_id, district, age, income) VALUES ('X2', '福田区', 40, 2)"
        )
    r = stack["source"].post(f"/v1/datasets/{ds['id']}/versions")
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["version"] == 2 and held["rows"] == N + 1  # jobs still see version 2
    assert held["held_version"]["version"] == 3 and held["held_version"]["rows"] == N + 2
    assert held["held_version"]["added"] == {"household": "string"}
    assert held["held_version"]["retyped"] == {"age": {"from": "int32", "to": "int64"}}
    assert sorted(held["held_version"]["to_confirm"]) == ["age", "household"]
    assert "household" not in {c["name"] for c in held["columns"]}

    sql = "SELECT district, COUNT(*) AS n FROM pg_residents GROUP BY district"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql, "mode": "sdc"})
    assert r.status_code == 202, r.text
    job = _wait(stack, r.json()["id"])
    assert job["state"] == "pending_review", job
    assert job["check_report"]["dataset_versions"] == {ds["id"]: 2}

    # confirming one column is not enough; the second releases the hold
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns", json={"columns": {"household": {"level": "hidden"}}}
    )
    assert (
        r.status_code == 200
        and r.json()["version"] == 2
        and r.json()["held_version"]["to_confirm"] == ["age"]
    )
    r = stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": {"age": {"level": "group"}}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == 3 and out["held_version"] is None and out["rows"] == N + 2
    cols = {c["name"]: c for c in out["columns"]}
    assert cols["household"]["level"] == "hidden" and cols["age"]["type"] == "int64"
    assert cols["district"]["level"] == "group"  # earlier levels carry over
    events = [e for e in _events(stack, ds["id"]) if e.startswith("dataset.")]
    assert events.count("dataset.version_added") == 1
    assert "dataset.version_held" in events and events[-1] == "dataset.version_confirmed"

    # the schedule: a tick after a day re-reads the source
    rt = Runtime(stack.settings, migrate=False)
    try:
        assert tick(rt, datetime.now(UTC)) == []  # not due yet
        outcomes = tick(rt, datetime.now(UTC) + timedelta(days=1, minutes=1))
        assert [(o.dataset_id, o.version, o.error) for o in outcomes] == [(ds["id"], 4, None)]
    finally:
        rt.close()
    assert stack["source"].get(f"/v1/datasets/{ds['id']}").json()["version"] == 4
    assert PG_SECRET not in caplog.text


def test_mariadb_source_and_wrong_password(
    stack: Stack, my_table: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    table, user = my_table
    wrong = "Wrong-" + MY_SECRET
    for connector in (
        {"kind": "mysql", "url": f"mysql://{user}:{wrong}@127.0.0.1:3306/test", "table": table},
        {"kind": "mysql", "url": f"mysql://{user}@127.0.0.1:3306/test", "password": wrong, "table": table},
    ):
        r = _register(stack, "my_residents", connector)
        assert r.status_code == 422 and r.json()["error"]["code"] == "source_auth_failed", r.text
        assert wrong not in r.text and MY_SECRET not in r.text
    r = _register(
        stack,
        "my_residents",
        {
            "kind": "mysql",
            "url": f"mysql://{user}@127.0.0.1:3306/test",
            "password": MY_SECRET,
            "table": table,
        },
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    assert (
        MY_SECRET not in r.text
        and ds["rows"] == N
        and ds["source"]["url"] == f"mysql://{user}@127.0.0.1:3306/test"
    )
    assert {c["name"]: c["type"] for c in ds["columns"]}["income"] == "decimal128(12, 2)"
    listed = stack["operator"].get("/v1/datasets").text
    assert MY_SECRET not in listed

    # the source password changes: a re-read fails clearly, is audited, and the version stays
    with _my() as conn, conn.cursor() as c:
        c.execute(f"ALTER USER '{user}'@'%' IDENTIFIED BY 'rotated-pw-x'")
    r = stack["source"].post(f"/v1/datasets/{ds['id']}/versions")
    assert r.status_code == 422 and r.json()["error"]["code"] == "source_auth_failed"
    got = stack["source"].get(f"/v1/datasets/{ds['id']}").json()
    assert got["version"] == 1 and got["source"]["last_error"] == "source_auth_failed"
    assert [e for e in _events(stack, ds["id"]) if e.startswith("dataset.")][-1] == "dataset.refresh_failed"
    for secret in (wrong, MY_SECRET):
        assert secret not in caplog.text


def test_query_sources_refuse_writes_and_upload_path_still_works(stack: Stack, pg_table: str) -> None:
    r = _register(stack, "pg_q", {"kind": "postgres", "url": PG, "query": f"DELETE FROM {pg_table}"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "source_query_refused"
    r = _register(stack, "pg_q", {"kind": "postgres", "url": PG, "table": pg_table, "query": "SELECT 1"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = _register(
        stack,
        "pg_q",
        {"kind": "postgres", "url": PG, "query": f"SELECT resident_id, district FROM {pg_table}"},
    )
    assert r.status_code == 201 and r.json()["source"]["query"] is True and pg_table not in r.text
    r = stack["source"].post("/v1/datasets/" + r.json()["id"] + "/versions")
    assert r.status_code == 201 and r.json()["version"] == 2


def test_xlsx_upload_with_two_header_rows(stack: Stack, tmp_path: Any) -> None:
    import json

    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["基本信息", None, "收入"])
    ws.merge_cells("A1:B1")
    ws.merge_cells("C1:C2")
    ws.append(["身份证号", "区"])
    for i in range(30):
        ws.append([f"4403041990010{i:05d}", "福田区" if i % 2 else "南山区", 1000 + i])
    path = tmp_path / "收入.xlsx"
    book.save(path)
    meta = {"name": "xlsx_income", "privacy_unit": "基本信息_身份证号"}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("收入.xlsx", path.read_bytes(), "application/octet-stream")},
        data={"metadata": json.dumps(meta, ensure_ascii=False)},
    )
    assert r.status_code == 201, r.text
    cols = {c["name"]: c["type"] for c in r.json()["columns"]}
    assert cols == {"基本信息_身份证号": "string", "基本信息_区": "string", "收入": "int64"}
    assert r.json()["rows"] == 30 and r.json()["source"] is None
