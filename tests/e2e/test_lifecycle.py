"""Scenario revocation, job cancellation and dataset versions, over real HTTP."""

from __future__ import annotations

import io
import json

import pyarrow.csv as pacsv
from support import Stack
from test_path import setup_scenario, wait

from sandbox.demo_data import residents

COUNT = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district"


def test_revoked_scenario_refuses_new_jobs(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    r = stack["admin"].post(f"/v1/scenarios/{sc['id']}/revoke", json={"reason": "operator exit"})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT})
    assert r.status_code == 409 and r.json()["error"]["code"] == "scenario_not_approved"
    again = stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "scenario_state"


def test_operator_cancels_a_job_awaiting_review(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    job = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    job = wait(stack, "operator", job["id"])
    assert job["state"] == "pending_review"
    assert stack["operator2"].post(f"/v1/jobs/{job['id']}/cancel").status_code == 404
    r = stack["operator"].post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert r.json()["reason_code"] == "cancelled_by_operator"
    review = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "x"})
    assert review.status_code == 409 and review.json()["error"]["code"] == "job_state"
    assert stack["reviewer"].get("/v1/reviews", params={"status": "pending"}).json()["items"] == []


def test_new_version_is_used_by_later_jobs_and_a_changed_schema_is_held(stack: Stack) -> None:
    ds, sc, first = setup_scenario(stack, n=400)
    bigger = residents(900, seed=5)
    buf = io.BytesIO()
    pacsv.write_csv(bigger, buf)
    r = stack["source"].post(
        f"/v1/datasets/{ds['id']}/versions", files={"file": ("v2.csv", buf.getvalue(), "text/csv")}
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["rows"] == 900 and v2["sha256"] != ds["sha256"]
    assert {c["name"]: c["level"] for c in v2["columns"]} == {c["name"]: c["level"] for c in ds["columns"]}

    job = stack["operator"].post(
        "/v1/jobs", json={"scenario_id": sc["id"], "sql": "SELECT COUNT(*) AS n FROM residents"}
    )
    job = wait(stack, "operator", job.json()["id"])
    assert job["check_report"]["dataset_versions"] == {ds["id"]: 2}
    stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "count"})
    got = json.loads(stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": "json"}).content)
    assert got["rows"] == [{"n": 900, "n__flag": None, "suppressed": False}]

    # columns removed: the version is held (see tests/e2e/test_sources.py); jobs keep version 2
    fewer = b"resident_id,district\n1,a\n"
    r = stack["source"].post(
        f"/v1/datasets/{ds['id']}/versions", files={"file": ("v3.csv", fewer, "text/csv")}
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["held_version"]["version"] == 3
    assert sorted(r.json()["held_version"]["removed"]) == ["age", "income", "name", "phone", "sex"]
    # without the privacy unit a version is refused outright
    no_unit = b"district\na\n"
    r = stack["source"].post(
        f"/v1/datasets/{ds['id']}/versions", files={"file": ("v4.csv", no_unit, "text/csv")}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_column"
    assert stack["source"].get(f"/v1/datasets/{ds['id']}").json()["version"] == 2
    assert first.num_rows == 400


def test_audit_records_every_state_change_of_a_job(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    job = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    job = wait(stack, "operator", job["id"])
    stack["reviewer"].post(
        f"/v1/reviews/{job['id']}", json={"decision": "changes_requested", "reason": "add sex"}
    )
    events = stack["auditor"].get("/v1/audit", params={"object_id": job["id"], "limit": 100}).json()["items"]
    assert [e["event_type"] for e in events] == [
        "job.queued",
        "job.running",
        "job.checking",
        "job.pending_review",
        "review.decided",
        "job.rejected",
    ]
    assert events[-1]["detail"]["reason_code"] == "changes_requested"
    assert all(e["prev_hash"] != e["hash"] for e in events)


def test_renamed_public_group_key_stays_visible_in_a_suppressed_row(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    sql = "SELECT district AS d, COUNT(*) AS n FROM residents GROUP BY district ORDER BY d"
    job = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql}).json()
    job = wait(stack, "operator", job["id"])
    assert job["state"] == "pending_review", job
    rows = stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()["rows"]
    assert ["大鹏新区", None, None, "min_units", True] in rows  # d, n, d__flag, n__flag
