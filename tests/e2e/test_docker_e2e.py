"""One job over real HTTP with every workspace in a container: ready, run, review, release, download."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from support import Stack
from test_path import setup_scenario, wait

from sandbox.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str, docker_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=catalog_url,
        workspace_timeout_s=60,
        workspace_backend="docker",
        docker_url=docker_url,
    )


def test_a_job_runs_in_a_container_from_submission_to_download(stack: Stack) -> None:
    ready = stack["anonymous"].get("/readyz").json()
    assert ready["checks"]["workspace"] == "ok", ready
    _, sc, table = setup_scenario(stack, n=400)
    sql = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql, "mode": "sdc"})
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "pending_review", job
    r = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
    assert r.status_code == 200 and r.json()["job_state"] == "released"

    r = stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": "csv"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    released = {row["district"]: row["n"] for row in rows}
    districts = table.column("district").to_pylist()
    for row in rows:  # small cells are withheld (`[c]`, flagged with their rule); the rest are exact
        if row["n__flag"]:
            assert row["n"] == "[c]"
        else:
            assert int(row["n"]) == districts.count(row["district"])
    assert sum(1 for n in released.values() if n != "[c]") >= 2
