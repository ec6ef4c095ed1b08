"""Public disclosure (no sign-in) and the annual report, over real HTTP and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import Stack
from test_path import setup_scenario, wait
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.settings import Settings

COUNT = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district"
LEDGER = Path(__file__).resolve().parents[1] / "policies" / "data" / "digest_ledger.yaml"


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home", database_url=catalog_url, workspace_timeout_s=60, pricing_ledger_path=LEDGER
    )


def test_disclosure_lists_authorized_scenarios_and_caps_without_sign_in(stack: Stack) -> None:
    ds, sc, _ = setup_scenario(stack, n=300)
    pending = (
        stack["operator2"]
        .post("/v1/scenarios", json={"name": "later", "purpose": "p", "datasets": {ds["id"]: ["district"]}})
        .json()
    )
    r = stack["anonymous"].get("/v1/public/disclosure")
    assert r.status_code == 200
    d = r.json()
    assert [s["id"] for s in d["scenarios"]] == [sc["id"]]  # the pending one is not authorized yet
    shown = d["scenarios"][0]
    assert shown["grantee_unit"] == "Acme" and shown["content"] == "income by district"
    assert shown["purpose"] == "planning" and shown["term_until"].startswith(sc["expires_at"][:10])
    assert shown["scope"] == [
        {
            "dataset_id": ds["id"],
            "dataset": "residents",
            "source_unit": "统计局",
            "columns": sc["datasets"][ds["id"]],
        }
    ]
    assert d["products"] == []
    assert d["rmax"] == "11416200"
    api = next(c for c in d["fee_caps"] if c["product"] == "api_a")
    assert api["final_cap"].startswith("2.9539")
    page = stack["anonymous"].get("/disclosure")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Acme" in page.text and "income by district" in page.text and "2.9539" in page.text
    assert pending["id"] not in page.text
    # a revoked scenario disappears from the disclosure
    stack["admin"].post(f"/v1/scenarios/{sc['id']}/revoke", json={})
    assert stack["anonymous"].get("/v1/public/disclosure").json()["scenarios"] == []


def test_annual_report(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _, sc, _ = setup_scenario(stack, n=300)
    job = (
        stack["operator"]
        .post(
            "/v1/jobs",
            json={"scenario_id": sc["id"], "sql": COUNT},
        )
        .json()
    )
    job = wait(stack, "operator", job["id"])
    stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
    stack["anonymous"].get("/v1/me", headers={"Authorization": "Bearer sbx_wrong"})
    stack["operator"].get("/v1/audit")  # forbidden
    stack["admin"].post(f"/v1/users/{stack.user_ids['operator2']}/revoke", json={"reason": "test"})
    monkeypatch.setenv("SANDBOX_HOME", str(stack.settings.home))
    monkeypatch.setenv("SANDBOX_DATABASE_URL", stack.settings.catalog_url())
    year = datetime.now(UTC).year
    runner = CliRunner()
    r = runner.invoke(app, ["report", "annual", str(year), "--json", "--costs", str(LEDGER)])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["releases"] == {"total": 1, "by_scenario": {sc["id"]: 1}}
    assert set(rep["usage"]["by_form"]) == {"dataset"}
    assert rep["security"]["failed_authentications"] == 1 and rep["security"]["forbidden_attempts"] == 1
    assert rep["security"]["user.revoked"] == 1
    assert rep["revenue"]["rmax"] == "11416200" and rep["revenue"]["caps"]["api_a"].startswith("2.9539")
    md = runner.invoke(app, ["report", "annual", str(year)])
    assert md.exit_code == 0 and f"# Annual operation report {year}" in md.output
    assert "| failed_authentications | 1 |" in md.output and "No cost/revenue ledger given." in md.output
