"""/healthz, /readyz and /metrics over real HTTP: readiness names its checks, metrics count real jobs."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from support import Stack
from test_path import setup_scenario, wait


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_readyz_reports_catalog_migrations_and_workspace(stack: Stack) -> None:
    assert stack["anonymous"].get("/healthz").json() == {"status": "ok"}
    r = stack["anonymous"].get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"catalog": "ok", "migrations": "ok", "workspace": "ok"}}


def test_metrics_count_jobs_by_state_gate_rejections_and_latency(stack: Stack) -> None:
    _, sc, _ = setup_scenario(stack, n=400)
    good = "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents GROUP BY district"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": good, "mode": "sdc"})
    assert r.status_code == 202, r.text
    assert wait(stack, "operator", r.json()["id"])["state"] == "pending_review"
    bad = "SELECT resident_id FROM residents"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": bad, "mode": "sdc"})
    assert r.status_code == 422
    codes = {reason["code"] for reason in r.json()["error"]["detail"]["reasons"]}

    r = stack["anonymous"].get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert samples[("sandbox_catalog_up", ())] == 1
    assert samples[("sandbox_jobs", (("state", "pending_review"),))] == 1
    assert samples[("sandbox_jobs", (("state", "gate_rejected"),))] == 1
    for code in codes:
        assert samples[("sandbox_gate_rejections_total", (("code", code),))] == 1
    assert samples[("sandbox_job_latency_seconds_count", (("state", "pending_review"),))] == 1
    assert samples[("sandbox_job_latency_seconds_sum", (("state", "pending_review"),))] > 0
    assert "SECRET" not in r.text
