"""`onemap fire-coverage [DISTRICT]`: residents and built-up land a fire crew reaches within
the response time, per district, as a table."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from geodata.db import connect
from layers.commander.fire import analyse, load_fire_rules
from layers.commander.fire_layer import coverage_rows, store_coverage
from layers.commander.travel import load_travel
from service.cli import app, console


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


def _row(name: str, entry: dict) -> list[str]:
    return [name, f"{entry['stations']:,}", f"{entry['residents']:,}",
            f"{entry['covered_residents']:,}", _percent(entry["share_covered"]),
            f"{entry['built_up_km2']:,.1f}", f"{entry['built_up_outside_km2']:,.1f}",
            f"{entry['built_up_outside_residents']:,}"]


def _stations_table(stations: list[dict]) -> Table:
    table = Table(title="消防站 stations: first-due area against GB 51080-2015 §4.1.3",
                  show_edge=False, pad_edge=False)
    for i, column in enumerate(("站 station", "区 district", "area type", "reach km²",
                                "first-due km²", "limit km²", "residents reached")):
        table.add_column(column, justify="left" if i < 3 else "right", no_wrap=True)
    for s in stations:
        over = "[red]" if s["over_area_limit"] else ""
        table.add_row(s["code"], s["district_code"], s["area_type"], f"{s['reach_km2']:.2f}",
                      f"{over}{s['first_due_km2']:.2f}", f"{s['area_limit_km2']:g}",
                      f"{s['reach_residents']:,}")
    return table


@app.command("fire-coverage")
def fire_coverage(
    district: str | None = typer.Argument(None, help="A district code (e.g. 610113): that "
                                                     "district and its stations."),
    rebuild: bool = typer.Option(False, "--rebuild",
                                 help="Also rebuild the fire_coverage layer now."),
    stations: bool = typer.Option(False, "--stations",
                                  help="Also list every station against the area limit."),
) -> None:
    """Residents and built-up land that fire crews reach within 5 minutes of dispatch."""
    started = time.perf_counter()
    model, rules = load_travel(), load_fire_rules()
    with connect() as conn:
        cover = analyse(conn, model, rules)
        if rebuild:
            with conn.transaction():
                built = store_coverage(conn, coverage_rows(cover, rules), cover.reach.method,
                                       model.fire_response_s, cover.inputs.synthetic)
    result = cover.report
    entries = result.districts
    if district is not None:
        entries = [d for d in entries if d["district_code"] == district]
        if not entries:
            known = ", ".join(d["district_code"] for d in result.districts)
            raise typer.BadParameter(f"no district with code {district!r}; districts: {known}",
                                     param_hint="DISTRICT")
    p = result.parameters
    table = Table(title=f"消防 {p['response_s']:g} s 到达 fire crews within "
                        f"{p['response_s']:g} s of dispatch, by district",
                  show_edge=False, pad_edge=False)
    for column in ("区县\ndistrict", "消防站\nstations", "人口\nresidents",
                   "可达人口\ncovered", "比例\nshare", "建成区 km²\nbuilt-up",
                   "未覆盖 km²\noutside", "未覆盖人口\nresidents outside"):
        table.add_column(column, justify="left" if column.startswith("区县") else "right",
                         no_wrap=True)
    for entry in entries:
        table.add_row(*_row(entry["name"], entry))
    if district is None:
        table.add_section()
        table.add_row(*_row("全市 city", result.city))
    console.print(table)
    if stations:
        console.print(_stations_table([s for s in result.stations
                                       if district is None or s["district_code"] == district]))
    reach = ", ".join(f"{kind} {metres:,} m" for kind, metres in p["reach_m"].items())
    how = (f"estimate: straight line × {model.detour_factor:g} / speed of the slower end; "
           f"reach {reach}" if p["method"] == "estimate" else
           f"over the road network, {p['travel']['edges']:,} roads; straight legs off "
           f"them at {p['travel']['access_speed_kmh']:g} km/h, at most "
           f"{p['travel']['max_access_m']:g} m")
    console.print(f"standard: {p['standard']}: {p['rule']}; {p['turnout_s']:g} s to turn out, "
                  f"{p['driving_s']:g} s driving ({how})")
    console.print(f"built-up: cells with at least {p['built_up_per_km2']:,.0f} residents per "
                  "km² (a planning assumption)")
    over = result.city["stations_over_area_limit"]
    console.print(f"stations whose first-due area exceeds {rules.area_limit_km2:g} km² "
                  f"({rules.edge_area_limit_km2:g} km² at the urban edge): {over} of "
                  f"{result.city['stations']}" + ("" if stations else " (--stations lists them)"))
    if rebuild:
        console.print(f"fire_coverage: {built:,} areas stored")
    console.print(f"done in {time.perf_counter() - started:.1f} s")
