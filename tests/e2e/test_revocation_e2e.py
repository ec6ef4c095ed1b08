"""Revocation and exit over real HTTP: the next request is refused, a running job is stopped, the
operator's workspaces and candidates are destroyed and the destruction record is in the chain."""

from __future__ import annotations

import io
import time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from support import Stack
from test_path import SECRET_NAME, register, setup_scenario, wait

COUNT = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district"
# Two tables of 20 units x 3000 rows: joined on the unit they make 180M pairs, seconds of work.
SLOW = (
    "SELECT v.clinic, COUNT(*) AS n FROM visits_a v JOIN visits_b w ON v.resident_id = w.resident_id "
    "GROUP BY v.clinic"
)


def slow_scenario(stack: Stack) -> dict[str, Any]:
    units, per_unit = 20, 3000
    ids = [f"R{u:04d}" for u in range(units) for _ in range(per_unit)]
    clinics = [("社康中心", "人民医院", "中医院")[i % 3] for i in range(len(ids))]
    buf = io.BytesIO()
    pacsv.write_csv(pa.table({"resident_id": ids, "clinic": clinics}), buf)
    grants = {}
    for name in ("visits_a", "visits_b"):
        ds = register(stack, buf.getvalue(), name=name, filename="visits.csv")
        r = stack["source"].put(
            f"/v1/datasets/{ds['id']}/columns",
            json={"columns": {"resident_id": {"level": "join_key"}, "clinic": {"level": "group"}}},
        )
        assert r.status_code == 200, r.text
        grants[ds["id"]] = ["resident_id", "clinic"]
    sc = (
        stack["operator"]
        .post("/v1/scenarios", json={"name": "visits", "purpose": "health planning", "datasets": grants})
        .json()
    )
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={}).status_code == 200
    return sc


def start_slow(stack: Stack, sc: dict[str, Any]) -> str:
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": SLOW})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while stack["operator"].get(f"/v1/jobs/{job_id}").json()["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job_id


def test_revoked_operator_is_refused_and_its_running_job_stopped(stack: Stack) -> None:
    sc = slow_scenario(stack)
    job_id = start_slow(stack, sc)
    assert stack["auditor"].get(f"/v1/jobs/{job_id}").json()["state"] == "running"
    assert stack["operator"].post(f"/v1/users/{stack.user_ids['operator']}/revoke").status_code == 403
    started = time.monotonic()
    r = stack["admin"].post(f"/v1/users/{stack.user_ids['operator']}/revoke", json={"reason": "violation"})
    assert r.status_code == 200, r.text
    assert r.json()["scenarios_revoked"] == [sc["id"]] and r.json()["jobs_stopped"] == [job_id]
    # the next request with the same token is refused
    refused = stack["operator"].get("/v1/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    job = stack["auditor"].get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["reason_code"] == "scenario_revoked"
    # the workspace was killed: its job directory is gone soon, long before the query could finish
    work = stack.settings.jobs_dir / job_id
    while work.exists() and time.monotonic() - started < 10:
        time.sleep(0.1)
    assert not work.exists()
    events = stack["auditor"].get("/v1/audit", params={"object_id": job_id}).json()["items"]
    assert [e["event_type"] for e in events][-2:] == ["job.running", "job.cancelled"]
    assert stack["auditor"].get("/v1/audit/verify").json()["ok"] is True


def test_revoking_a_scenario_stops_its_running_job(stack: Stack) -> None:
    sc = slow_scenario(stack)
    job_id = start_slow(stack, sc)
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/revoke", json={"reason": "x"}).status_code == 200
    job = stack["operator"].get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "cancelled"
    deadline = time.monotonic() + 10
    while (stack.settings.jobs_dir / job_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (stack.settings.jobs_dir / job_id).exists()
    # the operator itself stays signed in: only the scenario was revoked
    assert stack["operator"].get("/v1/me").status_code == 200


def test_exit_destroys_workspaces_and_candidates_and_keeps_releases(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    released = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    released = wait(stack, "operator", released["id"])
    stack["reviewer"].post(f"/v1/reviews/{released['id']}", json={"decision": "approve", "reason": "ok"})
    pending = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    pending = wait(stack, "operator", pending["id"])
    assert pending["state"] == "pending_review"
    candidate = stack.settings.jobs_dir / pending["id"] / "candidate.parquet"
    assert candidate.is_file()
    assert stack["admin"].post("/v1/operators/nobody/exit").status_code == 404
    r = stack["admin"].post(f"/v1/operators/{stack.user_ids['operator']}/exit", json={"reason": "term ended"})
    assert r.status_code == 200, r.text
    record = r.json()
    assert not candidate.exists() and not (stack.settings.jobs_dir / pending["id"]).exists()
    assert pending["id"] in record["jobs_stopped"] and sc["id"] in record["scenarios_revoked"]
    files = {f["path"]: f for f in record["files_destroyed"]}
    assert f"jobs/{pending['id']}/candidate.parquet" in files
    assert len(files[f"jobs/{pending['id']}/candidate.parquet"]["sha256"]) == 64
    # released artifacts and their records stay
    assert (stack.settings.releases_dir / released["id"] / "result.csv").is_file()
    assert stack["operator"].get("/v1/me").status_code == 401
    chain = stack["auditor"].get("/v1/audit", params={"event_type": "operator.exited"}).json()["items"]
    assert len(chain) == 1 and chain[0]["detail"]["files_destroyed"] == record["files_destroyed"]
    assert stack["auditor"].get("/v1/audit/verify").json()["ok"] is True


def test_destroyed_dataset_leaves_no_vault_file_or_key(stack: Stack) -> None:
    from sqlalchemy import select

    from sandbox.catalog import Catalog
    from sandbox.catalog.models import DatasetKey

    ds, sc, _ = setup_scenario(stack, n=400)
    job = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    assert wait(stack, "operator", job["id"])["state"] == "pending_review"  # encrypted file read fine
    files = [p for p in (stack.settings.vault_dir / ds["id"]).rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"data.parquet", "units.parquet"}
    for p in files:  # encrypted at rest: neither the seeded name nor a column name is on disk
        assert SECRET_NAME.encode() not in p.read_bytes() and b"resident_id" not in p.read_bytes()
    catalog = Catalog(stack.settings.catalog_url())
    try:
        with catalog.session() as s:
            assert [k.version for k in s.execute(select(DatasetKey)).scalars()] == [1]
        assert stack["source"].post(f"/v1/datasets/{ds['id']}/destroy").status_code == 403
        r = stack["admin"].post(f"/v1/datasets/{ds['id']}/destroy", json={"reason": "exit"})
        assert r.status_code == 200, r.text
        record = r.json()
        with catalog.session() as s:
            assert list(s.execute(select(DatasetKey)).scalars()) == []
    finally:
        catalog.dispose()
    assert not (stack.settings.vault_dir / ds["id"]).exists()
    assert {f["path"] for f in record["files_destroyed"]} == {
        f"vault/{ds['id']}/v1/data.parquet",
        f"vault/{ds['id']}/v1/units.parquet",
    }
    assert record["scenarios_revoked"] == [sc["id"]] and job["id"] in record["jobs_stopped"]
    assert not (stack.settings.jobs_dir / job["id"]).exists()
    chain = stack["auditor"].get("/v1/audit", params={"event_type": "dataset.destroyed"}).json()["items"]
    assert len(chain) == 1 and chain[0]["detail"]["keys_destroyed"] == [f"dataset_version:{ds['id']}/1"]
    assert stack["auditor"].get("/v1/audit/verify").json()["ok"] is True
    again = stack["admin"].post(f"/v1/datasets/{ds['id']}/destroy")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_destroyed"
