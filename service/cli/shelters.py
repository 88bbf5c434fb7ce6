"""`onemap shelters [DISTRICT]`: shelter area per resident and walking coverage, as a table."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from geodata.db import connect
from layers.shelters.analysis import analyse
from layers.shelters.gaps import rebuild_gaps
from layers.shelters.inputs import load_shelters, load_surface
from layers.shelters.standards import load_standards
from service.cli import app, console


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


def _row(entry: dict) -> list[str]:
    per = entry["area_per_resident_m2"]
    per_text = "—" if per is None else f"{per:.2f}"
    verdict = f"[green]{per_text} ✓[/]" if entry["meets_standard"] else f"[red]{per_text} ✗[/]"
    return [f"{entry['name']}", f"{entry['population']:,}", f"{entry['shelter_count']:,}",
            f"{entry['shelter_area_m2']:,.0f}", verdict, f"{entry['deficit_m2']:,.0f}",
            _percent(entry["coverage"]["all"])]


@app.command("shelters")
def shelters(
    district: str | None = typer.Argument(None, help="A district code (e.g. 610102): its "
                                                     "sub-districts. Without: every district."),
    gaps: bool = typer.Option(False, "--gaps", help="Also rebuild the shelter_gaps layer."),
) -> None:
    """Shelter area per resident against the standard, and walking coverage (capacity counted)."""
    started = time.perf_counter()
    standards = load_standards()
    with connect() as conn:
        surface, sites = load_surface(conn), load_shelters(conn)
        report = analyse(surface, sites, standards)
        if gaps:
            with conn.transaction():
                built = rebuild_gaps(conn, standards)
    if district is not None and report.district(district) is None:
        known = ", ".join(d["code"] for d in report.districts)
        raise typer.BadParameter(f"no district with code {district!r}; districts: {known}",
                                 param_hint="DISTRICT")
    entries = ([report.district(district), *report.subdistricts_of(district)]
               if district else [*report.districts, {**report.city, "name": "全市 city"}])
    title = (f"{report.district(district)['name']} 避难场所 shelters by sub-district" if district
             else "避难场所 shelters by district")
    table = Table(title=title, show_edge=False, pad_edge=False)
    for column in ("区域\narea", "人口\nresidents", "场所\nshelters", "面积 m²\narea",
                   f"人均 m²\n≥ {standards.per_resident_m2:g}", "缺口 m²\ndeficit",
                   "步行覆盖\ncovered"):
        table.add_column(column, justify="left" if column.startswith("区域") else "right",
                         no_wrap=True)
    for entry in entries:
        table.add_row(*_row(entry))
    console.print(table)
    failing = [d["name"] for d in report.districts if not d["meets_standard"]]
    console.print(f"standard: {standards.per_resident_m2:g} m² of shelter per resident "
                  f"({standards.source}); walking radius "
                  + ", ".join(f"{c.name} {c.radius_m:g} m" for c in standards.classes.values()))
    console.print("covered: residents with a place in a shelter within walking range "
                  "(capacity counted; per class in `GET /analysis/shelters`)")
    console.print(f"districts below it: {', '.join(failing) if failing else 'none'}")
    if gaps:
        console.print(f"shelter_gaps: {built:,} areas where residents have no place within "
                      "walking range")
    console.print(f"done in {time.perf_counter() - started:.1f} s")
