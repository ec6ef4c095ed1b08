"""Exports verify offline and name the altered line; purges keep the chain verifiable; retention holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox import audit, audit_export
from sandbox.auth import Role, add_user
from sandbox.cli import app
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def _runtime(tmp_path: Path, url: str, **kw: object) -> Runtime:
    return Runtime(Settings(home=tmp_path / "home", database_url=url, **kw))


def _fill(rt: Runtime, n: int, prefix: str = "u") -> None:
    with rt.catalog.session() as s:
        for i in range(n):
            add_user(s, f"{prefix}{i}", [Role.operator], "单位")


def _export(rt: Runtime, since: datetime | None = None, until: datetime | None = None) -> list[str]:
    with rt.catalog.session() as s:
        return list(audit_export.export(s, since, until))


def test_export_of_a_range_verifies_offline(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 3)
    middle = datetime.now(UTC)
    _fill(rt, 4, "v")
    end = datetime.now(UTC)
    _fill(rt, 2, "w")
    lines = _export(rt, middle, end)
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert header["anchor_seq"] == 3 and trailer["events"] == 4 and trailer["head_seq"] == 9
    with rt.catalog.session() as s:
        third = s.get(audit.AuditEvent, 3)
        assert third is not None and header["anchor_hash"] == third.hash
    result = audit_export.verify_lines(lines)
    assert result.ok and result.events == 4 and result.anchor_hash == header["anchor_hash"]
    assert audit_export.verify_lines(_export(rt)).ok  # the whole chain, from genesis
    rt.close()


@pytest.mark.parametrize(
    ("line", "change", "problem"),
    [
        (2, lambda e: {**e, "object_id": "usr_forged"}, "event content does not match its hash"),
        (
            3,
            lambda e: {**e, "detail": e["detail"].replace("单位", "单元")},
            "event content does not match its hash",
        ),
        (3, lambda e: {**e, "prev_hash": "0" * 64}, "link to the previous event does not match"),
        (2, None, "event missing or out of order"),  # line removed
    ],
)
def test_an_altered_line_is_named(tmp_path: Path, catalog_url: str, line: int, change, problem: str) -> None:  # type: ignore[no-untyped-def]
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 4)
    lines = _export(rt)
    rt.close()
    if change is None:
        del lines[line - 1]
    else:
        lines[line - 1] = json.dumps(change(json.loads(lines[line - 1])), ensure_ascii=False) + "\n"
    result = audit_export.verify_lines(lines)
    assert not result.ok and result.line == line and result.problem == problem


def test_truncated_export_fails(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 3)
    lines = _export(rt)
    rt.close()
    assert not audit_export.verify_lines(lines[:-1]).ok
    assert audit_export.verify_lines(lines[:-2] + lines[-1:]).problem is not None


def test_purge_is_refused_inside_the_retention(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 3)
    with pytest.raises(SandboxError) as e, rt.catalog.session() as s:
        audit_export.purge(s, datetime.now(UTC) - timedelta(days=1), 1827, None)
    assert e.value.code is ErrorCode.retention_not_reached
    with rt.catalog.session() as s:
        assert audit.count(s) == 3
    rt.close()


def test_purge_past_the_retention_keeps_the_chain_verifiable(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 5)
    cut = datetime.now(UTC)
    _fill(rt, 2, "late")
    with rt.catalog.session() as s:
        done = audit_export.purge(s, cut, 0, None)
    assert done.events == 5 and done.anchor_seq == 5
    with rt.catalog.session() as s:
        v = audit.verify(s)
        assert v.ok and v.events == 3  # two late users + the audit.purged event
        assert audit.count(s) == 3
    assert audit_export.verify_lines(_export(rt)).ok  # an export after the purge starts at the anchor
    # forging the anchor (pretending more was purged) is caught: no purge event names it
    from sqlalchemy import text

    with rt.catalog.engine.begin() as conn:
        conn.execute(text("UPDATE audit_anchors SET hash = :h"), {"h": "f" * 64})
    with rt.catalog.session() as s:
        assert not audit.verify(s).ok
    rt.close()


def test_cli_export_verify_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SANDBOX_HOME", str(home))
    rt = Runtime(Settings(home=home))
    _fill(rt, 3)
    rt.close()
    runner = CliRunner()
    out = tmp_path / "export.jsonl"
    r = runner.invoke(app, ["audit", "export", "-o", str(out), "--since", "2020-01-01"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["events"] == 3
    r = runner.invoke(app, ["audit", "verify", "--file", str(out)])
    assert r.exit_code == 0 and json.loads(r.output)["ok"] is True
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace('"seq":2', '"seq":2,"x":1').replace("u1", "mallory")
    out.write_text("".join(lines), encoding="utf-8")
    r = runner.invoke(app, ["audit", "verify", "--file", str(out)])
    assert r.exit_code == 1 and json.loads(r.output)["line"] == 3
    r = runner.invoke(app, ["audit", "purge", "--before", datetime.now(UTC).date().isoformat()])
    assert r.exit_code == 1 and "retention" in r.output
    monkeypatch.setenv("SANDBOX_AUDIT_RETENTION_DAYS", "0")
    r = runner.invoke(
        app, ["audit", "purge", "--before", (datetime.now(UTC) + timedelta(seconds=-0.001)).isoformat()]
    )
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
