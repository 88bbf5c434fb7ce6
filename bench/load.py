"""How fast the demonstration dataset loads: COPY (what `onemap seed` uses) against row-by-row
INSERT (executemany), on the same rows, into the same PostGIS, in one run.

    .venv/bin/python bench/load.py [--repeat 3]

Uses a throw-away database `onemap_bench` on the embedded cluster (or ONEMAP_DATABASE_URL's
server) and drops it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import track
from rich.table import Table
from scratch import throwaway_database

from geodata.boundaries import demonstration_districts, load_districts
from geodata.demo.seed import (
    COLUMNS,
    LAYERS,
    _ewkb_wgs84,
    _value,
    copy_rows,
    districts_frame,
    generate,
)

BENCH_DB = "onemap_bench"


def insert_rows(conn, table: str, rows: list[dict]) -> int:
    cols = COLUMNS[table]
    geoms = _ewkb_wgs84([r["geom"] for r in rows])
    query = sql.SQL("INSERT INTO {} ({}, synthetic, geom) VALUES ({}, true, %s::geometry)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    with conn.cursor() as cur:
        cur.executemany(query, [[_value(r[c]) for c in cols] + [g] for r, g in zip(rows, geoms)])
    return len(rows)


def _clear(conn) -> None:
    for table in reversed(LAYERS):
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with throwaway_database(BENCH_DB) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            load_districts(conn, demonstration_districts())
        with psycopg.connect(url) as conn:
            t0 = time.perf_counter()
            data = generate(districts_frame(conn))
            gen_s = time.perf_counter() - t0
            rows = sum(len(data[t]) for t in LAYERS)
            times = {"COPY": [], "INSERT (executemany)": []}
            for _ in track(range(args.repeat), description="loading", console=console):
                for name, load in (("COPY", copy_rows), ("INSERT (executemany)", insert_rows)):
                    _clear(conn)
                    t0 = time.perf_counter()
                    for table in LAYERS:
                        load(conn, table, data[table])
                    conn.commit()
                    times[name].append(time.perf_counter() - t0)
    table = Table(title=f"loading {rows:,} rows of the demonstration dataset ({args.repeat} runs)")
    for col in ("method", "median s", "min s", "max s", "rows/s"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, ts in times.items():
        med = statistics.median(ts)
        table.add_row(name, f"{med:.2f}", f"{min(ts):.2f}", f"{max(ts):.2f}", f"{rows / med:,.0f}")
    console.print(f"generation: {gen_s:.1f} s")
    console.print(table)
    ratio = statistics.median(times["INSERT (executemany)"]) / statistics.median(times["COPY"])
    console.print(f"COPY is {ratio:.1f}× faster than INSERT")


if __name__ == "__main__":
    main()
