"""What the remote command groups share: --server/--token/--json, the client, errors -> exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Column

from sandbox.cli.common import console

OK, API_ERROR, USAGE, GATE_REFUSED, JOB_FAILED, NOT_RELEASED = 0, 1, 2, 3, 4, 5
EXIT_CODES = (
    "Exit codes: 0 ok; 1 other API error (or the server cannot be reached); 2 usage error; 3 refused by the "
    "policy gate; 4 job failed, cancelled or rejected; 5 not yet released (or still running at --timeout)."
)
JOB_EXIT = {
    "failed": JOB_FAILED,
    "cancelled": JOB_FAILED,
    "rejected": JOB_FAILED,
    "gate_rejected": GATE_REFUSED,
}

Server = Annotated[
    str | None, typer.Option("--server", help="API base URL; default SANDBOX_URL.", show_default=False)
]
Token = Annotated[
    str | None, typer.Option("--token", help="Bearer token; default SANDBOX_TOKEN.", show_default=False)
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")]
err_console = Console(stderr=True)


def resolve(server: str | None, token: str | None) -> tuple[str | None, str | None, float]:
    """--server/--token, else SANDBOX_URL/SANDBOX_TOKEN (ClientSettings, the client's only env reader)."""
    from sandbox.settings import ClientSettings

    cs = ClientSettings()
    return server or cs.url, token or cs.token, cs.timeout_s


@contextmanager
def session(server: str | None, token: str | None, as_json: bool, sql: str | None = None) -> Iterator[Any]:
    """A connected Client; an API error is printed (as the API's JSON with --json) and becomes the exit
    code: 3 for a gate refusal (reasons shown under the SQL with a caret), 5 for not released, else 1."""
    from sandbox.client import Client, SandboxAPIError, format_reasons

    url, tok, timeout = resolve(server, token)
    if not url:
        err_console.print("[red]no server: pass --server URL or set SANDBOX_URL[/red]")
        raise typer.Exit(USAGE)
    client = Client(url, tok, timeout, console=err_console)
    try:
        yield client
    except SandboxAPIError as e:
        if as_json:
            print(json.dumps(e.body(), ensure_ascii=False))
        else:
            err_console.print(
                f"[red]{e.code}[/red] (HTTP {e.status}): {e.message}", markup=True, highlight=False
            )
            if e.reasons:
                job = f" (job {e.job_id})" if e.job_id else ""
                console.print(f"Refused by the policy gate{job}: {len(e.reasons)} reason(s)", highlight=False)
                console.print(
                    format_reasons(sql or "", e.reasons), markup=False, highlight=False, soft_wrap=True
                )
        code = {"gate_rejected": GATE_REFUSED, "not_released": NOT_RELEASED, "wait_timeout": NOT_RELEASED}
        raise typer.Exit(code.get(e.code, API_ERROR)) from None
    finally:
        client.close()


def dump(value: BaseModel | list[BaseModel] | dict[str, Any]) -> None:
    """Print what the API returned, as JSON (the --json output)."""
    if isinstance(value, list):
        data: Any = [v.model_dump(mode="json") for v in value]
    elif isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
    else:
        data = value
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def ident(header: str) -> Column:
    """A column of ids: never cut short (an id with an ellipsis cannot be pasted into the next command)."""
    return Column(header, no_wrap=True, min_width=24, overflow="fold")
