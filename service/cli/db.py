"""`onemap db start|stop|status|url|migrate`."""

from __future__ import annotations

import os

import psycopg
import typer

from geodata.db import ENV_URL, connect, database_url
from geodata.db.cluster import Cluster
from geodata.db.migrate import migrate
from geodata.db.reference import sync_reference
from geodata.errors import DatabaseSetupError
from service.cli import app, console

db_app = typer.Typer(help="The database: the embedded PostGIS cluster or ONEMAP_DATABASE_URL.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


def _external() -> bool:
    return bool(os.environ.get(ENV_URL))


def apply_migrations(url: str | None = None) -> None:
    with connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
        ran = migrate(conn)
        counts = sync_reference(conn)
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    for m in ran:
        console.print(f"applied migration {m.version:03d} {m.name}")
    console.print(
        f"schema up to date (PostgreSQL {version}, PostGIS {postgis}); reference data: "
        + ", ".join(f"{n} {t}" for t, n in counts.items())
    )


@db_app.command()
def start() -> None:
    """Start the embedded cluster (initialising it once) and apply migrations."""
    if _external():
        console.print(f"{ENV_URL} is set: using that server, nothing to start")
    else:
        cluster = Cluster()
        created = cluster.init()
        if created:
            console.print(f"initialised a PostgreSQL cluster in {cluster.data_dir}")
        started = cluster.start()
        port = cluster.state().port
        console.print(("started" if started else "already running") + f" on 127.0.0.1:{port}")
    apply_migrations()


@db_app.command()
def stop() -> None:
    """Stop the embedded cluster."""
    if _external():
        console.print(f"{ENV_URL} is set: the server is not ours to stop")
        return
    stopped = Cluster().stop()
    console.print("stopped" if stopped else "not running")


@db_app.command()
def status() -> None:
    """Say which database is used and whether it answers."""
    if _external():
        console.print(f"using {ENV_URL}")
    else:
        info = Cluster().status()
        if not info["initialised"]:
            console.print(f"embedded cluster not initialised ({info['home']}); run `onemap db start`")
            raise typer.Exit(3)
        state = "running" if info["running"] else "stopped"
        console.print(f"embedded cluster {state} on 127.0.0.1:{info['port']} ({info['home']})")
        if not info["running"]:
            raise typer.Exit(3)
    try:
        with connect() as conn:
            version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        console.print(f"database answers; PostGIS {version}")
    except DatabaseSetupError as exc:
        console.print(f"database does not answer: {exc}")
        raise typer.Exit(3)
    except psycopg.Error as exc:  # e.g. no PostGIS yet in an external database
        console.print(f"database answers, but: {exc}")


@db_app.command()
def url() -> None:
    """Print the connection URL every command and the tests use."""
    typer.echo(database_url())


@db_app.command("migrate")
def migrate_command() -> None:
    """Apply missing schema migrations and refresh reference data."""
    apply_migrations()
