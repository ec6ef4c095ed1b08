"""Helpers for the console tests: a scenario with a pending job, tokens, and signed-in HTTP clients."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import httpx
import pyarrow.csv as pacsv

from sandbox.demo_data import residents

SECRET_NAME = "SECRET-ZHANG-4242"
GROUPED_SQL = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income\n"
    "FROM residents\nGROUP BY district\nORDER BY district"
)


def token_of(stack: Any, who: str) -> str:
    return str(stack[who].headers["authorization"]).split(" ", 1)[1]


def residents_csv(n: int = 2000) -> bytes:
    import pyarrow as pa

    table = residents(n, seed=11, small_count=4)
    names = table.column("name").to_pylist()
    names[0] = SECRET_NAME
    table = table.set_column(table.schema.get_field_index("name"), "name", pa.array(names))
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def setup_scenario(stack: Any, classification: str = "general", n: int = 2000) -> tuple[dict, dict]:
    """A registered residents dataset with confirmed levels and an approved scenario for `operator`."""
    metadata = {"name": "residents", "classification": classification, "privacy_unit": "resident_id"}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("residents.csv", residents_csv(n), "text/csv")},
        data={"metadata": json.dumps(metadata)},
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns",
        json={
            "columns": {
                "resident_id": {"level": "join_key"},
                "district": {"level": "group"},
                "sex": {"level": "group"},
                "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
            }
        },
    )
    assert r.status_code == 200, r.text
    r = stack["operator"].post(
        "/v1/scenarios",
        json={
            "name": "income by district",
            "purpose": "planning",
            "datasets": {ds["id"]: ["resident_id", "district", "sex", "age", "income"]},
            "modes": ["sdc"],
        },
    )
    assert r.status_code == 201, r.text
    sc = r.json()
    r = stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"})
    assert r.status_code == 200, r.text
    return r.json() | {"dataset": ds}, ds


def wait(stack: Any, job_id: str, client: str = "operator", timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = stack[client].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            return job


def pending_job(stack: Any, scenario_id: str, sql: str = GROUPED_SQL) -> dict[str, Any]:
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": scenario_id, "sql": sql, "mode": "sdc"})
    assert r.status_code == 202, r.text
    job = wait(stack, r.json()["id"])
    assert job["state"] == "pending_review", job
    return job


def hidden_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def console_client(stack: Any, who: str) -> httpx.Client:
    """An httpx client signed in to the console through the real sign-in form (cookies kept); the
    stack fixture closes it with its own clients."""
    c = anonymous(stack)
    page = c.get("/console/signin")
    r = c.post("/console/signin", data={"token": token_of(stack, who), "csrf": hidden_csrf(page.text)})
    assert r.status_code == 303, r.text
    return c


def anonymous(stack: Any) -> httpx.Client:
    """A cookie-keeping client without a token, closed by the stack fixture."""
    c = httpx.Client(base_url=stack.url, timeout=60)
    stack.clients[f"console-{len(stack.clients)}"] = c
    return c
