"""The audit log over real HTTP: access events in the chain, and an export a third party verifies offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import Stack
from test_path import setup_scenario
from typer.testing import CliRunner

from sandbox.cli import app


def events(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    return stack["auditor"].get("/v1/audit", params={"limit": 1000, **params}).json()["items"]


def test_refusals_and_protected_reads_are_events_with_request_ids(stack: Stack) -> None:
    ds, sc, _ = setup_scenario(stack, n=300)
    r = stack["anonymous"].get("/v1/audit")
    assert r.status_code == 401
    denied = events(stack, event_type="access.denied")
    assert denied[-1]["detail"]["outcome"] == "unauthenticated" and denied[-1]["actor_id"] is None
    assert denied[-1]["detail"]["request_id"] == r.headers["x-request-id"]
    r = stack["operator"].get("/v1/audit")
    assert r.status_code == 403
    last = events(stack, event_type="access.denied")[-1]
    assert last["actor_id"] == stack.user_ids["operator"] and last["detail"]["outcome"] == "forbidden"
    assert last["actor_roles"] == "operator" and last["detail"]["route"] == "/v1/audit"

    r = stack["source"].get(f"/v1/datasets/{ds['id']}")
    assert r.status_code == 200
    read = events(stack, event_type="access.read", object_id=ds["id"])
    assert len(read) == 1 and read[0]["actor_id"] == stack.user_ids["source"]
    assert read[0]["detail"]["request_id"] == r.headers["x-request-id"] and read[0]["detail"]["status"] == 200
    # a state change carries the id of the request that made it
    applied = events(stack, event_type="scenario.applied", object_id=sc["id"])
    assert len(applied[0]["detail"]["request_id"]) == 16
    # the auditor's own reads are events too, and the long poll is not
    assert any(e["detail"]["route"] == "/v1/audit" for e in events(stack, event_type="access.read"))
    assert not any(
        "/v1/jobs" in e["detail"].get("route", "") for e in events(stack, event_type="access.read")
    )
    assert stack["auditor"].get("/v1/audit/verify").json()["ok"] is True


def test_export_verifies_offline_and_fails_on_an_altered_line(stack: Stack, tmp_path: Path) -> None:
    setup_scenario(stack, n=300)
    assert stack["operator"].get("/v1/audit/export").status_code == 403
    r = stack["auditor"].get("/v1/audit/export", params={"since": "2020-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    path = tmp_path / "export.jsonl"
    path.write_bytes(r.content)
    lines = r.text.splitlines(keepends=True)
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert header["anchor_seq"] == 0 and trailer["events"] == len(lines) - 2 > 5
    runner = CliRunner()  # offline: no SANDBOX_HOME, no catalog, only the file
    ok = runner.invoke(app, ["audit", "verify", "--file", str(path)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {
        "ok": True, "events": trailer["events"], "line": None, "seq": None, "problem": None,
        "anchor_hash": header["anchor_hash"], "last_hash": trailer["last_hash"],
    }  # fmt: skip
    altered = json.loads(lines[4])
    altered["actor_roles"] = "admin"
    lines[4] = json.dumps(altered, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    bad = runner.invoke(app, ["audit", "verify", "--file", str(path)])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["line"] == 5 and json.loads(bad.output)["seq"] == altered["seq"]
    # the export itself was recorded, with its anchors
    exported = events(stack, event_type="audit.exported")
    assert exported[-1]["detail"]["last_hash"] == trailer["last_hash"]
