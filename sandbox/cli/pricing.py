"""`sandbox pricing`: fee caps from a cost ledger file (policies/pricing.py does the arithmetic)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sandbox.cli.common import app, console


def load_ledger(path: Path) -> Any:
    """A YAML or JSON cost ledger (JSON is YAML, so one parser reads both)."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _fmt(d: Decimal | None, places: int = 4) -> str:
    return "-" if d is None else f"{d.quantize(Decimal(1).scaleb(-places)):,}"


@app.command("pricing")
def pricing_command(
    costs: Annotated[Path, typer.Option("--costs", help="Cost ledger (YAML or JSON); see docs/pricing.md.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (exact decimals) instead of a table.")
    ] = False,
) -> None:
    """Compute R_allow, Rmax, unit costs and fee caps of every product; exit 1 if the caps exceed Rmax."""
    from policies import pricing

    try:
        result = pricing.price(pricing.parse_ledger(load_ledger(costs)))
    except (OSError, ValueError) as e:  # PricingError is a ValueError; yaml errors are caught below
        console.print(f"[red]cannot price this ledger: {e}[/red]")
        raise typer.Exit(2) from None
    except Exception as e:  # a YAML syntax error: name its type only
        console.print(f"[red]cannot read the ledger ({type(e).__name__})[/red]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(pricing.to_dict(result), ensure_ascii=False))
    else:
        table = Table(title=f"Fee caps (R_allow {_fmt(result.r_allow * 100, 2)}%, rule {result.rule})")
        for name in ("product", "form", "volume", "unit cost", "P_cost", "lambda", "self cap", "third party",
                     "final cap", "price x volume"):  # fmt: skip
            table.add_column(name, justify="left" if name in ("product", "form") else "right")
        for c in result.products:
            table.add_row(
                c.name, c.form, _fmt(c.volume, 0), _fmt(c.unit_cost, 6), _fmt(c.p_cost, 6), _fmt(c.lam, 2),
                _fmt(c.self_cap, 6), _fmt(c.third_party_cap, 6), _fmt(c.final_cap, 6),
                _fmt(c.price * c.volume, 2),
            )  # fmt: skip
        console.print(table)
        verdict = "[green]within Rmax[/green]" if result.caps.ok else "[red]ABOVE Rmax[/red]"
        console.print(
            f"C_total {_fmt(result.c_total, 2)}  Rmax {_fmt(result.rmax, 2)}  V {_fmt(result.v, 0)}  "
            f"sum(p x q) {_fmt(result.caps.total, 2)}: {verdict}"
        )
        for year, d in result.reviews.items():
            action = "adjust fees" if d.adjust else "no adjustment"
            deviation = _fmt(d.ratio * 100, 2)
            console.print(f"{year}: revenue {_fmt(d.actual, 2)}, deviation {deviation}% -> {action}")
        if result.reviews:
            console.print(f"excess over the years given: {_fmt(result.excess, 2)}")
    if not result.caps.ok:
        raise typer.Exit(1)
