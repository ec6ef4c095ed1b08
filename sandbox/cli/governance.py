"""`sandbox exit`: an operator's exit (revocation, destruction, record)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.common import app, console
from sandbox.settings import Settings


@app.command("exit")
def exit_command(
    operator: Annotated[str, typer.Argument(help="The operator's user id or name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the destruction record).")] = "",
) -> None:
    """Revoke an operator and all its scenarios, stop its jobs, delete its workspaces and unreleased
    outputs, and print the destruction record written to the audit log."""
    from sandbox.errors import SandboxError
    from sandbox.revocation import exit_operator
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        record = exit_operator(rt, None, operator, reason)
    except SandboxError as e:
        console.print(f"[red]{e.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        rt.close()
    print(json.dumps(record, ensure_ascii=False))
