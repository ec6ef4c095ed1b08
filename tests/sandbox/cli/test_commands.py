"""The remote CLI as a subprocess against a real server: the whole path, exit codes, caret, --json."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
from click.testing import Result
from support import Stack
from typer.testing import CliRunner

from policies.privacy import sdc
from sandbox.cli import app
from sandbox.client import Client
from sandbox.demo_data import residents

GRANTED = "resident_id,district,sex,age,income"
QUERY = "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income\nFROM residents\nGROUP BY district"
RAW = "SELECT district, phone\nFROM residents GROUP BY district"


def sandbox(stack: Stack | None, who: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m sandbox.cli ARGS` with SANDBOX_URL/SANDBOX_TOKEN of `who` (none when `who` is None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env |= {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    if stack is not None and who is not None:
        env |= {"SANDBOX_URL": stack.url, "SANDBOX_TOKEN": stack.tokens[who]}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def inproc(stack: Stack | None, who: str | None, *args: str) -> Result:
    """The same command in this process (Typer's runner): for the checks beside the path, to save a
    process start each."""
    env = {k: None for k in os.environ if k.startswith("SANDBOX_")}
    env |= {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    if stack is not None and who is not None:
        env |= {"SANDBOX_URL": stack.url, "SANDBOX_TOKEN": stack.tokens[who]}
    return CliRunner(env=env).invoke(app, list(args), prog_name="sandbox")


def test_whole_path_through_the_cli(stack: Stack, tmp_path: Path) -> None:
    table = residents(2000, seed=5, small_count=4)
    data = tmp_path / "residents.csv"
    pacsv.write_csv(table, data)
    out = sandbox(stack, "source", "datasets", "register", str(data), "--name", "residents",
                  "--privacy-unit", "resident_id", "--classification", "general", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    ds = json.loads(out.stdout)
    assert ds["rows"] == 2000 and {c["name"]: c["proposed_level"] for c in ds["columns"]}["phone"] == "hidden"

    districts = sorted(set(table.column("district").to_pylist()))
    levels = tmp_path / "levels.yaml"
    levels.write_text(
        "resident_id: join_key\nsex: group\nincome: {level: aggregate, lower: 0, upper: 5000000}\n"
        f"district: {{level: group, public_keys: [{', '.join(districts)}]}}\n",
        encoding="utf-8",
    )
    out = sandbox(stack, "source", "datasets", "levels", ds["id"], "--file", str(levels))
    assert out.returncode == 0, out.stderr
    assert "join_key" in out.stdout and "aggregate" in out.stdout and "residents" in out.stdout
    listed = inproc(stack, "source", "datasets", "list")
    assert listed.exit_code == 0 and ds["id"] in listed.stdout
    shown = inproc(stack, "source", "datasets", "show", ds["id"], "--json")
    assert json.loads(shown.stdout)["columns"][0]["name"] == "resident_id"

    out = sandbox(stack, "operator", "scenarios", "apply", "--name", "income", "--purpose", "planning",
                  "--dataset", f"{ds['id']}:{GRANTED}", "--mode", "sdc", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    sc = json.loads(out.stdout)
    assert sc["datasets"] == {ds["id"]: GRANTED.split(",")}
    out = sandbox(stack, "admin", "scenarios", "approve", sc["id"], "--reason", "fits")
    assert out.returncode == 0 and "approved" in out.stdout, out.stderr

    refused = sandbox(stack, "operator", "jobs", "submit", "--scenario", sc["id"], "--sql", RAW)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "Refused by the policy gate" in refused.stdout
    caret = "   1 | SELECT district, phone\n     |                  ^~~~~\ncolumn_not_granted"
    assert caret in refused.stdout
    as_json = inproc(stack, "operator", "jobs", "submit", "--scenario", sc["id"], "--sql", RAW, "--json")
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["error"]["code"] == "gate_rejected"
    assert inproc(stack, "operator", "scenarios", "show", sc["id"]).stdout.count("approved") == 1

    query = tmp_path / "query.sql"
    query.write_text(QUERY, encoding="utf-8")
    out = sandbox(stack, "operator", "jobs", "submit", "--scenario", sc["id"], "--file", str(query),
                  "--wait", "--timeout", "60", "--json")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    job = json.loads(out.stdout)
    assert job["state"] == "pending_review", job
    csv = tmp_path / "result.csv"
    early = inproc(stack, "operator", "jobs", "result", job["id"], "--format", "csv", "-o", str(csv))
    assert early.exit_code == 5 and "not_released" in early.stderr and not csv.exists()

    queue = inproc(stack, "reviewer", "reviews", "list")
    assert queue.exit_code == 0 and job["id"] in queue.stdout
    shown = inproc(stack, "reviewer", "reviews", "show", job["id"])
    assert shown.exit_code == 0 and "Candidate output" in shown.stdout and "大鹏新区" in shown.stdout
    approved = sandbox(stack, "reviewer", "reviews", "approve", job["id"], "--reason", "aggregates")
    assert approved.returncode == 0 and "released" in approved.stdout, approved.stderr

    out = sandbox(stack, "operator", "jobs", "result", job["id"], "--format", "csv", "-o", str(csv))
    assert out.returncode == 0 and "matches the release" in out.stderr, out.stderr
    status = inproc(stack, "operator", "jobs", "status", job["id"])
    assert status.exit_code == 0 and "released" in status.stdout
    listed = inproc(stack, "operator", "jobs", "list", "--state", "released", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [job["id"]]
    with Client(stack.url, stack.tokens["operator"]) as c:
        released = c.result_table(job["id"])
    marks = pacsv.ConvertOptions(null_values=["", sdc.CSV_MARKER], strings_can_be_null=True)  # [c]: withheld
    assert released.equals(pacsv.read_csv(csv, convert_options=marks).cast(released.schema))
    assert released.equals(
        pacsv.read_csv(io.BytesIO(csv.read_bytes()), convert_options=marks).cast(released.schema)
    )

    # a second job: changes requested -> rejected (exit 4 on status); a third, cancelled
    second = inproc(
        stack, "operator", "jobs", "submit", "--scenario", sc["id"], "--sql", QUERY, "--wait", "--json"
    )
    second_id = json.loads(second.stdout)["id"]
    changes = inproc(stack, "reviewer", "reviews", "changes", second_id, "--reason", "split by sex")
    assert changes.exit_code == 0 and "rejected" in changes.stdout
    assert inproc(stack, "operator", "jobs", "status", second_id).exit_code == 4
    third = inproc(stack, "operator", "jobs", "submit", "--scenario", sc["id"], "--sql", QUERY, "--json")
    cancelled = inproc(stack, "operator", "jobs", "cancel", json.loads(third.stdout)["id"], "--json")
    assert cancelled.exit_code == 0 and json.loads(cancelled.stdout)["state"] == "cancelled"
    revoked = inproc(stack, "admin", "scenarios", "revoke", sc["id"], "--reason", "done", "--json")
    assert json.loads(revoked.stdout)["state"] == "revoked"

    events = inproc(stack, "auditor", "audit", "events", "--type", "job.released", "--json")
    assert events.exit_code == 0 and [e["object_id"] for e in json.loads(events.stdout)] == [job["id"]]
    verify = inproc(None, None, "audit", "verify", "--server", stack.url, "--token", stack.tokens["auditor"])
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"] is True


def test_exit_codes_for_usage_and_api_errors(stack: Stack, tmp_path: Path) -> None:
    no_server = inproc(None, None, "jobs", "list")
    assert no_server.exit_code == 2 and "SANDBOX_URL" in no_server.stderr
    both = inproc(stack, "operator", "jobs", "submit", "--scenario", "s", "--sql", "SELECT 1", "--file", "x")
    assert both.exit_code == 2
    forbidden = inproc(stack, "operator", "audit", "events", "--json")
    assert forbidden.exit_code == 1 and json.loads(forbidden.stdout)["error"]["code"] == "forbidden"
    missing = inproc(stack, "operator", "jobs", "status", "nope")
    assert missing.exit_code == 1 and "not_found" in missing.stderr
    not_a_mapping = Path(tmp_path / "levels.yaml")
    not_a_mapping.write_text("- just\n- a list\n", encoding="utf-8")
    bad_levels = inproc(stack, "source", "datasets", "levels", "ds_x", "--file", str(not_a_mapping))
    assert bad_levels.exit_code == 2 and "not a mapping" in bad_levels.stderr
    bad_grant = inproc(
        stack, "operator", "scenarios", "apply", "--name", "n", "--purpose", "p", "--dataset", "x"
    )
    assert bad_grant.exit_code == 2 and "ID:col1,col2" in bad_grant.stderr
