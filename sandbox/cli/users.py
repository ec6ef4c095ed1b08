"""`sandbox users`: add users and print their token once."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.common import app, console
from sandbox.settings import Settings

users_app = typer.Typer(help="Manage users and their tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")


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


@users_app.command("list")
def users_list() -> None:
    """List users (id, name, roles, unit, active) as JSON lines."""
    from sandbox import users
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        for u in users.list_(rt, None):
            print(u.model_dump_json())
    finally:
        rt.close()


@users_app.command("rotate")
def users_rotate(user_id: Annotated[str, typer.Argument(help="The user's id.")]) -> None:
    """Replace a user's token; the new token is printed once, as the last line."""
    from sandbox import users
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        out = users.rotate(rt, None, user_id)
    finally:
        rt.close()
    console.print(out.user.model_dump_json())
    print(out.token)


@users_app.command("revoke")
def users_revoke(
    user_id: Annotated[str, typer.Argument(help="The user's id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Deactivate a user: its token is refused; an operator's scenarios are revoked and jobs stopped."""
    from sandbox import users
    from sandbox.runtime import Runtime

    rt = Runtime(Settings())
    try:
        print(users.revoke(rt, None, user_id, reason).model_dump_json())
    finally:
        rt.close()
