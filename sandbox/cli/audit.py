"""`sandbox audit`: read and verify the audit log (locally on SANDBOX_HOME, or remotely on a server)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.common import app
from sandbox.settings import Settings

audit_app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _verify_local() -> dict[str, object]:
    from sandbox import audit
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        with rt.catalog.session() as s:
            return audit.verify(s).to_dict()
    finally:
        rt.close()


def _verify_remote(server: str | None, token: str | None) -> dict[str, object]:
    from sandbox.cli.remote import session

    with session(server, token, as_json=True) as c:
        return c.audit_verify().model_dump()


@audit_app.command("verify")
def audit_verify(
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Verify on this API server (auditor token); default SANDBOX_URL.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token; default SANDBOX_TOKEN.", show_default=False)
    ] = None,
) -> None:
    """Recompute the hash chain; exit 1 and name the first broken event if any row was changed.

    On the server given by --server or SANDBOX_URL; without either, on the local catalog (SANDBOX_HOME).
    """
    from sandbox.cli.remote import resolve

    remote = resolve(server, token)[0] is not None
    result = _verify_remote(server, token) if remote else _verify_local()
    print(json.dumps(result))
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("events")
def audit_events(
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    object_id: Annotated[
        str | None, typer.Option("--object", help="Only events about this object id.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most events to print.")] = 100,
    server: Annotated[
        str | None, typer.Option("--server", help="API base URL; default SANDBOX_URL.", show_default=False)
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Bearer token; default SANDBOX_TOKEN.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")] = False,
) -> None:
    """Audit events from the server, oldest first (auditors)."""
    from itertools import islice

    from rich.table import Table

    from sandbox.cli.common import console
    from sandbox.cli.remote import dump, session

    with session(server, token, as_json) as c:
        events = list(
            islice(
                c.audit_events(event_type=event_type, object_id=object_id, page_size=min(limit, 1000)), limit
            )
        )
    if as_json:
        dump(events)
        return
    t = Table("seq", "time", "event", "object", "actor", "hash")
    for e in events:
        t.add_row(
            str(e.seq), e.ts, e.event_type, f"{e.object_type} {e.object_id}", e.actor_id or "", e.hash[:12]
        )
    console.print(t)
