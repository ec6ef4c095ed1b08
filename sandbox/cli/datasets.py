"""`sandbox datasets`: register, version, set levels, read (remote, through the client)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sandbox.cli.common import app, console
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

datasets_app = typer.Typer(
    help="Register and describe datasets (source units).", no_args_is_help=True, epilog=EXIT_CODES
)
app.add_typer(datasets_app, name="datasets")

FileArg = Annotated[
    Path, typer.Argument(help="CSV, TSV, JSON lines or Parquet file.", exists=True, dir_okay=False)
]


def _show(ds: Any) -> None:
    t = Table(
        "column",
        "type",
        "level",
        "proposed",
        "confirmed",
        "detected PII",
        "bounds",
        title=(
            f"{ds.name} ({ds.id}) v{ds.version}: {ds.rows:,} rows, {ds.classification}, "
            f"sha256 {ds.sha256[:16]}…"
        ),
    )
    for c in ds.columns:
        pii = ", ".join(f"{k} {v:.0%}" for k, v in c.pii.items()) or (c.name_hint or "")
        bounds = "" if c.lower is None and c.upper is None else f"[{cell(c.lower)}, {cell(c.upper)}]"
        t.add_row(c.name, c.type, c.level, c.proposed_level, "yes" if c.confirmed else "no", pii, bounds)
    console.print(t)


@datasets_app.command("register")
def register(
    file: FileArg,
    name: Annotated[str, typer.Option(help="Table name in SQL.")],
    privacy_unit: Annotated[str, typer.Option(help="Column naming the person or enterprise of a row.")],
    classification: Annotated[str, typer.Option(help="general, important or core.")] = "general",
    description: Annotated[str, typer.Option(help="What the data is.")] = "",
    encoding: Annotated[str | None, typer.Option(help="utf-8, gb18030 or gbk; detected when absent.")] = None,
    format: Annotated[
        str | None, typer.Option(help="csv, tsv, jsonl or parquet; from the suffix when absent.")
    ] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Upload FILE as a new dataset (with a progress bar); prints its columns and proposed levels."""
    with session(server, token, as_json) as c:
        ds = c.register_dataset(
            file,
            name=name,
            privacy_unit=privacy_unit,
            classification=classification,
            description=description,
            encoding=encoding,
            format=format,
            progress=not as_json,
        )
    dump(ds) if as_json else _show(ds)


@datasets_app.command("version")
def version(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    file: FileArg,
    encoding: Annotated[str | None, typer.Option(help="utf-8, gb18030 or gbk; detected when absent.")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Upload FILE as the next version of a dataset (same columns)."""
    with session(server, token, as_json) as c:
        ds = c.add_version(dataset_id, file, encoding=encoding, progress=not as_json)
    dump(ds) if as_json else _show(ds)


@datasets_app.command("levels")
def levels(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            help="YAML: column -> level, or column -> {level, lower, upper, public_keys}.",
        ),
    ],
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Confirm or change column levels, bounds and public group keys from a YAML file."""
    import yaml

    from sandbox.client.sync import levels_body

    try:
        body = levels_body(file)
    except (ValueError, AttributeError, yaml.YAMLError):
        err_console.print(
            f"[red]{file} is not a mapping of column -> level or -> {{level, lower, ...}}[/red]"
        )
        raise typer.Exit(USAGE) from None
    with session(server, token, as_json) as c:
        ds = c.set_levels(dataset_id, body["columns"])
    dump(ds) if as_json else _show(ds)


@datasets_app.command("list")
def list_(server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Every dataset you may see (all pages)."""
    with session(server, token, as_json) as c:
        items = list(c.list_datasets())
    if as_json:
        dump(items)
        return
    t = Table(ident("id"), "name", "version", "rows", "classification", "owner unit", "created")
    for d in items:
        t.add_row(
            d.id,
            d.name,
            str(d.version),
            f"{d.rows:,}",
            d.classification,
            d.owner_unit or "",
            f"{d.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(t)


@datasets_app.command("show")
def show(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """One dataset: version, sha256, columns with levels and detected PII."""
    with session(server, token, as_json) as c:
        ds = c.get_dataset(dataset_id)
    dump(ds) if as_json else _show(ds)


@datasets_app.command("preview")
def preview(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    rows: Annotated[int | None, typer.Option(help="Rows to generate (server default 20).")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Synthetic rows shaped like the dataset, to write SQL against (never real values)."""
    with session(server, token, as_json) as c:
        body = c.preview(dataset_id, rows)
    columns, data = body.get("columns"), body.get("rows")
    if as_json or not isinstance(columns, list) or not isinstance(data, list):
        dump(body)
        return
    names = [str(col["name"] if isinstance(col, dict) else col) for col in columns]
    t = Table(*names, title=f"SYNTHETIC preview of {dataset_id} (not real values)")
    for row in data:
        t.add_row(*[cell(v) for v in row])
    console.print(t)
