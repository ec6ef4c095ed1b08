"""Docs beside code: every error code, audit event type, setting and command is documented."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sandbox.audit import EVENT_TYPES
from sandbox.cli import app
from sandbox.errors import ErrorCode, status_of
from sandbox.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_error_code_is_documented_with_its_status() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for code in ErrorCode:
        assert f"| `{code.value}` | {status_of(code)} |" in text, code


def test_every_audit_event_type_is_documented() -> None:
    text = (DOCS / "audit.md").read_text(encoding="utf-8")
    for event_type in EVENT_TYPES:
        assert f"`{event_type}`" in text, event_type


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`SANDBOX_{name.upper()}`" in text, name


def test_every_job_state_is_in_the_diagram() -> None:
    from sandbox.jobs import JobState

    text = (DOCS / "jobs.md").read_text(encoding="utf-8")
    for state in JobState:
        assert state.value in text, state


def test_cli_reference_is_generated_from_help() -> None:
    from sandbox.cli import reference

    assert (DOCS / "cli.md").read_text(encoding="utf-8") == reference(), "run `make docs`"


def test_every_cli_command_has_help() -> None:
    from sandbox.cli import commands

    runner = CliRunner()
    paths = commands()
    assert ("users", "add") in paths and ("audit", "verify") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage" in result.output
