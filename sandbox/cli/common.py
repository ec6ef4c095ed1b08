"""The root Typer app and the console every command group prints to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="Privacy-preserving data sandbox runtime.", no_args_is_help=True, add_completion=False)
console = Console()
