"""`sandbox audit`: read, verify, export and purge the audit log (locally on SANDBOX_HOME, or on a server)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from sandbox.cli.common import app, console
from sandbox.settings import Settings

audit_app = typer.Typer(help="Read, verify, export and purge the audit log.", no_args_is_help=True)
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
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Check an export (JSON lines) offline: no server, no catalog."),
    ] = None,
) -> None:
    """Recompute the hash chain; exit 1 and name the first broken event (or export line) if any.

    With --file, an export offline; else on the server given by --server or SANDBOX_URL; without
    either, on the local catalog (SANDBOX_HOME).
    """
    from sandbox.cli.remote import resolve

    if file is not None:
        from sandbox.audit_export import verify_lines

        with file.open(encoding="utf-8") as f:
            checked = verify_lines(f)
        print(json.dumps(checked.to_dict()))
        if not checked.ok:
            raise typer.Exit(1)
        return

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


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        console.print(f"[red]{option} must be an ISO date or date-time (2026-01-31, 2026-01-31T12:00)[/red]")
        raise typer.Exit(2) from None


@audit_app.command("export")
def audit_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (JSON lines).")],
    since: Annotated[str | None, typer.Option(help="First instant (ISO, UTC if no offset).")] = None,
    until: Annotated[str | None, typer.Option(help="Instant after the last (ISO, UTC if no offset).")] = None,
) -> None:
    """Export events with since <= ts < until, with the anchor hashes, for `audit verify --file`."""
    from sandbox.audit_export import export_text
    from sandbox.runtime import Runtime

    start, end = _when(since, "--since"), _when(until, "--until")
    rt = Runtime(Settings())
    try:
        text = export_text(rt, None, start, end)
    finally:
        rt.close()
    output.write_text(text, encoding="utf-8")
    trailer = json.loads(text.splitlines()[-1])
    print(json.dumps({"file": str(output), "events": trailer["events"], "last_hash": trailer["last_hash"]}))


@audit_app.command("purge")
def audit_purge(
    before: Annotated[str, typer.Option(help="Purge events older than this (ISO date or date-time).")],
) -> None:
    """Delete events older than BEFORE, refused inside the retention; writes an anchor so verify passes."""
    from sandbox.audit_export import purge
    from sandbox.errors import SandboxError
    from sandbox.runtime import Runtime

    cut = _when(before, "--before")
    assert cut is not None
    settings = Settings()
    rt = Runtime(settings)
    try:
        with rt.catalog.session() as s:
            done = purge(s, cut, settings.audit_retention_days, None)
    except SandboxError as e:
        console.print(f"[red]{e.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        rt.close()
    print(json.dumps(done.to_dict()))
