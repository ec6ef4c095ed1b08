"""`sandbox reviews`: the reviewer's queue, the candidate output, and decisions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from sandbox.cli.common import app, console
from sandbox.cli.remote import EXIT_CODES, AsJson, Server, Token, cell, dump, ident, session

reviews_app = typer.Typer(
    help="Review candidate outputs before release (reviewers).", no_args_is_help=True, epilog=EXIT_CODES
)
app.add_typer(reviews_app, name="reviews")

JobId = Annotated[str, typer.Argument(help="Job id.")]
Reason = Annotated[str, typer.Option(help="Why; required, recorded in the audit log.")]


@reviews_app.command("list")
def list_(
    status: Annotated[str, typer.Option(help="pending, released or rejected.")] = "pending",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """The review queue (all pages)."""
    with session(server, token, as_json) as c:
        items = list(c.review_queue(status=status))
    if as_json:
        dump(items)
        return
    t = Table(
        ident("job"), "state", "mode", ident("scenario"), "updated", title=f"{len(items)} job(s) {status}"
    )
    for j in items:
        t.add_row(j.id, j.state, j.mode, j.scenario_id, f"{j.updated_at:%Y-%m-%d %H:%M:%S}")
    console.print(t)


@reviews_app.command("show")
def show(job_id: JobId, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """The candidate output (post-privacy) that approving would release, with the job's SQL."""
    with session(server, token, as_json) as c:
        cand = c.candidate(job_id)
    if as_json:
        dump(cand)
        return
    console.print(f"job {cand.job.id} ({cand.job.state}, mode {cand.job.mode}):", highlight=False)
    console.print(cand.job.sql, markup=False, highlight=False)
    t = Table(*cand.columns, title="Candidate output (post-privacy)")
    for row in cand.rows:
        t.add_row(*[cell(v) for v in row])
    console.print(t)


def _decide(
    job_id: str, decision: str, reason: str, server: str | None, token: str | None, as_json: bool
) -> None:
    with session(server, token, as_json) as c:
        out = c.decide(job_id, decision, reason)
    if as_json:
        dump(out)
    else:
        console.print(f"{out.decision}: job {out.job_id} is now {out.job_state}", highlight=False)


@reviews_app.command("approve")
def approve(
    job_id: JobId, reason: Reason, server: Server = None, token: Token = None, as_json: AsJson = False
) -> None:
    """Approve: the candidate is released to the operator."""
    _decide(job_id, "approve", reason, server, token, as_json)


@reviews_app.command("reject")
def reject(
    job_id: JobId, reason: Reason, server: Server = None, token: Token = None, as_json: AsJson = False
) -> None:
    """Reject: nothing is released."""
    _decide(job_id, "reject", reason, server, token, as_json)


@reviews_app.command("changes")
def changes(
    job_id: JobId, reason: Reason, server: Server = None, token: Token = None, as_json: AsJson = False
) -> None:
    """Request changes: nothing is released; the operator may resubmit."""
    _decide(job_id, "changes_requested", reason, server, token, as_json)
