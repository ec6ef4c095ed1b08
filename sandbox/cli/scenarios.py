"""`sandbox scenarios`: apply (operator), approve / reject / revoke (admin), read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from sandbox.cli.common import app, console
from sandbox.cli.remote import EXIT_CODES, USAGE, AsJson, Server, Token, dump, err_console, ident, session

scenarios_app = typer.Typer(
    help="Apply for, decide and read scenarios (operators and admins).",
    no_args_is_help=True,
    epilog=EXIT_CODES,
)
app.add_typer(scenarios_app, name="scenarios")

ScenarioId = Annotated[str, typer.Argument(help="Scenario id.")]


def _show(s: Any) -> None:
    spent = f", ε spent {s.epsilon_spent:g}" if s.epsilon is not None else ""
    eps = f", ε {s.epsilon:g}" if s.epsilon is not None else ""
    console.print(
        f"[bold]{s.name}[/bold] ({s.id}): {s.state}; modes {', '.join(s.modes)}{eps}{spent}; "
        f"expires {s.expires_at:%Y-%m-%d}",
        highlight=False,
    )
    console.print(f"purpose: {s.purpose}", highlight=False, markup=False)
    if s.decision_reason:
        console.print(f"decision: {s.decision_reason}", highlight=False, markup=False)
    t = Table(ident("dataset"), "granted columns")
    for dataset_id, columns in s.datasets.items():
        t.add_row(dataset_id, ", ".join(columns))
    console.print(t)


def _grants(specs: list[str]) -> dict[str, list[str]]:
    grants: dict[str, list[str]] = {}
    for spec in specs:
        dataset_id, sep, cols = spec.partition(":")
        columns = [c.strip() for c in cols.split(",") if c.strip()]
        if not sep or not dataset_id or not columns:
            err_console.print(f"[red]--dataset takes ID:col1,col2 (got {spec!r})[/red]")
            raise typer.Exit(USAGE)
        grants.setdefault(dataset_id, []).extend(columns)
    return grants


@scenarios_app.command("apply")
def apply(
    name: Annotated[str, typer.Option(help="Short name of the scenario.")],
    purpose: Annotated[str, typer.Option(help="Why the data is needed.")],
    dataset: Annotated[
        list[str],
        typer.Option("--dataset", help="ID:col1,col2 — a dataset and the columns asked for; repeatable."),
    ],
    mode: Annotated[list[str], typer.Option("--mode", help="sdc or dp; repeatable.")] = ["sdc"],  # noqa: B006
    epsilon: Annotated[float | None, typer.Option(help="DP budget ε (dp mode).")] = None,
    delta: Annotated[float | None, typer.Option(help="DP δ (dp mode).")] = None,
    expires: Annotated[datetime | None, typer.Option(help="Expiry; default one year from now.")] = None,
    public_interest: Annotated[bool, typer.Option(help="Declared public-interest use.")] = False,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Apply for a scenario: datasets, granted columns, purpose and output modes."""
    grants = _grants(dataset)
    with session(server, token, as_json) as c:
        s = c.apply_scenario(
            name=name,
            purpose=purpose,
            datasets=grants,
            modes=mode,
            epsilon=epsilon,
            delta=delta,
            expires_at=expires,
            public_interest=public_interest,
        )
    dump(s) if as_json else _show(s)


def _decide(
    action: str, scenario_id: str, reason: str, server: str | None, token: str | None, as_json: bool
) -> None:
    with session(server, token, as_json) as c:
        s = getattr(c, f"{action}_scenario")(scenario_id, reason)
    dump(s) if as_json else _show(s)


Reason = Annotated[str, typer.Option(help="Why; recorded in the audit log.")]


@scenarios_app.command("approve")
def approve(
    scenario_id: ScenarioId,
    reason: Reason = "",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Approve an applied scenario (admin)."""
    _decide("approve", scenario_id, reason, server, token, as_json)


@scenarios_app.command("reject")
def reject(
    scenario_id: ScenarioId,
    reason: Reason = "",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Reject an applied scenario (admin)."""
    _decide("reject", scenario_id, reason, server, token, as_json)


@scenarios_app.command("revoke")
def revoke(
    scenario_id: ScenarioId,
    reason: Reason = "",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Revoke an approved scenario (admin); its queued jobs can no longer run."""
    _decide("revoke", scenario_id, reason, server, token, as_json)


@scenarios_app.command("list")
def list_(server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Every scenario you may see (all pages)."""
    with session(server, token, as_json) as c:
        items = list(c.list_scenarios())
    if as_json:
        dump(items)
        return
    t = Table(ident("id"), "name", "state", "modes", "datasets", "expires")
    for s in items:
        t.add_row(s.id, s.name, s.state, ",".join(s.modes), str(len(s.datasets)), f"{s.expires_at:%Y-%m-%d}")
    console.print(t)


@scenarios_app.command("show")
def show(
    scenario_id: ScenarioId, server: Server = None, token: Token = None, as_json: AsJson = False
) -> None:
    """One scenario: state, grants, modes, budget."""
    with session(server, token, as_json) as c:
        s = c.get_scenario(scenario_id)
    dump(s) if as_json else _show(s)
