"""Queries over aggregate queries through the whole path: the plan's one row set with per-row
companions is what run.py and the privacy layer already consume."""

from __future__ import annotations

from support import Stack
from test_path import setup_scenario, wait


def test_union_and_having_jobs_reach_review_with_every_row_thresholded(stack: Stack) -> None:
    _, sc, table = setup_scenario(stack, operator="operator", n=600)
    sql = (
        "SELECT district AS k, COUNT(*) AS n, SUM(income) AS total FROM residents GROUP BY district "
        "HAVING district IS NOT NULL "
        "UNION ALL SELECT sex, COUNT(*), SUM(income) FROM residents GROUP BY sex ORDER BY k"
    )
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql, "mode": "sdc"})
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "pending_review", job
    groups = {d for d in table.column("district").to_pylist() if d is not None}
    groups |= set(table.column("sex").to_pylist())
    assert job["check_report"]["sdc"]["rows"] == len(groups)
    having = "SELECT district, SUM(income) AS s FROM residents GROUP BY district HAVING SUM(income) > 1"
    refused = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": having})
    assert refused.status_code == 422
    reasons = refused.json()["error"]["detail"]["reasons"]
    expected = [("construct_not_allowed", "HAVING on an aggregate")]
    assert [(x["code"], x["construct"]) for x in reasons] == expected
