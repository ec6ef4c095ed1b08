"""The whole path over real HTTP: register, grant, gate, workspace, SDC, review, release, audit."""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from support import Stack

from sandbox.demo_data import residents

SECRET_NAME = "SECRET-ZHANG-4242"
SECRET_PHONE = "13912345678"


def _csv_bytes(n: int = 3000, small_count: int = 4) -> tuple[bytes, Any]:
    table = residents(n, seed=11, small_count=small_count)
    names = table.column("name").to_pylist()
    phones = table.column("phone").to_pylist()
    names[0] = SECRET_NAME
    phones[0] = SECRET_PHONE
    import pyarrow as pa

    table = table.set_column(table.schema.get_field_index("name"), "name", pa.array(names))
    table = table.set_column(table.schema.get_field_index("phone"), "phone", pa.array(phones))
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue(), table


def register(
    stack: Stack, data: bytes, name: str = "residents", filename: str = "residents.csv", **meta: Any
) -> dict[str, Any]:
    metadata = {"name": name, "classification": "general", "privacy_unit": "resident_id", **meta}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": (filename, data, "text/csv")},
        data={"metadata": json.dumps(metadata, ensure_ascii=False)},
    )
    assert r.status_code == 201, r.text
    return r.json()


def setup_scenario(stack: Stack, operator: str = "operator", n: int = 3000) -> tuple[dict, dict, Any]:
    data, table = _csv_bytes(n)
    ds = register(stack, data)
    districts = sorted(set(table.column("district").to_pylist()))
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns",
        json={
            "columns": {
                "resident_id": {"level": "join_key"},
                "district": {"level": "group", "public_keys": districts},
                "sex": {"level": "group"},
                "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
            }
        },
    )
    assert r.status_code == 200, r.text
    ds = r.json()
    r = stack[operator].post(
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
    assert r.status_code == 200 and r.json()["state"] == "approved"
    return ds, r.json(), table


def wait(stack: Stack, client: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = stack[client].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            return job


def test_whole_path_register_to_download(stack: Stack) -> None:
    ds, sc, table = setup_scenario(stack)
    levels = {c["name"]: c["proposed_level"] for c in ds["columns"]}
    assert levels["name"] == "hidden" and levels["phone"] == "hidden"
    assert ds["rows"] == table.num_rows and len(ds["sha256"]) == 64 and ds["max_rows_per_unit"] == 1

    raw = stack["operator"].post(
        "/v1/jobs", json={"scenario_id": sc["id"], "sql": "SELECT name, phone FROM residents"}
    )
    assert raw.status_code == 422
    body = raw.json()["error"]
    assert body["code"] == "gate_rejected" and body["detail"]["reasons"]
    assert SECRET_NAME not in raw.text and SECRET_PHONE not in raw.text

    sql = (
        "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents "
        "GROUP BY district ORDER BY district"
    )
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql, "mode": "sdc"})
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "pending_review", job
    report = job["check_report"]["sdc"]
    # the small district, and (secondary suppression) the next smallest: a known total minus the
    # released districts would otherwise give the small one
    assert job["check_report"]["k"] == 10 and report["suppressed_rows"] == 2
    assert {c["column"] for c in report["suppressed"]} == {"n", "avg_income"}
    assert {c["rule"] for c in report["suppressed"]} == {"min_units", "secondary"}

    # before release: status and report only, no values, no download
    early = stack["operator"].get(f"/v1/jobs/{job['id']}/result")
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_released"
    assert stack["operator2"].get(f"/v1/jobs/{job['id']}").status_code == 404
    assert stack["operator2"].get(f"/v1/jobs/{job['id']}/result").status_code == 404

    queue = stack["reviewer"].get("/v1/reviews", params={"status": "pending"}).json()["items"]
    assert [j["id"] for j in queue] == [job["id"]]
    cand = stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()
    outputs = ["district", "n", "avg_income"]  # then a flag per output and the row mark
    assert cand["columns"] == [*outputs, *(f"{c}__flag" for c in outputs), "suppressed"]
    small = [row for row in cand["rows"] if row[0] == "大鹏新区"]
    assert small == [["大鹏新区", None, None, None, "min_units", "min_units", True]]

    r = stack["reviewer"].post(
        f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "aggregates"}
    )
    assert r.status_code == 200 and r.json()["job_state"] == "released"

    expected = {
        d: sum(1 for x in table.column("district").to_pylist() if x == d)
        for d in set(table.column("district").to_pylist())
    }
    for fmt in ("csv", "json", "parquet"):
        resp = stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": fmt})
        assert resp.status_code == 200
        assert hashlib.sha256(resp.content).hexdigest() == resp.headers["x-content-sha256"]
        if fmt == "parquet":
            released = pq.read_table(io.BytesIO(resp.content)).to_pylist()
            for row in released:
                if not row["suppressed"]:
                    assert row["n"] == expected[row["district"]] >= 10
        assert SECRET_NAME.encode() not in resp.content
    assert stack["operator2"].get(f"/v1/jobs/{job['id']}/result").status_code == 404
    released_job = stack["operator"].get(f"/v1/jobs/{job['id']}").json()
    assert {a["format"] for a in released_job["artifacts"]} == {"csv", "json", "parquet"}

    ver = stack["auditor"].get("/v1/audit/verify").json()
    assert ver["ok"] is True and ver["events"] > 10
    types = {
        e["event_type"] for e in stack["auditor"].get("/v1/audit", params={"limit": 1000}).json()["items"]
    }
    assert {
        "dataset.registered",
        "dataset.columns_changed",
        "scenario.applied",
        "scenario.approved",
        "job.gate_rejected",
        "job.queued",
        "job.running",
        "job.checking",
        "job.pending_review",
        "review.decided",
        "release.created",
        "job.released",
        "release.downloaded",
    } <= types


def test_reviewer_cannot_review_own_job(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, operator="opreviewer", n=600)
    r = stack["opreviewer"].post(
        "/v1/jobs", json={"scenario_id": sc["id"], "sql": "SELECT COUNT(*) FROM residents"}
    )
    job = wait(stack, "opreviewer", r.json()["id"])
    assert job["state"] == "pending_review"
    own = stack["opreviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "mine"})
    assert own.status_code == 403 and own.json()["error"]["code"] == "review_own_job"
    assert (
        stack["reviewer"]
        .post(f"/v1/reviews/{job['id']}", json={"decision": "reject", "reason": "no"})
        .json()["job_state"]
        == "rejected"
    )
    after = stack["opreviewer"].get(f"/v1/jobs/{job['id']}").json()
    assert after["state"] == "rejected" and after["reason_code"] == "rejected_by_reviewer"


def test_tokens_and_roles_are_checked(stack: Stack) -> None:
    assert stack["anonymous"].get("/v1/datasets").status_code == 401
    bad = stack["anonymous"].get("/v1/datasets", headers={"Authorization": "Bearer sbx_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
    r = stack["operator"].post(
        "/v1/datasets",
        files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")},
        data={"metadata": json.dumps({"name": "x", "privacy_unit": "a"})},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert stack["operator"].get("/v1/audit/verify").status_code == 403
    assert (
        stack["reviewer"]
        .post("/v1/scenarios", json={"name": "x", "purpose": "y", "datasets": {}})
        .status_code
        == 403
    )
    assert stack["operator"].get("/v1/reviews").status_code == 403


def test_failing_conversion_in_workspace_is_sanitized(stack: Stack) -> None:
    ds, sc, _ = setup_scenario(stack, n=600)
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns", json={"columns": {"age": {"level": "compare"}}}
    )
    assert r.status_code == 200
    sql = "SELECT COUNT(*) FROM residents WHERE age > 'SECRET-NOT-A-NUMBER'"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql})
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "failed"
    assert job["reason_code"] == "query_conversion_failed"
    text = json.dumps({k: v for k, v in job.items() if k != "sql"}, ensure_ascii=False)
    assert "SECRET-NOT-A-NUMBER" not in text and "Could not convert" not in text


def test_text_column_compared_with_a_number_is_refused_before_it_can_act_as_an_oracle(stack: Stack) -> None:
    """`district = 5` would convert every district to a number and fail on some values only."""
    ds, sc, _ = setup_scenario(stack, n=300)
    assert {c["name"]: c["type"] for c in ds["columns"]}["district"] == "string"
    r = stack["operator"].post(
        "/v1/jobs", json={"scenario_id": sc["id"], "sql": "SELECT COUNT(*) FROM residents WHERE district = 5"}
    )
    assert r.status_code == 422
    assert [x["code"] for x in r.json()["error"]["detail"]["reasons"]] == ["literal_type_mismatch"]


def test_gb18030_csv_with_chinese_headers_registers(stack: Stack) -> None:
    text = "身份证号,区,收入\n" + "".join(f"44030319900101{i:03d}X,福田区,{1000 + i}\n" for i in range(50))
    ds = register(
        stack, text.encode("gb18030"), name="收入表", filename="income.csv", privacy_unit="身份证号"
    )
    assert [c["name"] for c in ds["columns"]] == ["身份证号", "区", "收入"]
    assert ds["rows"] == 50
    got = stack["operator"].get(f"/v1/datasets/{ds['id']}").json()
    assert got["name"] == "收入表"


def test_malformed_file_is_refused_whole(stack: Stack) -> None:
    data = b"resident_id,district,income\n1,a,10\n2,b,20,SECRET-EXTRA\n"
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("bad.csv", data, "text/csv")},
        data={"metadata": json.dumps({"name": "bad", "privacy_unit": "resident_id"})},
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "malformed_file" and err["detail"]["line"] == 3 and err["detail"]["column"] == 4
    assert "SECRET-EXTRA" not in r.text
    assert stack["source"].get("/v1/datasets").json()["items"] == []
    assert not any(stack.settings.vault_dir.iterdir())
    assert not any(stack.settings.tmp_dir.iterdir())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM residents",
        "SELECT COUNT(*) FROM residents WHERE name = 'x'",
        "SELECT MIN(income), MAX(income) FROM residents",
        "SELECT string_agg(district, ',') FROM residents",
        "COPY residents TO '/tmp/out.csv'",
        "ATTACH '/tmp/x.db' AS x",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT COUNT(*) FROM residents; SELECT 1",
        "SELECT CAST(name AS INTEGER) FROM residents",
    ],
)
def test_dangerous_queries_are_rejected_without_values(stack: Stack, sql: str) -> None:
    _, sc, _ = setup_scenario(stack, n=300)
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "gate_rejected" and err["detail"]["reasons"]
    for reason in err["detail"]["reasons"]:
        assert set(reason) >= {"code", "construct", "position", "hint", "message"}
    assert SECRET_NAME not in r.text and SECRET_PHONE not in r.text


def test_reserved_column_names_are_refused_and_never_listed(stack: Stack) -> None:
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("r.csv", b"resident_id,__unit\n1,2\n", "text/csv")},
        data={"metadata": json.dumps({"name": "reserved", "privacy_unit": "resident_id"})},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "reserved" in r.json()["error"]["message"]
    data, _ = _csv_bytes(200)
    ds = register(stack, data, name="listed")
    assert not [c["name"] for c in ds["columns"] if c["name"].startswith("__")]
