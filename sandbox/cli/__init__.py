"""The `sandbox` command. Commands call the same services as the API.

One module per command group (`users.py`, `audit.py`, ...), each adding its Typer sub-app to the root
`app` in `common.py`; this module holds the top-level commands and imports the groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sandbox.cli.common import app, console
from sandbox.settings import Settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    dispatch: Annotated[
        bool, typer.Option(help="Also run jobs in this process (off when `sandbox worker`s run them).")
    ] = True,
) -> None:
    """Run the API server (and the in-process job dispatcher)."""
    from sandbox.server import serve as run

    run(Settings(), host, port, dispatch=dispatch)


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


def commands() -> list[tuple[str, ...]]:
    """Every command path of the app, walked from Typer's own click group (nothing to keep in step)."""
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        if hasattr(command, "list_commands"):  # a group (Typer's own class, not click's)
            context = typer.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None and not sub.hidden:
                    walk(sub, (*path, name))

    walk(root, ())
    return found


def reference() -> str:
    """docs/cli.md, generated from each command's --help (`make docs`); a test keeps it current."""
    from typer.testing import CliRunner

    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    parts = ["# CLI reference", "", "Generated from `--help` by `make docs`; do not edit by hand.", ""]
    for path in commands():
        result = runner.invoke(app, [*path, "--help"], prog_name="sandbox")
        title = " ".join(("sandbox", *path))
        text = "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")
        parts += [f"## `{title}`", "", "```", text, "```", ""]
    return "\n".join(parts)


from sandbox.cli import (  # noqa: E402,F401  (registers the groups)
    audit,
    datasets,
    governance,
    jobs,
    metering,
    pricing,
    products,
    report,
    reviews,
    scenarios,
    users,
    worker,
)
