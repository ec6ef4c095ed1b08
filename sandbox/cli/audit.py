"""`sandbox audit`: read and verify the audit log."""

from __future__ import annotations

import json

import typer

from sandbox.cli.common import app
from sandbox.settings import Settings

audit_app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 and name the first broken event if any row was changed."""
    from sandbox import audit
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        with rt.catalog.session() as s:
            result = audit.verify(s)
    finally:
        rt.close()
    print(json.dumps(result.to_dict()))
    if not result.ok:
        raise typer.Exit(1)
