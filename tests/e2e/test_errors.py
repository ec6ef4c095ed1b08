"""Every error path reachable over HTTP, and the shape of its body.

Each error body is exactly `{"error": {"code", "message", "detail"}}`, its code is an `ErrorCode`,
its HTTP status is the one `status_of` gives that code, and nothing in it repeats a seeded secret:
neither a cell of the registered data nor a value the client sent in an invalid field.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sqlalchemy import update
from support import Stack
from test_products_e2e import LEDGER, walk_products

from sandbox.catalog.models import Scenario
from sandbox.demo_data import residents
from sandbox.errors import WORKSPACE_CODES, ErrorCode, status_of
from sandbox.runtime import Runtime
from sandbox.settings import Settings

SECRET = "SECRET-LI-8841"
SECRET_PHONE = "13987654321"
SECRET_INCOME = 987654321
SECRETS = (SECRET, SECRET_PHONE, str(SECRET_INCOME))
FINISHED = ("pending_review", "released", "rejected", "failed", "cancelled", "gate_rejected")

# Codes no HTTP request can provoke on a healthy server: they are job reason codes (the workspace
# reports them) or need a crashed worker, an exhausted memory limit or an unhandled exception.
EXEMPT = WORKSPACE_CODES | {
    ErrorCode.output_pii,  # a job's reason code: tests/e2e/test_disclosure_control.py
    ErrorCode.dp_failed,  # a dp job's reason codes: tests/e2e/test_dp_e2e.py
    ErrorCode.dp_repeat_pending,
    ErrorCode.internal,
    ErrorCode.workspace_busy,  # a saturated warm pool: tests/sandbox/workspace/test_warm.py
}


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str) -> Settings:
    """As conftest's, with a 1 MiB upload limit so that payload_too_large is reachable, and a cost ledger
    so that a product's fee cap is."""
    return Settings(
        home=tmp_path / "home",
        database_url=catalog_url,
        workspace_timeout_s=60,
        max_upload_mb=1,
        pricing_ledger_path=LEDGER,
    )


class Walk:
    """Requests that must fail, each checked for shape, code, status and secrets; codes seen are kept."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seen: set[ErrorCode] = set()

    def expect(self, code: ErrorCode, r: httpx.Response) -> dict[str, Any]:
        where = f"{r.request.method} {r.request.url}"
        body = r.json()
        assert set(body) == {"error"}, (where, body)
        err = body["error"]
        assert set(err) == {"code", "message", "detail"}, (where, err)
        assert err["code"] in {c.value for c in ErrorCode}, (where, err)
        assert err["code"] == code.value, (where, r.status_code, err)
        assert r.status_code == status_of(code), (where, r.status_code, err)
        assert isinstance(err["message"], str) and err["message"], (where, err)
        for secret in SECRETS:
            assert secret not in r.text, (where, secret, r.text)
        self.seen.add(code)
        return err

    def call(self, code: ErrorCode, who: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return self.expect(code, self.stack[who].request(method, url, **kwargs))


def residents_csv(n: int = 300) -> tuple[bytes, list[str]]:
    """Residents with the secrets on one row of the small district, and the district names."""
    table = residents(n, seed=3, small_count=4)
    rows = table.to_pylist()
    small = next(i for i, row in enumerate(rows) if row["district"] == "大鹏新区")
    rows[small].update(name=SECRET, phone=SECRET_PHONE, income=SECRET_INCOME)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(rows), buf)
    return buf.getvalue(), sorted({row["district"] for row in rows})


def upload(
    stack: Stack, data: bytes, filename: str = "data.csv", who: str = "source", **meta: Any
) -> httpx.Response:
    metadata = {"name": "residents", "classification": "general", "privacy_unit": "resident_id", **meta}
    return stack[who].post(
        "/v1/datasets",
        files={"file": (filename, data, "text/csv")},
        data={"metadata": json.dumps(metadata, ensure_ascii=False)},
    )


def wait(stack: Stack, who: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = stack[who].get(f"/v1/jobs/{job_id}", params={"wait": 10}).json()
        if job["state"] in FINISHED or time.monotonic() > deadline:
            return job


LEVELS = {
    "resident_id": {"level": "join_key"},
    "name": {"level": "hidden"},
    "phone": {"level": "hidden"},
    "sex": {"level": "group"},
    "age": {"level": "compare"},
    "income": {"level": "aggregate", "lower": 0, "upper": 1_000_000_000},
}
GRANTED = ["resident_id", "district", "sex", "age", "income"]


def test_every_error_path_has_the_error_shape(stack: Stack) -> None:
    w = Walk(stack)
    C = ErrorCode

    # --- datasets: registration -----------------------------------------------------------------
    data, districts = residents_csv()
    r = upload(stack, data)
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    w.expect(C.dataset_name_taken, upload(stack, b"resident_id,x\n1,2\n"))
    ragged = f"resident_id,name\n1,a\n2,{SECRET},{SECRET_PHONE}\n".encode()
    w.expect(C.malformed_file, upload(stack, ragged, name="ragged"))
    w.expect(C.malformed_file, upload(stack, b"", name="empty"))
    w.expect(C.malformed_file, upload(stack, SECRET.encode(), filename="table.xlsx", name="xlsx"))
    w.expect(C.unsupported_format, upload(stack, SECRET.encode(), filename="table.xls", name="xls"))
    w.expect(C.unsupported_format, upload(stack, SECRET.encode(), filename="noext", name="noext"))
    bad_bytes = f"resident_id,name\n1,{SECRET}\n".encode() + b"2,\x80\xff\xfe\n"
    w.expect(C.unknown_encoding, upload(stack, bad_bytes, name="enc"))
    w.expect(C.unknown_column, upload(stack, b"a,b\n1,2\n", name="nounit", privacy_unit="resident_id"))
    w.expect(C.payload_too_large, upload(stack, b"resident_id\n" + b"1\n" * 600_000, name="big"))
    # metadata: invalid JSON, invalid fields (the values sent must not come back)
    w.expect(
        C.invalid_request,
        stack["source"].post(
            "/v1/datasets", files={"file": ("a.csv", b"a\n1\n")}, data={"metadata": "{" + SECRET}
        ),
    )
    for meta in (
        {"classification": SECRET},
        {"name": f"{SECRET}!"},
        {"format": SECRET},
        {"privacy_unit": ""},
        {"unexpected": SECRET},
    ):
        w.expect(C.invalid_request, upload(stack, b"resident_id\n1\n", **{"name": "m", **meta}))
    w.expect(C.invalid_request, stack["source"].post("/v1/datasets", data={"metadata": "{}"}))
    # --- datasets: database sources (PostgreSQL and MariaDB on this machine) ---------------------
    pg = "postgresql://postgres@127.0.0.1:5432/test"

    def from_source(**connector: Any) -> httpx.Response:
        body = {"name": "src", "privacy_unit": "resident_id", "connector": connector}
        return stack["source"].post("/v1/datasets", json=body)

    w.expect(
        C.source_unreachable,
        from_source(kind="postgres", url=f"postgresql://u:{SECRET}@127.0.0.1:1/x", table="t"),
    )
    w.expect(
        C.source_auth_failed,
        from_source(kind="mysql", url="mysql://root@127.0.0.1/test", password=SECRET, table="t"),
    )
    w.expect(C.source_not_found, from_source(kind="postgres", url=pg, table=f"no_such_{SECRET}"))
    w.expect(
        C.source_query_refused,
        from_source(kind="postgres", url=pg, query=f"DELETE FROM t WHERE x = '{SECRET}'"),
    )
    w.expect(
        C.source_read_failed,
        from_source(kind="postgres", url=pg, query=f"SELECT '{SECRET}'::int AS resident_id"),
    )
    w.expect(C.invalid_request, from_source(kind="postgres", url=pg, table="t", query="SELECT 1"))
    w.expect(C.invalid_request, from_source(kind=SECRET, url=pg, table="t"))
    w.expect(C.no_source, stack["source"].post(f"/v1/datasets/{ds_id}/versions"))
    w.expect(
        C.invalid_request,
        stack["source"].post("/v1/datasets", files={"file": ("a.csv", b"resident_id\n1\n")}),
    )
    w.call(
        C.not_found,
        "source",
        "POST",
        "/v1/datasets/ds_nope/versions",
        files={"file": ("a.csv", b"resident_id\n1\n", "text/csv")},
    )

    # --- datasets: column levels ----------------------------------------------------------------
    put = f"/v1/datasets/{ds_id}/columns"
    w.call(C.unknown_column, "source", "PUT", put, json={"columns": {"nope": {"level": "group"}}})
    w.call(C.level_not_allowed, "source", "PUT", put, json={"columns": {"district": {"level": "aggregate"}}})
    w.call(C.level_not_allowed, "source", "PUT", put, json={"columns": {"resident_id": {"level": "group"}}})
    w.call(
        C.level_not_allowed,
        "source",
        "PUT",
        put,
        json={"columns": {"income": {"level": "aggregate", "public_keys": ["1"]}}},
    )
    w.call(C.invalid_bounds, "source", "PUT", put, json={"columns": {"income": {"lower": 10, "upper": 1}}})
    w.call(C.invalid_bounds, "source", "PUT", put, json={"columns": {"income": {"lower": 10}}})
    w.call(C.invalid_bounds, "source", "PUT", put, json={"columns": {"name": {"lower": 0, "upper": 1}}})
    for body in (
        {"columns": {"income": {"level": SECRET}}},
        {"columns": {"income": {"lower": SECRET, "upper": 1}}},
        {"columns": {"income": {"public_keys": SECRET}}},
        {"columns": {"income": {"level": "aggregate", "secret": SECRET}}},
        {"columns": SECRET},
        {},
    ):
        w.call(C.invalid_request, "source", "PUT", put, json=body)
    w.call(
        C.invalid_request,
        "source",
        "PUT",
        put,
        content=b'{"columns": ',
        headers={"content-type": "application/json"},
    )
    w.call(C.not_found, "source", "PUT", "/v1/datasets/ds_nope/columns", json={"columns": {}})
    w.call(C.not_found, "operator", "GET", "/v1/datasets/ds_nope")
    w.call(C.method_not_allowed, "operator", "DELETE", "/v1/datasets")
    levels = {**LEVELS, "district": {"level": "group", "public_keys": districts}}
    r = stack["source"].put(put, json={"columns": levels})
    assert r.status_code == 200, r.text

    # --- scenarios ------------------------------------------------------------------------------
    def apply(datasets: Any = None, **extra: Any) -> httpx.Response:
        body = {"name": "s", "purpose": "p", "datasets": datasets or {ds_id: GRANTED}, **extra}
        return stack["operator"].post("/v1/scenarios", json=body)

    w.expect(C.unknown_column, apply({ds_id: ["district", "nope"]}))
    w.expect(C.column_not_granted, apply({ds_id: ["district", "name"]}))
    w.expect(C.not_found, apply({"ds_nope": ["district"]}))
    w.expect(C.invalid_request, apply({ds_id: []}))
    w.expect(
        C.invalid_request,
        stack["operator"].post("/v1/scenarios", json={"name": "s", "purpose": "p", "datasets": {}}),
    )
    w.expect(C.invalid_request, apply(expires_at="2001-01-01T00:00:00Z"))
    for extra in (
        {"modes": [SECRET]},
        {"epsilon": -1},
        {"delta": 2},
        {"expires_at": SECRET},
        {"public_interest": SECRET},
        {"name": ""},
        {"secret": SECRET},
    ):
        w.expect(C.invalid_request, apply(**extra))
    w.call(C.invalid_request, "operator", "POST", "/v1/scenarios", json={"datasets": {ds_id: [SECRET]}})

    def approved(who: str = "operator", **extra: Any) -> str:
        r = stack[who].post(
            "/v1/scenarios", json={"name": "s", "purpose": "p", "datasets": {ds_id: GRANTED}, **extra}
        )
        assert r.status_code == 201, r.text
        sc_id = r.json()["id"]
        r = stack["admin"].post(f"/v1/scenarios/{sc_id}/approve", json={"reason": "ok"})
        assert r.status_code == 200, r.text
        return str(sc_id)

    r = apply()
    assert r.status_code == 201, r.text
    pending = r.json()["id"]
    w.call(
        C.scenario_not_approved,
        "operator",
        "POST",
        "/v1/jobs",
        json={"scenario_id": pending, "sql": "SELECT COUNT(*) FROM residents"},
    )
    sc = approved()
    w.call(C.scenario_state, "admin", "POST", f"/v1/scenarios/{sc}/approve", json={"reason": "again"})
    w.call(C.scenario_state, "admin", "POST", f"/v1/scenarios/{sc}/reject", json={"reason": "late"})
    w.call(
        C.invalid_request,
        "admin",
        "POST",
        f"/v1/scenarios/{pending}/approve",
        json={"reason": SECRET, "x": SECRET},
    )
    w.call(C.not_found, "admin", "POST", "/v1/scenarios/sc_nope/approve", json={"reason": "ok"})
    w.call(C.not_found, "operator", "GET", "/v1/scenarios/sc_nope")
    w.call(C.not_found, "operator2", "GET", f"/v1/scenarios/{sc}")
    revoked = approved()
    assert stack["admin"].post(f"/v1/scenarios/{revoked}/revoke", json={}).status_code == 200
    w.call(C.scenario_state, "admin", "POST", f"/v1/scenarios/{revoked}/revoke", json={})
    w.call(
        C.scenario_not_approved,
        "operator",
        "POST",
        "/v1/jobs",
        json={"scenario_id": revoked, "sql": "SELECT COUNT(*) FROM residents"},
    )

    # --- jobs -----------------------------------------------------------------------------------
    def submit(sql: str, scenario: str = sc, who: str = "operator", **extra: Any) -> httpx.Response:
        return stack[who].post("/v1/jobs", json={"scenario_id": scenario, "sql": sql, **extra})

    w.expect(C.mode_not_allowed, submit("SELECT COUNT(*) FROM residents", mode="dp"))
    both = approved(modes=["sdc", "dp"])
    # the scenario grants dp (the bundle allows it for general data) but no budget: refused with what is left
    w.expect(C.budget_exceeded, submit("SELECT COUNT(*) FROM residents", both, mode="dp"))
    w.expect(C.epsilon_too_large, submit("SELECT COUNT(*) FROM residents", both, mode="dp", epsilon=50.0))
    err = w.expect(C.gate_rejected, submit(f"SELECT name FROM residents WHERE name = '{SECRET}'"))
    assert err["detail"]["reasons"] and err["detail"]["job_id"]
    w.expect(C.not_found, submit("SELECT COUNT(*) FROM residents", "sc_nope"))
    w.expect(C.not_found, submit("SELECT COUNT(*) FROM residents", sc, who="operator2"))
    for body in (
        {"scenario_id": sc, "sql": "SELECT COUNT(*) FROM residents", "mode": SECRET},
        {"scenario_id": sc, "sql": ""},
        {"scenario_id": sc},
        {"sql": "SELECT 1"},
        {"scenario_id": sc, "sql": "SELECT COUNT(*) FROM residents", "secret": SECRET},
        {"scenario_id": [SECRET], "sql": "SELECT 1"},
    ):
        w.call(C.invalid_request, "operator", "POST", "/v1/jobs", json=body)
    w.call(
        C.invalid_request,
        "operator",
        "POST",
        "/v1/jobs",
        content=b"{not json " + SECRET.encode(),
        headers={"content-type": "application/json"},
    )
    w.call(
        C.invalid_request,
        "operator",
        "POST",
        "/v1/jobs",
        content=SECRET.encode(),
        headers={"content-type": "application/json"},
    )

    # an expired scenario: its term set in the past directly in the catalog
    expired = approved()
    rt = Runtime(stack.settings, migrate=False)
    try:
        with rt.catalog.engine.begin() as conn:
            conn.execute(
                update(Scenario).where(Scenario.id == expired).values(expires_at=Scenario.created_at)
            )
    finally:
        rt.close()
    w.expect(C.scenario_expired, submit("SELECT COUNT(*) FROM residents", expired))

    allowed = "SELECT district, COUNT(*) AS n, AVG(income) AS mean FROM residents GROUP BY district"
    r = submit(allowed)
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "pending_review", job
    job_id = job["id"]
    w.call(C.not_released, "operator", "GET", f"/v1/jobs/{job_id}/result")
    w.call(C.invalid_request, "operator", "GET", f"/v1/jobs/{job_id}/result", params={"format": SECRET})
    w.call(C.not_found, "operator2", "GET", f"/v1/jobs/{job_id}")
    w.call(C.not_found, "operator2", "GET", f"/v1/jobs/{job_id}/result")
    w.call(C.not_found, "operator2", "POST", f"/v1/jobs/{job_id}/cancel")
    for params in ({"wait": -1}, {"wait": 31}, {"wait": SECRET}):
        w.call(C.invalid_request, "operator", "GET", f"/v1/jobs/{job_id}", params=params)
    for bad in ("job_nope", SECRET):
        w.call(C.not_found, "operator", "GET", f"/v1/jobs/{bad}")
        w.call(C.not_found, "operator", "POST", f"/v1/jobs/{bad}/cancel")
        w.call(C.not_found, "operator", "GET", f"/v1/jobs/{bad}/result")
        w.call(C.not_found, "reviewer", "GET", f"/v1/reviews/{bad}")
        w.call(
            C.not_found, "reviewer", "POST", f"/v1/reviews/{bad}", json={"decision": "approve", "reason": "x"}
        )

    # --- reviews --------------------------------------------------------------------------------
    review = f"/v1/reviews/{job_id}"
    for body in (
        {"decision": SECRET, "reason": "x"},
        {"decision": "approve", "reason": ""},
        {"decision": "approve"},
    ):
        w.call(C.invalid_request, "reviewer", "POST", review, json=body)
    w.call(C.invalid_request, "reviewer", "GET", "/v1/reviews", params={"status": SECRET})
    r = stack["reviewer"].post(review, json={"decision": "approve", "reason": "aggregates"})
    assert r.status_code == 200 and r.json()["job_state"] == "released", r.text
    w.call(C.job_state, "reviewer", "POST", review, json={"decision": "reject", "reason": "twice"})
    w.call(C.job_state, "reviewer", "GET", review)
    w.call(C.job_state, "operator", "POST", f"/v1/jobs/{job_id}/cancel")
    assert stack["operator"].get(f"/v1/jobs/{job_id}/result").status_code == 200

    # the two-person rule: a reviewer who is also the submitter may not decide
    own_sc = approved("opreviewer")
    r = submit("SELECT COUNT(*) AS n FROM residents", own_sc, who="opreviewer")
    assert r.status_code == 202, r.text
    own = wait(stack, "opreviewer", r.json()["id"])
    assert own["state"] == "pending_review", own
    w.call(
        C.review_own_job,
        "opreviewer",
        "POST",
        f"/v1/reviews/{own['id']}",
        json={"decision": "approve", "reason": "mine"},
    )
    r = stack["reviewer"].post(f"/v1/reviews/{own['id']}", json={"decision": "reject", "reason": "no"})
    assert r.status_code == 200 and r.json()["job_state"] == "rejected", r.text
    w.call(C.not_released, "opreviewer", "GET", f"/v1/jobs/{own['id']}/result")
    w.call(C.job_state, "opreviewer", "POST", f"/v1/jobs/{own['id']}/cancel")

    # core data needs two different reviewers: the same reviewer cannot approve twice
    r = upload(stack, data, name="core_residents", classification="core")
    assert r.status_code == 201, r.text
    core_id = r.json()["id"]
    r = stack["source"].put(f"/v1/datasets/{core_id}/columns", json={"columns": LEVELS})
    assert r.status_code == 200, r.text
    r = stack["operator"].post(
        "/v1/scenarios", json={"name": "core", "purpose": "p", "datasets": {core_id: GRANTED}}
    )
    core_sc = r.json()["id"]
    assert stack["admin"].post(f"/v1/scenarios/{core_sc}/approve", json={}).status_code == 200
    r = submit("SELECT COUNT(*) AS n FROM core_residents", core_sc)
    assert r.status_code == 202, r.text
    core_job = wait(stack, "operator", r.json()["id"])
    assert core_job["state"] == "pending_review", core_job
    approve = {"decision": "approve", "reason": "one of two"}
    r = stack["reviewer"].post(f"/v1/reviews/{core_job['id']}", json=approve)
    assert r.status_code == 200 and r.json()["job_state"] == "pending_review", r.text
    w.call(C.review_already_approved, "reviewer", "POST", f"/v1/reviews/{core_job['id']}", json=approve)
    # the console's forms carry a CSRF token; its own scripts ask for JSON errors
    w.expect(
        C.csrf_failed,
        stack["anonymous"].post(
            "/console/signin", data={"token": SECRET, "csrf": SECRET}, headers={"Accept": "application/json"}
        ),
    )

    # --- authentication -------------------------------------------------------------------------
    token = stack["operator"].headers["authorization"].split(" ", 1)[1]
    for headers in (
        {},
        {"Authorization": "Bearer sbx_garbage"},
        {"Authorization": f"Bearer {SECRET}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": f"Token {token}"},
        {"Authorization": token},
    ):
        for method, url in (
            ("GET", "/v1/datasets"),
            ("GET", "/v1/me"),
            ("POST", "/v1/jobs"),
            ("GET", "/v1/audit"),
        ):
            w.expect(C.unauthenticated, stack["anonymous"].request(method, url, headers=headers))
    assert stack["anonymous"].get("/v1/me", headers={"Authorization": f"bearer {token}"}).status_code == 200

    # --- authorization: each role on routes it may not use --------------------------------------
    job_body = {"scenario_id": sc, "sql": "SELECT COUNT(*) FROM residents"}
    sc_body = {"name": "s", "purpose": "p", "datasets": {ds_id: ["district"]}}
    csv_file = {"file": ("a.csv", b"resident_id\n1\n", "text/csv")}
    meta = {"metadata": json.dumps({"name": "forbidden", "privacy_unit": "resident_id"})}
    forbidden: list[tuple[str, str, str, dict[str, Any]]] = [
        *(
            (who, "POST", "/v1/datasets", {"files": csv_file, "data": meta})
            for who in ("operator", "reviewer", "admin", "auditor")
        ),
        ("operator", "POST", f"/v1/datasets/{ds_id}/versions", {"files": csv_file}),
        ("operator", "PUT", put, {"json": {"columns": {}}}),
        ("admin", "PUT", put, {"json": {"columns": {}}}),
        ("source", "POST", "/v1/scenarios", {"json": sc_body}),
        ("reviewer", "POST", "/v1/scenarios", {"json": sc_body}),
        ("admin", "POST", "/v1/scenarios", {"json": sc_body}),
        ("source", "GET", "/v1/scenarios", {}),
        ("source", "GET", f"/v1/scenarios/{sc}", {}),
        ("operator", "POST", f"/v1/scenarios/{pending}/approve", {"json": {}}),
        ("reviewer", "POST", f"/v1/scenarios/{pending}/reject", {"json": {}}),
        ("auditor", "POST", f"/v1/scenarios/{sc}/revoke", {"json": {}}),
        *(
            (who, "POST", "/v1/jobs", {"json": job_body})
            for who in ("source", "admin", "reviewer", "auditor")
        ),
        ("source", "GET", "/v1/jobs", {}),
        ("source", "GET", f"/v1/jobs/{job_id}", {}),
        ("reviewer", "POST", f"/v1/jobs/{job_id}/cancel", {}),
        ("reviewer", "GET", f"/v1/jobs/{job_id}/result", {}),
        ("auditor", "GET", f"/v1/jobs/{job_id}/result", {}),
        *((who, "GET", "/v1/reviews", {}) for who in ("operator", "source", "admin", "auditor")),
        ("auditor", "GET", f"/v1/reviews/{job_id}", {}),
        ("operator", "POST", f"/v1/reviews/{job_id}", {"json": {"decision": "approve", "reason": "x"}}),
        ("admin", "POST", f"/v1/reviews/{job_id}", {"json": {"decision": "approve", "reason": "x"}}),
        *((who, "GET", "/v1/audit", {}) for who in ("operator", "source", "admin", "reviewer")),
        *((who, "GET", "/v1/audit/verify", {}) for who in ("operator", "source", "admin", "reviewer")),
    ]
    for who, method, url, kwargs in forbidden:
        w.call(C.forbidden, who, method, url, **kwargs)

    # --- unknown routes and bad query parameters ------------------------------------------------
    for url in ("/v1/nope", "/nope", f"/v1/{SECRET}", "/v1/datasets/x/y/z"):
        w.call(C.not_found, "operator", "GET", url)
    for url, params in (
        ("/v1/datasets", {"limit": 0}),
        ("/v1/datasets", {"limit": 201}),
        ("/v1/datasets", {"limit": SECRET}),
        ("/v1/scenarios", {"limit": -1}),
        ("/v1/jobs", {"limit": SECRET_INCOME}),
    ):
        w.call(C.invalid_request, "operator", "GET", url, params=params)
    for params in ({"cursor": -1}, {"cursor": SECRET}, {"limit": 1001}):
        w.call(C.invalid_request, "auditor", "GET", "/v1/audit", params=params)

    # --- governance (issue 8) ----------------------------------------------------------------------
    free = {"name": "free", "purpose": "精准营销", "datasets": {ds_id: ["district"]}, "public_interest": True}
    w.call(C.commercial_purpose, "operator", "POST", "/v1/scenarios", json=free)
    w.call(C.retention_not_reached, "admin", "POST", "/v1/audit/purge", params={"before": "2026-01-01"})
    w.call(C.forbidden, "auditor", "POST", "/v1/audit/purge", params={"before": "2001-01-01"})
    gone = small_dataset(stack)
    assert stack["admin"].post(f"/v1/datasets/{gone}/destroy", json={"reason": "test"}).status_code == 200
    w.call(C.already_destroyed, "admin", "POST", f"/v1/datasets/{gone}/destroy")
    w.call(C.forbidden, "source", "POST", f"/v1/datasets/{gone}/destroy")

    # the audit log of all this carries no secret either
    events = stack["auditor"].get("/v1/audit", params={"limit": 1000})
    assert events.status_code == 200
    for secret in SECRETS:
        assert secret not in events.text

    walk_products(w, stack, data, districts)  # templates, products and calls (issue 10)

    required = set(ErrorCode) - EXEMPT
    assert required - w.seen == set(), f"not reached: {sorted(required - w.seen)}"


def test_pagination_returns_every_dataset_once(stack: Stack) -> None:
    ids = []
    for i in range(3):
        r = upload(stack, f"resident_id,v\n{i},1\n".encode(), name=f"t{i}")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = stack["operator"].get("/v1/datasets", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [d["id"] for d in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 5
    assert pages == 2
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


# --- bugs found by these tests, each failing before its fix ---------------------------------------


def fresh(stack: Stack, who: str) -> httpx.Client:
    """A client of its own: after a 500 the server drops the connection, which would break the next call."""
    return httpx.Client(base_url=stack.url, headers=stack[who].headers, timeout=60)


def small_dataset(stack: Stack) -> str:
    r = upload(stack, b"resident_id,income\n1,10\n2,20\n", name="small")
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_audit_cursor_past_int64_is_invalid_request(stack: Stack) -> None:
    w = Walk(stack)
    with fresh(stack, "auditor") as client:
        w.expect(ErrorCode.invalid_request, client.get("/v1/audit", params={"cursor": 2**63}))


def test_non_finite_numbers_are_refused(stack: Stack) -> None:
    w = Walk(stack)
    ds_id = small_dataset(stack)
    as_json = {"content-type": "application/json"}
    for bounds in (b'"lower": NaN, "upper": 5', b'"lower": -Infinity, "upper": Infinity'):
        body = b'{"columns": {"income": {"level": "aggregate", ' + bounds + b"}}}"
        r = stack["source"].put(f"/v1/datasets/{ds_id}/columns", content=body, headers=as_json)
        w.expect(ErrorCode.invalid_request, r)
    body = json.dumps({"name": "s", "purpose": "p", "datasets": {ds_id: ["income"]}})
    body = body[:-1] + ', "epsilon": Infinity}'
    w.expect(
        ErrorCode.invalid_request, stack["operator"].post("/v1/scenarios", content=body, headers=as_json)
    )


def test_method_not_allowed_and_bad_multipart_statuses_match_their_codes(stack: Stack) -> None:
    w = Walk(stack)
    for r in (
        stack["operator"].delete("/v1/datasets"),
        stack["operator"].put("/v1/jobs"),
        stack["source"].post("/v1/datasets", content=b"x", headers={"content-type": "multipart/form-data"}),
    ):
        body = r.json()["error"]
        assert r.status_code == status_of(ErrorCode(body["code"])), (r.request.url, r.status_code, body)
        w.seen.add(ErrorCode(body["code"]))


def test_nul_bytes_in_text_are_refused_not_a_500(stack: Stack, request: pytest.FixtureRequest) -> None:
    """Accepting or refusing a NUL character are both fine; a 500 is not."""
    ds_id = small_dataset(stack)
    r = stack["source"].put(
        f"/v1/datasets/{ds_id}/columns", json={"columns": {"income": {"level": "aggregate"}}}
    )
    assert r.status_code == 200, r.text
    sc = stack["operator"].post(
        "/v1/scenarios", json={"name": "s", "purpose": "p", "datasets": {ds_id: ["income"]}}
    )
    assert sc.status_code == 201, sc.text
    assert stack["admin"].post(f"/v1/scenarios/{sc.json()['id']}/approve", json={}).status_code == 200
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "operator",
            "POST",
            "/v1/scenarios",
            {"json": {"name": "s\x00", "purpose": "p", "datasets": {ds_id: ["income"]}}},
        ),
        (
            "operator",
            "POST",
            "/v1/jobs",
            {"json": {"scenario_id": sc.json()["id"], "sql": "SELECT COUNT(*) AS n FROM small\x00"}},
        ),
        ("operator", "GET", "/v1/datasets", {"params": {"cursor": "\x00"}}),
        ("operator", "GET", "/v1/jobs", {"params": {"state": "\x00"}}),
    ]
    for who, method, url, kwargs in calls:
        with fresh(stack, who) as client:
            r = client.request(method, url, **kwargs)
        assert r.status_code < 500, (method, url, r.status_code, r.text)
        if r.status_code >= 400:
            assert set(r.json()["error"]) == {"code", "message", "detail"}
