"""`sandbox jobs`: submit (or dry-run) SQL, follow, cancel, download the released result."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sandbox.cli.common import app, console
from sandbox.cli.remote import (
    EXIT_CODES,
    JOB_EXIT,
    OK,
    USAGE,
    AsJson,
    Server,
    Token,
    cell,
    dump,
    err_console,
    ident,
    session,
)

jobs_app = typer.Typer(
    help="Submit SQL jobs and fetch released results (operators).", no_args_is_help=True, epilog=EXIT_CODES
)
app.add_typer(jobs_app, name="jobs")

JobId = Annotated[str, typer.Argument(help="Job id.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait before giving up (exit 5).")]


def _show(job: Any) -> None:
    reason = f" ({job.reason_code})" if job.reason_code else ""
    console.print(
        f"job [bold]{job.id}[/bold]: {job.state}{reason}; mode {job.mode}; scenario {job.scenario_id}",
        highlight=False,
    )
    report = job.check_report or {}
    sdc = report.get("sdc")
    if isinstance(sdc, dict):
        console.print(
            f"k = {report.get('k')}: {sdc.get('suppressed_cells', 0)} cell(s) suppressed in "
            f"{sdc.get('suppressed_rows', 0)} row(s)",
            highlight=False,
        )
    if job.artifacts:
        console.print(
            "released: " + ", ".join(f"{a.format} ({a.bytes} bytes)" for a in job.artifacts), highlight=False
        )


def _exit_for(job: Any) -> int:
    return JOB_EXIT.get(job.state, OK)


def _read_sql(sql: str | None, file: Path | None) -> str:
    if (sql is None) == (file is None):
        err_console.print("[red]give exactly one of --sql TEXT or --file query.sql[/red]")
        raise typer.Exit(USAGE)
    return sql if sql is not None else file.read_text(encoding="utf-8")  # type: ignore[union-attr]


@jobs_app.command("submit", epilog=EXIT_CODES)
def submit(
    scenario: Annotated[str, typer.Option(help="Approved scenario id.")],
    mode: Annotated[str, typer.Option(help="sdc or dp.")] = "sdc",
    sql: Annotated[str | None, typer.Option(help="The query.", show_default=False)] = None,
    file: Annotated[
        Path | None, typer.Option(help="File holding the query.", exists=True, dir_okay=False)
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the job leaves the running states.")] = False,
    timeout: Timeout = 300.0,
    dry_run: Annotated[bool, typer.Option(help="Run on synthetic data instead; nothing is queued.")] = False,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Submit SQL; a refusal prints every gate reason under the SQL with a caret (exit 3)."""
    query = _read_sql(sql, file)
    with session(server, token, as_json, sql=query) as c:
        if dry_run:
            result = c.dry_run(scenario, query, mode)
            if as_json:
                dump(asdict(result))
                return
            t = Table(*result.columns, title="Dry run on SYNTHETIC data (not real values)")
            for row in result.rows:
                t.add_row(*[cell(v) for v in row])
            console.print(t)
            return
        job = c.submit(scenario, query, mode)
        if wait:
            job = c.wait(job.id, timeout, progress=not as_json)
    dump(job) if as_json else _show(job)
    raise typer.Exit(_exit_for(job))


@jobs_app.command("status", epilog=EXIT_CODES)
def status(
    job_id: JobId,
    wait: Annotated[bool, typer.Option(help="Wait until the job leaves the running states.")] = False,
    timeout: Timeout = 300.0,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """A job's state, reason code and check report (never values before release)."""
    with session(server, token, as_json) as c:
        job = c.wait(job_id, timeout, progress=not as_json) if wait else c.get_job(job_id)
    dump(job) if as_json else _show(job)
    raise typer.Exit(_exit_for(job))


@jobs_app.command("cancel")
def cancel(job_id: JobId, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Cancel a job that is queued, running, checking or pending review."""
    with session(server, token, as_json) as c:
        job = c.cancel(job_id)
    dump(job) if as_json else _show(job)


@jobs_app.command("result", epilog=EXIT_CODES)
def result(
    job_id: JobId,
    format: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write; default stdout.")
    ] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Download the released result, checked against its sha256 (exit 5 when not released yet)."""
    with session(server, token, as_json) as c:
        got = c.download(job_id, format)
    if not got.verified:
        err_console.print(f"[red]checksum_mismatch: the {format} differs from its release record[/red]")
        raise typer.Exit(1)
    if output is None:
        sys.stdout.buffer.write(got.content)
        sys.stdout.flush()
        return
    output.write_bytes(got.content)
    summary = {
        "job_id": job_id,
        "format": format,
        "path": str(output),
        "bytes": len(got.content),
        "sha256": got.sha256,
    }
    if as_json:
        print(json.dumps(summary))
    else:
        err_console.print(
            f"wrote {output}: {len(got.content)} bytes, sha256 {got.sha256[:16]}… (matches the release)"
        )


@jobs_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Your jobs (all pages)."""
    with session(server, token, as_json) as c:
        items = list(c.list_jobs(state=state))
    if as_json:
        dump(items)
        return
    t = Table(ident("id"), "state", "reason", "mode", ident("scenario"), "updated")
    for j in items:
        t.add_row(
            j.id, j.state, j.reason_code or "", j.mode, j.scenario_id, f"{j.updated_at:%Y-%m-%d %H:%M:%S}"
        )
    console.print(t)
