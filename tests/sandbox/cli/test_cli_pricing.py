"""`sandbox pricing --costs FILE` over the digest's worked examples."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from sandbox.cli import app

LEDGER = Path(__file__).resolve().parents[2] / "policies" / "data" / "digest_ledger.yaml"


def test_json_output_has_the_digest_numbers() -> None:
    result = CliRunner().invoke(app, ["pricing", "--costs", str(LEDGER), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["rmax"] == "11416200"
    api = data["products"][0]
    assert api["unit_cost"] == "1.15" and api["p_cost"] == "1.312863" and api["lambda"] == "2.25"
    assert api["final_cap"].startswith("2.9539")
    assert data["reviews"]["2026"]["adjust"] is True and data["reviews"]["2027"]["adjust"] is False


def test_table_output(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["pricing", "--costs", str(LEDGER)])
    assert result.exit_code == 0, result.output
    assert "2.9539" in result.output and "11,416,200.00" in result.output and "adjust fees" in result.output


def test_caps_above_rmax_exit_1_and_bad_ledger_exit_2(tmp_path: Path) -> None:
    raw = yaml.safe_load(LEDGER.read_text(encoding="utf-8"))
    raw["c_total"] = 100  # Rmax collapses below Σ p q
    over = tmp_path / "over.json"
    over.write_text(json.dumps(raw), encoding="utf-8")
    assert CliRunner().invoke(app, ["pricing", "--costs", str(over), "--json"]).exit_code == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("products: [\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["pricing", "--costs", str(bad)]).exit_code == 2
