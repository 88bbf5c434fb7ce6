"""How fast the shelter analysis is: loading its inputs (cold) and `analyse` on loaded inputs
(warm: 13 districts, 204 sub-districts, per-class and joint coverage), against the same
per-area figures computed by raw PostGIS SQL, in one run. Goal: analysis under 1 s warm.

    .venv/bin/python bench/shelters.py [--repeat 5] [--url URL]

The peer loads the population cells into a temporary table (points in EPSG:4545 with their
residents, GiST index, ANALYZE; timed apart), then one statement gives every district's and
sub-district's residents and shelter area (spatial joins) and the residents within the class
radius of any shelter (ST_DWithin). It ignores shelters' capacity, which is less work than
the analysis does, not more. Without --url, runs on a throw-away database
`onemap_bench_shelters` (seeded here, dropped at the end); with --url, only temporary tables
are made there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from scratch import throwaway_database

from geodata.demo.seed import seed_database
from layers.shelters.analysis import analyse
from layers.shelters.inputs import Surface, load_shelters, load_surface
from layers.shelters.standards import CLASSES, ShelterStandards, load_standards

BENCH_DB = "onemap_bench_shelters"
GOAL_S = 1.0

LOAD_CELLS = """
DROP TABLE IF EXISTS pop_cells;
CREATE TEMP TABLE pop_cells (id integer PRIMARY KEY, residents float8 NOT NULL,
                             geom geometry(Point, 4545) NOT NULL);
"""

# One statement for both levels. Cells belong to the areas whose polygon they touch (the
# analysis: whose polygon holds the cell's centre; the same but for centres on a boundary).
# Polygons are cut with ST_Subdivide, PostGIS's usual speed-up for point-in-polygon joins
# (small pieces, tight index boxes); a district's shelter area counts the shelters' own
# district_code, as the analysis does.
FIGURES = """
WITH radius(class, radius_m) AS (SELECT * FROM unnest(%(classes)s::text[], %(radii)s::float8[])),
sites AS MATERIALIZED (
    SELECT s.class, ST_Transform(s.geom, 4545) AS geom, r.radius_m
    FROM shelters s JOIN radius r USING (class)),
reached AS (
    SELECT c.id, bool_or(s.class = 'emergency') AS emergency, bool_or(s.class = 'fixed') AS fixed,
           bool_or(s.class = 'central') AS central
    FROM sites s JOIN pop_cells c ON ST_DWithin(c.geom, s.geom, s.radius_m)
    GROUP BY c.id),
areas AS MATERIALIZED (
    SELECT 'district' AS level, code, ST_Subdivide(ST_Transform(geom, 4545), 64) AS geom FROM districts
    UNION ALL
    SELECT 'subdistrict', code, ST_Subdivide(ST_Transform(geom, 4545), 64) FROM subdistricts),
residents AS (
    SELECT a.level, a.code, sum(c.residents) AS residents,
           coalesce(sum(c.residents) FILTER (WHERE r.id IS NOT NULL), 0) AS covered,
           coalesce(sum(c.residents) FILTER (WHERE r.emergency), 0) AS emergency,
           coalesce(sum(c.residents) FILTER (WHERE r.fixed), 0) AS fixed,
           coalesce(sum(c.residents) FILTER (WHERE r.central), 0) AS central
    FROM areas a JOIN pop_cells c ON ST_Intersects(a.geom, c.geom)
    LEFT JOIN reached r ON r.id = c.id
    GROUP BY a.level, a.code),
shelter_area AS (
    SELECT 'district' AS level, district_code AS code, sum(effective_area_m2) AS area_m2
    FROM shelters GROUP BY district_code
    UNION ALL
    SELECT 'subdistrict', b.code, sum(s.effective_area_m2)
    FROM subdistricts b JOIN shelters s ON ST_Covers(b.geom, s.geom) GROUP BY b.code)
SELECT r.level, r.code, round(r.residents) AS residents, coalesce(a.area_m2, 0) AS area_m2,
       coalesce(a.area_m2, 0) / nullif(r.residents, 0) AS per_resident,
       coalesce(a.area_m2, 0) >= %(standard)s * r.residents AS meets,
       greatest(0, %(standard)s * r.residents - coalesce(a.area_m2, 0)) AS deficit_m2,
       r.covered / nullif(r.residents, 0) AS coverage,
       r.emergency / nullif(r.residents, 0), r.fixed / nullif(r.residents, 0),
       r.central / nullif(r.residents, 0)
FROM residents r LEFT JOIN shelter_area a USING (level, code)
ORDER BY r.level, r.code
"""


def load_cells(conn: psycopg.Connection, surface: Surface) -> None:
    """The peer's input: the populated cells as indexed points in a temporary table."""
    conn.execute(LOAD_CELLS)
    with conn.cursor().copy("COPY pop_cells (id, residents, geom) FROM STDIN") as copy:
        for i, (x, y, p) in enumerate(zip(surface.x.tolist(), surface.y.tolist(),
                                          surface.population.tolist())):
            copy.write_row((i, p, f"SRID=4545;POINT({x} {y})"))
    conn.execute("CREATE INDEX ON pop_cells USING gist (geom)")
    conn.execute("ANALYZE pop_cells")
    conn.commit()


def sql_figures(conn: psycopg.Connection, standards: ShelterStandards) -> list[tuple]:
    params = {"classes": list(CLASSES), "radii": [standards.classes[c].radius_m for c in CLASSES],
              "standard": standards.per_resident_m2}
    return conn.execute(FIGURES, params).fetchall()


def timed(fn: Callable, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def agreement(report, rows: list[tuple]) -> list[str]:
    """How the peer's figures compare with the analysis' (a check that both did the work)."""
    ours = {(level, a["code"]): a for level, areas in (("district", report.districts),
                                                      ("subdistrict", report.subdistricts))
            for a in areas}
    theirs = {(r[0], r[1]): r for r in rows}
    common = ours.keys() & theirs.keys()
    people = np.array([abs(ours[k]["population"] - theirs[k][2]) for k in common])
    verdicts = sum(ours[k]["meets_standard"] == theirs[k][5] for k in common)
    gaps = [(theirs[k][7] or 0) - (ours[k]["coverage"]["all"] or 0) for k in common]
    same = "the same residents in every area" if not people.any() else (
        f"residents per area differ by at most {people.max():,.0f} (cells centred on a boundary)")
    return [
        f"areas in both: {len(common)} of {len(ours)} (analysis) and {len(theirs)} (SQL); {same}",
        f"pass/fail agrees in {verdicts} of {len(common)} areas",
        (f"SQL coverage exceeds the analysis' by {np.median(gaps):.1%} (median, up to "
         f"{max(gaps):.1%}): SQL counts everyone within reach, the analysis only those a "
         "shelter has room for"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="an already seeded database (default: a throw-away copy)")
    args = parser.parse_args()
    console = Console()
    if args.url:
        run(console, args.url, args.repeat)
        return
    with throwaway_database(BENCH_DB) as url:
        with psycopg.connect(url) as conn, console.status("seeding the benchmark database …"):
            seed_database(conn, progress=False)
        run(console, url, args.repeat)


def run(console: Console, url: str, repeat: int) -> None:
    standards = load_standards()
    # other work on the machine moves every figure: say how busy it was
    console.print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    names = ("load_surface (cold)", "load_shelters (cold)", "inputs together (cold)",
             "analyse (warm)", "SQL: cells into temp table", "SQL: per-area figures")
    timings: dict[str, list[float]] = {n: [] for n in names}
    with psycopg.connect(url) as conn, Progress(console=console, transient=True) as progress:
        task = progress.add_task("warm-up", total=repeat + 1)
        for i in range(repeat + 1):  # round 0 warms up caches and imports; not counted
            progress.update(task, description=f"round {i}/{repeat}: loading inputs")
            surface, t_surface = timed(load_surface, conn)
            shelters, t_shelters = timed(load_shelters, conn)
            conn.commit()
            progress.update(task, description=f"round {i}/{repeat}: analyse")
            report, t_analyse = timed(analyse, surface, shelters, standards)
            progress.update(task, description=f"round {i}/{repeat}: SQL peer")
            _, t_cells = timed(load_cells, conn, surface)
            rows, t_sql = timed(sql_figures, conn, standards)
            conn.commit()
            if i:
                for name, t in zip(names, (t_surface, t_shelters, t_surface + t_shelters,
                                           t_analyse, t_cells, t_sql)):
                    timings[name].append(t)
            progress.advance(task)
    console.print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    show(console, timings, report, rows, surface, shelters, repeat)


def show(console, timings, report, rows, surface, shelters, repeat) -> None:
    levels = {level: sum(r[0] == level for r in rows) for level in ("district", "subdistrict")}
    table = Table(title=f"shelter analysis: {len(report.districts)} districts, "
                        f"{len(report.subdistricts)} sub-districts, {len(surface.population):,} "
                        f"populated cells, {len(shelters):,} shelters ({repeat} runs)")
    for col in ("step", "median s", "min s", "max s"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for name, ts in timings.items():
        table.add_row(name, f"{statistics.median(ts):.3f}", f"{min(ts):.3f}", f"{max(ts):.3f}")
    console.print(table)
    med = {n: statistics.median(ts) for n, ts in timings.items()}
    console.print(f"SQL peer: {levels['district']} districts and {levels['subdistrict']} "
                  "sub-districts; it ignores capacity (less work than the analysis, not more)")
    for line in agreement(report, rows):
        console.print(f"  {line}")
    console.print(f"analyse (warm) is {med['SQL: per-area figures'] / med['analyse (warm)']:.1f}× "
                  "faster than the SQL statement; inputs + analyse "
                  f"{med['inputs together (cold)'] + med['analyse (warm)']:.2f} s against SQL "
                  f"cells + statement {med['SQL: cells into temp table'] + med['SQL: per-area figures']:.2f} s")
    worst = max(timings["analyse (warm)"])
    met = "met" if med["analyse (warm)"] < GOAL_S else "NOT met"
    console.print(f"goal, all districts with sub-districts and coverage under {GOAL_S:g} s warm: "
                  f"[bold]{met}[/bold] (median {med['analyse (warm)']:.3f} s, slowest {worst:.3f} s)")


if __name__ == "__main__":
    main()
