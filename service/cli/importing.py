"""`onemap import PATH --layer LAYER [--crs CRS] [--dry-run]`: real data into the map."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from geodata.db import connect
from geodata.errors import ImportRejected
from geodata.importers import (
    LAYERS,
    RASTER_LAYERS,
    ImportReport,
    PopulationReport,
    import_file,
)
from layers.commander import fire_layer
from layers.commander.network import build_network
from layers.grading import GRADE_ZH, regrade
from layers.shelters.gaps import refresh_if_stale
from service.cli import app, console, err_console

# more bad rows than this are counted, not listed: the first ones show what is wrong
MAX_LISTED = 50
# layers whose rows are inputs of the grades or of the area-risk counts
GRADED_LAYERS = {"districts", "subdistricts", "risk_units", "monitoring_points", "hidden_dangers"}
# inputs of the shelter analysis, whose gaps layer is rebuilt after them
SHELTER_INPUTS = {"districts", "subdistricts", "shelters", "population"}
# inputs of the fire stations' reach, whose fire_coverage layer is rebuilt after them
FIRE_INPUTS = set(fire_layer.INPUTS)


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., show_default=False,
                                help="A .gpkg, .geojson/.json, .shp (or .zip of one) or .csv "
                                     "file; for population, a GeoTIFF of residents per cell."),
    layer: str = typer.Option(..., "--layer", "-l", show_default=False,
                              help="The layer to load: " + ", ".join([*LAYERS, *RASTER_LAYERS])
                                   + " (a raster, band 1)."),
    crs: str | None = typer.Option(
        None, "--crs", help="The file's coordinate system, overriding its own: an EPSG code "
                            "(4326, 4490, 4545, …), gcj02 or bd09. Without a CRS, WGS84 "
                            "(a raster without one needs --crs)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row; write nothing."),
) -> None:
    """Load a file's rows into a layer, all of them or none; they replace its synthetic rows.
    A population raster replaces the population surface."""
    try:
        with connect() as conn, console.status("importing…") as status:
            with conn.transaction():    # roads and their network: together or neither
                report = import_file(conn, path, layer, crs=crs, dry_run=dry_run,
                                     progress=lambda message: status.update(escape(message) + "…"))
                network = None
                if not dry_run and layer == "roads":
                    status.update("road network…")
                    network = build_network(conn)
            graded = gaps = fire = None
            if not dry_run and layer in GRADED_LAYERS:
                status.update("grading…")
                graded = regrade(conn, requested_by=f"import:{layer}")
            if not dry_run and layer in SHELTER_INPUTS:
                status.update("shelter gaps…")
                gaps = refresh_if_stale(conn)
            if not dry_run and layer in FIRE_INPUTS:
                status.update("fire coverage…")
                fire = fire_layer.refresh_if_stale(conn)
    except ImportRejected as exc:
        print_rejection(exc)
        raise typer.Exit(1) from None
    print_report(report)
    if network is not None:
        console.print(escape(network.summary()), soft_wrap=True, highlight=False)
        for note in network.notes:
            console.print(f"  note: {escape(note)}", soft_wrap=True, highlight=False)
    if graded is not None:
        grades = ", ".join(f"{GRADE_ZH[g]} {graded.by_grade.get(g, 0):,}" for g in ("red", "orange", "yellow", "blue"))
        console.print(f"graded {graded.units:,} risk units ({grades}); "
                      f"{graded.changed:,} grade{'s' if graded.changed != 1 else ''} changed")
    if gaps is not None:
        console.print(f"shelter gaps rebuilt: {gaps:,} areas where residents have no place "
                      "within walking range (`onemap shelters` for the figures)")
    if fire is not None:
        console.print(f"fire coverage rebuilt: {fire[0]:,} areas (`onemap fire-coverage` for "
                      "the figures)")


def print_report(report: ImportReport | PopulationReport) -> None:
    """What was loaded, in plain words, and every note (unused columns, assumed CRS, …)."""
    console.print(escape(report.summary()), soft_wrap=True, highlight=False)
    if isinstance(report, PopulationReport):
        console.print(population_table(report))
    for note in report.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True, highlight=False)
    if report.dry_run:
        console.print("dry run: nothing was written")


def population_table(report: PopulationReport) -> Table:
    """Per district: the raster's residents against the census."""
    table = Table(title="residents per district: raster against census 2020")
    table.add_column("区县 district")
    table.add_column("code")
    for heading in ("raster", "census", "difference"):
        table.add_column(heading, justify="right")
    for d in report.districts:
        table.add_row(d.name, d.code, f"{d.residents:,.0f}", _count(d.census),
                      _percent(d.difference_pct))
    overall = (100 * (report.total / report.census_total - 1)) if report.census_total else None
    table.add_section()
    table.add_row("合计 total", "", f"{report.total:,.0f}", _count(report.census_total),
                  _percent(overall))
    return table


def _count(value: int | None) -> str:
    return f"{value:,}" if value else "—"


def _percent(value: float | None) -> str:
    return f"{value:+.1f}%" if value is not None else "—"


def print_rejection(exc: ImportRejected) -> None:
    """Each bad row with its number and reason (the first MAX_LISTED), then the verdict."""
    label = getattr(exc, "row_label", "row")
    for number, reason in exc.problems[:MAX_LISTED]:
        prefix = f"{label} {number}: " if number is not None else ""
        err_console.print(escape(prefix + reason), soft_wrap=True, highlight=False)
    if len(exc.problems) > MAX_LISTED:
        err_console.print(f"… and {len(exc.problems) - MAX_LISTED:,} more")
    message = str(exc)
    if "nothing was loaded" not in message:
        message += "; nothing was loaded"
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
