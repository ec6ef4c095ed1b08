"""`sandbox products`: templates, approvals, products and calls (mirrors /v1/templates and /v1/products)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sandbox.cli.common import app, console
from sandbox.cli.jobs import _read_sql
from sandbox.cli.remote import (
    EXIT_CODES,
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

products_app = typer.Typer(
    help="Approved templates published as metered data products.", no_args_is_help=True, epilog=EXIT_CODES
)
app.add_typer(products_app, name="products")

Id = Annotated[str, typer.Argument(help="Template or product id.")]


def _params(raw: str | None) -> dict[str, Any]:
    """--params as JSON text, or @file.json."""
    if raw is None:
        return {}
    text = Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        err_console.print("[red]--params is JSON (or @file.json)[/red]")
        raise typer.Exit(USAGE) from None
    if not isinstance(value, dict):
        err_console.print("[red]--params is a JSON object[/red]")
        raise typer.Exit(USAGE)
    return value


@products_app.command("template")
def template(
    scenario: Annotated[str, typer.Option(help="Your approved scenario id.")],
    name: Annotated[str, typer.Option(help="The template's name.")],
    sql: Annotated[str | None, typer.Option(help="SQL with :name placeholders.", show_default=False)] = None,
    file: Annotated[
        Path | None, typer.Option(help="File holding the SQL.", exists=True, dir_okay=False)
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(help='Parameter schema JSON (or @file), e.g. {"year": {"type": "int", ...}}.'),
    ] = None,
    mode: Annotated[str, typer.Option(help="sdc or dp.")] = "sdc",
    epsilon: Annotated[float | None, typer.Option(help="dp: the spend of one call.")] = None,
    revises: Annotated[str | None, typer.Option(help="The template this one replaces.")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Write a template; the gate checks it for every admissible parameter value (exit 3 if refused)."""
    query = _read_sql(sql, file)
    with session(server, token, as_json, sql=query) as c:
        out = c.create_template(
            scenario, name, query, _params(params), mode=mode, epsilon=epsilon, revises=revises
        )
    dump(out)


@products_app.command("approve")
def approve(
    template_id: Id,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Approve a template at its pin (a reviewer, or the source unit of its datasets)."""
    with session(server, token, as_json) as c:
        dump(c.approve_template(template_id, reason))


@products_app.command("show-template")
def show_template(
    template_id: Id, server: Server = None, token: Token = None, as_json: AsJson = False
) -> None:
    """A template with its pin, approvals and the approvals it still needs."""
    with session(server, token, as_json) as c:
        dump(c.get_template(template_id))


@products_app.command("publish")
def publish(
    template: Annotated[str, typer.Option(help="Approved template id.")],
    name: Annotated[str, typer.Option(help="The product's name.")],
    form: Annotated[
        str, typer.Option(help="api_call, analysis_report, dataset, output_label, alert_push.")
    ] = "api_call",
    fee_class: Annotated[str, typer.Option(help="public_interest (free) or commercial.")] = "commercial",
    price: Annotated[str | None, typer.Option(help="Commercial: yuan per native unit.")] = None,
    pricing_product: Annotated[
        str | None, typer.Option(help="The pricing ledger's product (default: name).")
    ] = None,
    consumer: Annotated[
        list[str] | None, typer.Option(help="A licensed consumer's user id (repeat).")
    ] = None,
    period_epsilon: Annotated[float | None, typer.Option(help="dp: per consumer per month.")] = None,
    lifetime_epsilon: Annotated[float | None, typer.Option(help="dp: per consumer, ever.")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Publish an approved template as a product (price within the pricing module's fee cap)."""
    fields = {
        "form": form,
        "fee_class": fee_class,
        "price": price,
        "pricing_product": pricing_product,
        "consumers": consumer or [],
        "period_epsilon": period_epsilon,
        "lifetime_epsilon": lifetime_epsilon,
    }
    with session(server, token, as_json) as c:
        dump(c.publish(template, name, **{k: v for k, v in fields.items() if v is not None}))


@products_app.command("list")
def list_(
    state: Annotated[str, typer.Option(help="published or withdrawn.")] = "published",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """The product catalogue (all pages)."""
    with session(server, token, as_json) as c:
        items = list(c.list_products(state=state))
    if as_json:
        dump(items)
        return
    t = Table(ident("id"), "name", "form", "fee class", "price", "cap", "mode", "params")
    for p in items:
        t.add_row(
            p.id, p.name, p.form, p.fee_class, cell(p.price), cell(p.price_cap), p.mode, ", ".join(p.params)
        )
    console.print(t)


@products_app.command("withdraw")
def withdraw(product_id: Id, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Withdraw a product: its calls are refused from now on."""
    with session(server, token, as_json) as c:
        dump(c.withdraw(product_id))


@products_app.command("call", epilog=EXIT_CODES)
def call(
    product_id: Id,
    params: Annotated[
        str | None, typer.Option(help='Parameter values as JSON (or @file), e.g. {"year": 2024}.')
    ] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Call a product; a refusal prints its reason code (exit 1)."""
    with session(server, token, as_json) as c:
        out = c.call(product_id, **_params(params))
    if as_json or out.status != "released":
        dump(out)
        return
    t = Table(*out.columns, title=f"call {out.call_id}")
    for row in out.rows:
        t.add_row(*[cell(v) for v in row])
    console.print(t)
