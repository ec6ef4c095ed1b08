"""`sandbox metering`: usage totals and the yearly compliance-review flags."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.common import app
from sandbox.settings import Settings


@app.command("metering")
def metering_command(
    year: Annotated[int | None, typer.Option(help="Only this calendar year (UTC).")] = None,
    scenario: Annotated[str | None, typer.Option(help="Only this scenario id.")] = None,
    product: Annotated[str | None, typer.Option(help="Only this data product id.")] = None,
) -> None:
    """Print usage per scenario, product form and data product (native and normalised, V) and the flagged
    subjects."""
    from sandbox import metering
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        with rt.catalog.session() as s:
            out = metering.summarize(s, year, scenario, product).to_dict()
    finally:
        rt.close()
    print(json.dumps(out, ensure_ascii=False))
