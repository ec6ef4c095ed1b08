"""Metering over real HTTP: a release counts as usage of its scenario; free scenarios refuse commerce."""

from __future__ import annotations

from support import Stack
from test_path import setup_scenario, wait

COUNT = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district"


def test_release_is_metered_and_totals_are_served(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    job = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": COUNT}).json()
    job = wait(stack, "operator", job["id"])
    assert job["state"] == "pending_review"
    r = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
    assert r.status_code == 200
    result = stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": "json"}).json()
    rows = len(result["rows"])
    assert stack["operator"].get("/v1/metering").status_code == 403
    m = stack["auditor"].get("/v1/metering").json()
    fields = 3  # district, n, suppressed
    assert m["by_form"] == {"dataset": str(rows * fields)}
    assert m["by_scenario"] == {sc["id"]: f"{rows * fields * 0.001:g}"}
    assert m["flagged_subjects"] == [] and m["review_threshold"] == 1_000_000


def test_public_interest_scenario_with_a_commercial_purpose_is_refused(stack: Stack) -> None:
    ds, _, _ = setup_scenario(stack, n=400)
    body = {
        "name": "free data",
        "purpose": "为商户提供精准营销",
        "datasets": {ds["id"]: ["district"]},
        "public_interest": True,
    }
    r = stack["operator"].post("/v1/scenarios", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "commercial_purpose"
    assert "精准营销" in r.json()["error"]["message"]
    # the same purpose is fine when the scenario is paid (not public interest)
    assert stack["operator"].post("/v1/scenarios", json={**body, "public_interest": False}).status_code == 201
    ok = {**body, "purpose": "flood warnings for residents"}
    assert stack["operator"].post("/v1/scenarios", json=ok).status_code == 201
