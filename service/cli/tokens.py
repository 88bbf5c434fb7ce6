"""`onemap token create|list|revoke`: bearer tokens with roles for writes and administration."""

from __future__ import annotations

import typer
from rich.table import Table

from geodata.db import connect
from service.auth import ROLES, create_token, revoke_token
from service.cli import app, console

token_app = typer.Typer(help="API tokens with roles (analyst, planner, commander, operator, admin).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="One of: " + ", ".join(ROLES) + "."),
    name: str = typer.Option("", "--name", help="Who or what uses it (default: the role)."),
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; roles: {', '.join(ROLES)}", param_hint="--role")
    with connect() as conn:
        token_id, token = create_token(conn, role, name or role)
    console.print(f"token {token_id} for role {role} ({name or role}); keep it: it is not shown again")
    typer.echo(token)


@token_app.command("list")
def list_tokens() -> None:
    """The tokens (never the secrets): id, name, role, when used, whether revoked."""
    with connect() as conn:
        rows = conn.execute("SELECT id, name, role, created_at, last_used_at, revoked_at "
                            "FROM api_tokens ORDER BY id").fetchall()
    table = Table(show_edge=False)
    for col in ("id", "name", "role", "created", "last used", "revoked"):
        table.add_column(col)
    fmt = lambda t: f"{t:%Y-%m-%d %H:%M}" if t else "—"
    for r in rows:
        table.add_row(str(r[0]), r[1], r[2], fmt(r[3]), fmt(r[4]), fmt(r[5]))
    console.print(table)


@token_app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="The token's id (see `onemap token list`).")) -> None:
    """Revoke a token at once."""
    with connect() as conn:
        done = revoke_token(conn, token_id)
    if not done:
        console.print(f"no active token with id {token_id}")
        raise typer.Exit(1)
    console.print(f"token {token_id} revoked")
