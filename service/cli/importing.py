"""`onemap import PATH --layer LAYER [--crs CRS] [--dry-run]`: real data into the map."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from geodata.db import connect
from geodata.errors import ImportRejected
from geodata.importers import LAYERS, ImportReport, import_file
from layers.grading import GRADE_ZH, regrade
from service.cli import app, console, err_console

# more bad rows than this are counted, not listed: the first ones show what is wrong
MAX_LISTED = 50
# layers whose rows are inputs of the grades or of the area-risk counts
GRADED_LAYERS = {"districts", "subdistricts", "risk_units", "monitoring_points", "hidden_dangers"}


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., show_default=False,
                                help="A .gpkg, .geojson/.json, .shp (or .zip of one) or .csv file."),
    layer: str = typer.Option(..., "--layer", "-l", show_default=False,
                              help="The layer to load: " + ", ".join(LAYERS) + "."),
    crs: str | None = typer.Option(
        None, "--crs", help="The file's coordinate system, overriding its own: an EPSG code "
                            "(4326, 4490, 4545, …), gcj02 or bd09. Without a CRS, WGS84."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row; write nothing."),
) -> None:
    """Load a file's rows into a layer, all of them or none; they replace its synthetic rows."""
    try:
        with connect() as conn, console.status("importing…") as status:
            report = import_file(conn, path, layer, crs=crs, dry_run=dry_run,
                                 progress=lambda message: status.update(escape(message) + "…"))
            graded = None
            if not dry_run and layer in GRADED_LAYERS:
                status.update("grading…")
                graded = regrade(conn, requested_by=f"import:{layer}")
    except ImportRejected as exc:
        print_rejection(exc)
        raise typer.Exit(1) from None
    print_report(report)
    if graded is not None:
        grades = ", ".join(f"{GRADE_ZH[g]} {graded.by_grade.get(g, 0):,}" for g in ("red", "orange", "yellow", "blue"))
        console.print(f"graded {graded.units:,} risk units ({grades}); "
                      f"{graded.changed:,} grade{'s' if graded.changed != 1 else ''} changed")


def print_report(report: ImportReport) -> None:
    """What was loaded, in plain words, and every note (unused columns, assumed CRS, …)."""
    console.print(escape(report.summary()), soft_wrap=True, highlight=False)
    for note in report.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True, highlight=False)
    if report.dry_run:
        console.print("dry run: nothing was written")


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
