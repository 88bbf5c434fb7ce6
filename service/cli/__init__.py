"""The `onemap` command line: one module per command group."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from geodata.errors import OnemapError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="onemap",
    help="City-safety one map (城市安全风险一张图): database, data, grading and the map service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"onemap {version('onemap')}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging (-vv: debug)."),
    quiet: int = typer.Option(0, "--quiet", "-q", count=True, help="Less output."),
) -> None:
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(logging.DEBUG, level), format="%(levelname)s %(name)s: %(message)s")
    if quiet:
        console.quiet = True


def _register() -> None:
    from service.cli import (  # noqa: F401
        data,
        db,
        fire,
        grading,
        importing,
        serve,
        shelters,
        simulate,
        tokens,
    )


_register()


def main() -> None:
    """Entry point: turn the project's own errors into a message and exit code 1."""
    try:
        app()
    except OnemapError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
