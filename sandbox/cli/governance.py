"""`sandbox exit` (an operator exits) and `sandbox datasets destroy` (crypto-shredding), with records."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.common import app, console
from sandbox.cli.datasets import datasets_app  # `sandbox datasets destroy` joins the datasets group
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


@datasets_app.command("destroy")
def datasets_destroy(
    dataset_id: Annotated[str, typer.Argument(help="The dataset's id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the destruction record).")] = "",
) -> None:
    """Destroy every version of a dataset (local catalog, SANDBOX_HOME): its keys and vault files
    (crypto-shredding) and grants; prints the destruction record written to the audit log."""
    from sandbox import vault_keys
    from sandbox.errors import SandboxError
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        record = vault_keys.destroy(rt, None, dataset_id, reason)
    except SandboxError as e:
        console.print(f"[red]{e.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        rt.close()
    print(json.dumps(record, ensure_ascii=False))
