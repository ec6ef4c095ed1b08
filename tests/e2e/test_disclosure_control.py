"""SDC over real HTTP: the output PII scan stops a mislabelled column; the differencing guard."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from support import Stack, register_table

from sandbox.demo_data import residents

HOTLINES = ("13800138000", "13900139000", "13700137000")
AGENT = "11010519491231002X"  # a valid resident ID, typed into a column the source unit calls public


def _wait(stack: Stack, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job = stack["operator"].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            return job


def _setup(stack: Stack, extra: dict[str, dict[str, Any]], granted: list[str], table: pa.Table) -> str:
    ds = register_table(stack, table)
    districts = sorted(set(table.column("district").to_pylist()))
    columns = {
        "resident_id": {"level": "join_key"},
        "district": {"level": "group", "public_keys": districts},
        "income": {"level": "aggregate", "lower": 0, "upper": 10_000_000},
        **extra,
    }
    r = stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": columns})
    assert r.status_code == 200, r.text
    r = stack["operator"].post(
        "/v1/scenarios",
        json={"name": "sdc", "purpose": "tests", "datasets": {ds["id"]: granted}, "modes": ["sdc"]},
    )
    assert r.status_code == 201, r.text
    sc = r.json()["id"]
    assert stack["admin"].post(f"/v1/scenarios/{sc}/approve", json={"reason": "ok"}).status_code == 200
    return sc


def test_a_mislabelled_public_phone_or_id_column_is_stopped_by_the_output_scan(stack: Stack) -> None:
    table = residents(600, seed=3)
    n = table.num_rows
    table = table.append_column("hotline", pa.array([HOTLINES[i % 3] for i in range(n)]))
    table = table.append_column("agent", pa.array([AGENT if i % 2 else "无" for i in range(n)]))
    extra = {"hotline": {"level": "public"}, "agent": {"level": "public"}}
    sc = _setup(stack, extra, ["resident_id", "district", "income", "hotline", "agent"], table)
    for sql, column, entity in (
        ("SELECT hotline, COUNT(*) AS n FROM residents GROUP BY hotline", "hotline", "CN_MOBILE"),
        ("SELECT agent AS who, COUNT(*) AS n FROM residents GROUP BY agent", "who", "CN_RESIDENT_ID"),
    ):
        r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc, "sql": sql, "mode": "sdc"})
        assert r.status_code == 202, r.text
        job = _wait(stack, r.json()["id"])
        assert job["state"] == "failed" and job["reason_code"] == "output_pii", job
        assert {"column": column, "entity": entity} in [
            {"column": h["column"], "entity": h["entity"]} for h in job["check_report"]["output_pii"]
        ]
        text = json.dumps(job)
        assert not any(h in text for h in HOTLINES) and AGENT not in text
        # nothing reaches the reviewer
        queue = stack["reviewer"].get("/v1/reviews", params={"status": "pending"}).json()["items"]
        assert job["id"] not in [j["id"] for j in queue]
        assert stack["reviewer"].get(f"/v1/reviews/{job['id']}").status_code in (404, 409)
    # a dry run shows the same stop on synthetic data (fake mobiles: the column's detected entity)
    r = stack["operator"].post(
        "/v1/jobs/dry-run",
        json={"scenario_id": sc, "sql": "SELECT hotline, COUNT(*) AS n FROM residents GROUP BY hotline"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["check_report"]["reason_code"] == "output_pii"
    assert not any(h in r.text for h in HOTLINES)


def test_a_group_and_the_same_group_with_one_extra_filter(stack: Stack) -> None:
    table = residents(900, seed=11)
    sc = _setup(stack, {"age": {"level": "compare"}}, ["resident_id", "district", "income", "age"], table)
    first = stack["operator"].post(
        "/v1/jobs",
        json={"scenario_id": sc, "sql": "SELECT district, COUNT(*) AS n FROM residents GROUP BY district"},
    )
    job = _wait(stack, first.json()["id"])
    assert job["state"] == "pending_review"
    r = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
    assert r.status_code == 200
    # the same groups, minus the residents of one exact age: a few units per district
    ages = table.column("age").to_pylist()
    rare = min(set(ages), key=ages.count)
    sql = f"SELECT district, COUNT(*) AS n FROM residents WHERE age <> {rare} GROUP BY district"
    second = _wait(
        stack, stack["operator"].post("/v1/jobs", json={"scenario_id": sc, "sql": sql}).json()["id"]
    )
    assert second["state"] == "pending_review", second
    rules = {c["rule"] for c in second["check_report"]["sdc"]["suppressed"]}
    assert "differencing" in rules
    by_rule = second["check_report"]["sdc"]["by_rule"]
    assert by_rule["differencing"] >= 1 and not re.search(r"\d{17}[\dX]", json.dumps(second))


def test_quality_report_for_the_source_unit_and_admins_only(stack: Stack) -> None:
    table = residents(300, seed=5)
    rows = table.to_pylist()
    rows[0]["resident_id"] = rows[0]["resident_id"][:17] + ("0" if rows[0]["resident_id"][17] != "0" else "1")
    rows[1]["phone"] = None
    rows.append(dict(rows[2]))  # a duplicate row
    table = pa.Table.from_pylist(rows)
    sc = _setup(stack, {}, ["resident_id", "district", "income"], table)
    ds_id = next(iter(stack["operator"].get(f"/v1/scenarios/{sc}").json()["datasets"]))
    r = stack["source"].get(f"/v1/datasets/{ds_id}/quality")
    assert r.status_code == 200, r.text
    report = r.json()["versions"][0]["quality"]
    assert report["rows"] == 301 and report["duplicate_rows"] == 1
    rid = report["columns"]["resident_id"]
    assert rid["entity"] == "CN_RESIDENT_ID" and rid["valid_rate"] == round(300 / 301, 4)  # one broken
    assert report["columns"]["phone"]["null_rate"] == round(1 / 301, 4)
    assert stack["admin"].get(f"/v1/datasets/{ds_id}/quality").json() == r.json()
    assert stack["operator"].get(f"/v1/datasets/{ds_id}/quality").status_code == 403
    assert rows[0]["resident_id"] not in r.text and rows[2]["phone"] not in r.text


def test_desensitized_columns_are_generalized_in_the_view(stack: Stack) -> None:
    table = residents(600, seed=9)
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    metadata = {"name": "residents", "classification": "general", "privacy_unit": "resident_id"}
    ds = (
        stack["source"]
        .post(
            "/v1/datasets",
            files={"file": ("residents.csv", buf.getvalue(), "text/csv")},
            data={"metadata": json.dumps(metadata)},
        )
        .json()
    )
    columns = {"resident_id": {"level": "join_key"}, "age": {"level": "group"}}
    assert (
        stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": columns}).status_code == 200
    )
    body = {"name": "bands", "purpose": "ages", "datasets": {ds["id"]: ["resident_id", "age"]}}
    wrong = stack["operator"].post(
        "/v1/scenarios", json={**body, "desensitize": {ds["id"]: {"age": {"method": "mask"}}}}
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "level_not_allowed"
    r = stack["operator"].post(
        "/v1/scenarios", json={**body, "desensitize": {ds["id"]: {"age": {"method": "band", "width": 10}}}}
    )
    assert r.status_code == 201, r.text
    sc = r.json()
    assert sc["desensitize"] == {ds["id"]: {"age": {"method": "band", "width": 10.0}}}
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"}).status_code == 200
    sql = "SELECT age, COUNT(*) AS n FROM residents GROUP BY age ORDER BY age"
    job = _wait(
        stack, stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql}).json()["id"]
    )
    assert job["state"] == "pending_review", job
    cand = stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()
    ages = [row[0] for row in cand["rows"] if row[0] is not None]
    assert ages and all(a % 10 == 0 for a in ages)  # bands, never an exact age
    dry = stack["operator"].post("/v1/jobs/dry-run", json={"scenario_id": sc["id"], "sql": sql}).json()
    assert all(row[0] is None or row[0] % 10 == 0 for row in dry["rows"])


def test_a_join_with_a_reference_table_runs_through_the_guard(stack: Stack) -> None:
    """A reference table (every column public) has no unit set companion: the guard skips it."""
    table = residents(400, seed=4)
    sc_people = _setup(stack, {"district": {"level": "public"}}, ["resident_id", "district", "income"], table)
    ds_people = next(iter(stack["operator"].get(f"/v1/scenarios/{sc_people}").json()["datasets"]))
    districts = sorted(set(table.column("district").to_pylist()))
    ref = pa.table({"code": [f"D{i}" for i in range(len(districts))], "district": districts})
    buf = io.BytesIO()
    pacsv.write_csv(ref, buf)
    meta = {"name": "districts", "classification": "general", "privacy_unit": "code"}
    ds_ref = (
        stack["source"]
        .post(
            "/v1/datasets",
            files={"file": ("districts.csv", buf.getvalue(), "text/csv")},
            data={"metadata": json.dumps(meta)},
        )
        .json()["id"]
    )
    cols = {"code": {"level": "join_key"}, "district": {"level": "public"}}
    assert stack["source"].put(f"/v1/datasets/{ds_ref}/columns", json={"columns": cols}).status_code == 200
    granted = {ds_people: ["resident_id", "district", "income"], ds_ref: ["district"]}
    r = stack["operator"].post("/v1/scenarios", json={"name": "j", "purpose": "j", "datasets": granted})
    sc = r.json()["id"]
    assert stack["admin"].post(f"/v1/scenarios/{sc}/approve", json={"reason": "ok"}).status_code == 200
    sql = (
        "SELECT d.district, COUNT(*) AS n FROM residents r JOIN districts d ON r.district = d.district "
        "GROUP BY d.district"
    )
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc, "sql": sql})
    assert r.status_code == 202, r.text
    job = _wait(stack, r.json()["id"])
    assert job["state"] == "pending_review", job
