"""`sandbox report annual YEAR`: the yearly operation report as Markdown or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sandbox.cli.common import app
from sandbox.settings import Settings

report_app = typer.Typer(help="Operation reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("annual")
def report_annual(
    year: Annotated[int, typer.Argument(help="Calendar year (UTC).")],
    costs: Annotated[
        Path | None,
        typer.Option("--costs", help="Cost/revenue ledger (docs/pricing.md) for revenue vs caps."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of Markdown.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Usage by form, releases, revenue against caps and security events of one year."""
    from sandbox import report
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        data = report.annual(rt, year, costs)
    finally:
        rt.close()
    text = json.dumps(data, ensure_ascii=False, indent=2) if as_json else report.markdown(data)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
