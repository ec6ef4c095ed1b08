"""The `sandbox` command: serve, users add, demo, audit verify. Commands call the same services as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sandbox.settings import Settings

app = typer.Typer(help="Privacy-preserving data sandbox runtime.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(help="Manage users and their tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the API server (and the in-process job dispatcher)."""
    from sandbox.server import serve as run

    run(Settings(), host, port)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Unique user name.")],
    role: Annotated[
        list[str],
        typer.Option("--role", help="source_unit, operator, reviewer, admin or auditor; repeatable."),
    ],
    unit: Annotated[str | None, typer.Option(help="The organisation (unit) the user belongs to.")] = None,
) -> None:
    """Add a user; its token is printed once, as the last line."""
    from sandbox.auth import Role, add_user
    from sandbox.runtime import Runtime

    try:
        roles = [Role(r) for r in role]
    except ValueError:
        console.print(f"[red]unknown role; choose from {', '.join(r.value for r in Role)}[/red]")
        raise typer.Exit(2) from None
    rt = Runtime(Settings())
    try:
        with rt.catalog.session() as s:
            user, token = add_user(s, name, roles, unit)
            console.print(
                json.dumps(
                    {"id": user.id, "name": user.name, "roles": user.roles, "unit": user.unit},
                    ensure_ascii=False,
                )
            )
    finally:
        rt.close()
    print(token)


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


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Residents to generate.")] = 100_000,
    home: Annotated[
        Path | None, typer.Option(help="Keep the demo's data here instead of a temporary dir.")
    ] = None,
) -> None:
    """Run the whole path over real HTTP in a temporary SANDBOX_HOME, from registration to release."""
    from sandbox.demo import run

    raise typer.Exit(run(rows=rows, home=home, console=console))


COMMANDS: tuple[tuple[str, ...], ...] = ((), ("serve",), ("users", "add"), ("demo",), ("audit", "verify"))


def reference() -> str:
    """docs/cli.md, generated from each command's --help (`make docs`); a test keeps it current."""
    from typer.testing import CliRunner

    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    parts = ["# CLI reference", "", "Generated from `--help` by `make docs`; do not edit by hand.", ""]
    for path in COMMANDS:
        result = runner.invoke(app, [*path, "--help"], prog_name="sandbox")
        title = " ".join(("sandbox", *path))
        text = "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")
        parts += [f"## `{title}`", "", "```", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    app()
