"""How fast the commander's answers are: the nearest help and the situation around a point,
warm, through a real uvicorn process, against the raw database doing the same work.

    .venv/bin/python bench/commander.py [--repeat 3] [--points 300]

A fixed list of points in the city (two thirds jittered around risk units, where incidents
are, one third spread evenly over the districts; seeded, so the same each run) is asked at
concurrency 1 and 8 by the minimal asyncio HTTP/1.1 keep-alive client of `bench/tiles.py`:
`GET /analysis/resources/nearest` (the six types in turn, k=5), `GET /analysis/situation`
at the default 1 km and at the 5 km cap. One uvicorn process on uvloop and httptools, as
`onemap serve` runs, started on a free port and stopped by PID. Goal: p95 < 50 ms.

The peer is the floor: the statements the service sends PostgreSQL for each request
(recorded by running the same plans once), replayed prepared on one connection per client,
with no HTTP and no Python between them; for the situation also one statement summing the
population cells by ring in PostGIS (the service does that in numpy), checked to give the
same residents; "raw SQL, no rings" is the service's own statements alone. The database is
a throw-away seed of the demonstration data with 400 alarms not closed (300 open, 100
acknowledged, a quarter of them red) and 2,000 closed ones.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import urllib.request

import numpy as np
import psycopg
from pyproj import CRS
from rich.console import Console
from rich.table import Table
from scratch import throwaway_database
from tiles import (
    ROOT,
    STACKS,
    Run,
    Server,
    free_port,
    load,
    on_connections,
    uvicorn_argv,
)

from geodata.datums import WGS84, transformer
from geodata.demo.seed import seed_database
from geodata.population import RASTER_NAME, cell_centres
from geodata.rasters import load_raster
from layers.commander.lockstep import BatchPlan, together
from layers.commander.nearest import RESOURCE_TYPES, search
from layers.commander.population_rings import ring_edges
from layers.commander.routing import road_network
from layers.commander.situation import load_rules, situation_plan
from layers.commander.travel import DensityLookup, load_travel
from layers.grading import regrade

BENCH_DB = "onemap_bench_commander"
CONCURRENCY = (1, 8)
NEAREST_K = 5
GOAL_MS = 50.0


# -- the database ------------------------------------------------------------------------------

def prepare_database(url: str, console: Console) -> None:
    """Seed, grade, add alarms, and a table of population cells for the SQL peer."""
    with psycopg.connect(url) as conn:
        console.print("seeding the benchmark database …")
        seed_database(conn, progress=False)
        regrade(conn, requested_by="bench")
        conn.execute("""
            INSERT INTO alarms (monitoring_point_id, grade, state, acknowledged_at, raised_at,
                                district_code, geom, synthetic)
            SELECT id, (ARRAY['red','orange','yellow','blue'])[1 + (n % 4)],
                   CASE WHEN n % 4 = 3 THEN 'acknowledged' ELSE 'open' END,
                   CASE WHEN n % 4 = 3 THEN now() END, now() - n * interval '1 minute',
                   district_code, geom, true
            FROM (SELECT id, district_code, geom, row_number() OVER (ORDER BY md5(id::text)) AS n
                  FROM monitoring_points) p WHERE n <= 400""")
        conn.execute("""
            INSERT INTO alarms (monitoring_point_id, grade, state, raised_at, closed_at,
                                closed_by, district_code, geom, synthetic)
            SELECT id, 'yellow', 'closed', now() - interval '3 days', now() - interval '2 days',
                   'bench', district_code, geom, true
            FROM monitoring_points ORDER BY md5(id::text || 'closed') LIMIT 2000""")
        raster = load_raster(conn, RASTER_NAME)
        xs, ys = cell_centres(raster.transform, raster.shape)
        rows, cols = np.nonzero(raster.values > 0)
        # the cells' centres projected as the service projects them (pyproj)
        lons, lats = transformer(CRS.from_user_input(raster.crs), WGS84).transform(
            xs[cols], ys[rows])
        conn.execute("CREATE TABLE bench_cells (residents float8 NOT NULL, "
                     "geog geography(Point, 4326) NOT NULL)")
        with conn.cursor().copy("COPY bench_cells (residents, geog) FROM STDIN") as copy:
            for value, lon, lat in zip(raster.values[rows, cols].tolist(), lons.tolist(),
                                       lats.tolist()):
                copy.write_row((value, f"SRID=4326;POINT({lon!r} {lat!r})"))
        conn.execute("CREATE INDEX ON bench_cells USING gist (geog)")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def sample_points(url: str, n: int) -> list[tuple[float, float]]:
    """`n` fixed points in the districts: 2/3 near risk units, 1/3 spread evenly."""
    rng = random.Random(20261123)
    with psycopg.connect(url) as conn:
        units = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) "
                             "AS p FROM risk_units) s ORDER BY md5(id::text)").fetchall()
        near = [(lon + rng.uniform(-0.005, 0.005), lat + rng.uniform(-0.005, 0.005))
                for lon, lat in rng.sample(units, 2 * n // 3)]
        even = conn.execute("SELECT ST_X(g), ST_Y(g) FROM ST_Dump(ST_GeneratePoints("
                            "(SELECT ST_Union(geom) FROM districts), %s, 20261123)) d(p, g)",
                            [n - len(near)]).fetchall()
        points = near + [tuple(p) for p in even]
        inside = [conn.execute("SELECT EXISTS (SELECT 1 FROM districts WHERE "
                               "ST_Intersects(geom, ST_Point(%s, %s, 4326)))", p).fetchone()[0]
                  for p in points]
    points = [p for p, ok in zip(points, inside) if ok]
    rng.shuffle(points)
    return points


# -- the peer: the same statements, prepared, straight to PostgreSQL ----------------------------

def record(conn: psycopg.Connection, plan: BatchPlan) -> list[list[tuple]]:
    """The batches of statements a batch plan sends, in order (running it once)."""
    sent = []
    try:
        batch = next(plan)
        while True:
            sent.append(batch)
            batch = plan.send([conn.execute(query, params).fetchall() for query, params in batch])
    except StopIteration:
        return sent


RINGS_SQL = """
SELECT e, coalesce(sum(residents) FILTER (WHERE d <= e), 0)
FROM (SELECT residents, ST_Distance(geog, ST_Point(%(lon)s, %(lat)s, 4326)::geography) AS d
      FROM bench_cells WHERE ST_DWithin(geog, ST_Point(%(lon)s, %(lat)s, 4326)::geography,
                                        %(radius)s)) c,
     unnest(%(edges)s::float8[]) AS e
GROUP BY e ORDER BY e"""


FLOOR = "raw SQL (floor)"
STATEMENTS_ONLY = "raw SQL, no rings"


def nearest_plan(lon: float, lat: float, rtype: str, model, density):
    """What the nearest endpoint asks the database, in order."""
    network = yield from road_network()  # as the endpoint asks, every time
    return (yield from search(lon, lat, rtype, NEAREST_K, model, density, network))


def workloads(url: str, points: list[tuple[float, float]]) -> dict[str, tuple[list, dict]]:
    """Per workload: the request paths, and per peer the statements of each request."""
    rules, model = load_rules(), load_travel()
    out: dict[str, tuple[list, list]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        raster = load_raster(conn, RASTER_NAME)
        density = DensityLookup(raster)
        paths, sent = [], []
        for i, (lon, lat) in enumerate(points):
            rtype = RESOURCE_TYPES[i % len(RESOURCE_TYPES)]
            paths.append(f"/analysis/resources/nearest?lon={lon:.6f}&lat={lat:.6f}&type={rtype}"
                         f"&k={NEAREST_K}")

            sent.append(record(conn, together(nearest_plan(round(lon, 6), round(lat, 6), rtype,
                                                           model, density))))
        out["nearest"] = (paths, {FLOOR: sent})
        for radius in (1000, 5000):
            paths, sent, bare = [], [], []
            for lon, lat in points:
                paths.append(f"/analysis/situation?lon={lon:.6f}&lat={lat:.6f}&radius_m={radius}")
                statements = record(conn, situation_plan(
                    round(lon, 6), round(lat, 6), float(radius), rules, model, density,
                    raster, None))
                bare.append(statements)
                edges = ring_edges(radius, rules.ring_steps_m)
                # with the circle's statement: the service does this in numpy, no round trip
                rings = (RINGS_SQL, {"lon": round(lon, 6), "lat": round(lat, 6),
                                     "radius": float(radius), "edges": edges})
                sent.append([statements[0] + [rings], *statements[1:]])
            out[f"situation {radius // 1000} km"] = (paths, {FLOOR: sent, STATEMENTS_ONLY: bare})
    return out


async def raw(url: str, requests: list[list[list[tuple]]], concurrency: int) -> Run:
    """The floor: each request's statements, prepared, batch by batch in a pipeline as the
    service sends them, one connection per client."""

    async def answer(conn, batches) -> int:
        size = 0
        for batch in batches:
            async with conn.pipeline():
                cursors = [await conn.execute(query, params, prepare=True)
                           for query, params in batch]
            for cursor in cursors:
                size += len(await cursor.fetchall())
        return size

    return await on_connections(url, requests, concurrency, answer, warm=20)


def same_residents(url: str, points: list[tuple[float, float]], port: int) -> str:
    """Whether the SQL peer's residents by ring equal the service's, on a few points."""
    import json

    rules = load_rules()
    checked = differ = 0
    with psycopg.connect(url) as conn:
        for lon, lat in points[:25]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/analysis/situation?"
                                        f"lon={lon:.6f}&lat={lat:.6f}&radius_m=2000") as got:
                service = [r["cumulative"] for r in json.load(got)["population"]["rings"]]
            edges = ring_edges(2000, rules.ring_steps_m)
            rows = conn.execute(RINGS_SQL, {"lon": round(lon, 6), "lat": round(lat, 6),
                                            "radius": 2000.0, "edges": edges}).fetchall()
            sql = [round(v) for _, v in rows]
            checked += 1
            differ += sql != service
    return f"{checked - differ} of {checked} points give the same residents by ring"


# -- main --------------------------------------------------------------------------------------

def onemap_server(url: str, stack: str) -> Server:
    port = free_port()
    server = Server("onemap", port, None)
    server.start(uvicorn_argv(sys.executable, "service.app:create_app", port, stack, True),
                 {"ONEMAP_DATABASE_URL": url, "ONEMAP_GRADING_INTERVAL_SECONDS": "0"},
                 "/healthz")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--http", choices=list(STACKS), default="httptools")
    args = parser.parse_args()
    console = Console()
    servers: list[Server] = []
    with throwaway_database(BENCH_DB) as url:
        try:
            prepare_database(url, console)
            points = sample_points(url, args.points)
            loads = workloads(url, points)
            console.print(f"{len(points)} points; statements (round trips) per request, "
                          "median: " + ", ".join(
                              f"{k} {statistics.median(sum(map(len, s)) for s in v[1][FLOOR]):.0f} "
                              f"({statistics.median(len(s) for s in v[1][FLOOR]):.0f})"
                              for k, v in loads.items()))
            trivial = Server("trivial", free_port(), None)
            servers.append(trivial)
            trivial.start([sys.executable, str(ROOT / "bench" / "tiles.py"), "--serve-trivial",
                           str(trivial.port)], {}, "/")
            server = onemap_server(url, args.http)
            servers.append(server)
            for paths, _ in loads.values():  # warm: the shelter analysis, density, statements
                asyncio.run(load(server.port, paths, 8))
            console.print(same_residents(url, points, server.port))
            results: dict[tuple[str, str, int], list[Run]] = {}
            for _ in range(args.repeat):
                for name, (paths, peers) in loads.items():
                    for c in CONCURRENCY:
                        for peer, sent in peers.items():
                            results.setdefault((name, peer, c), []).append(
                                asyncio.run(raw(url, sent, c)))
                        results.setdefault((name, "onemap", c), []).append(
                            asyncio.run(load(server.port, paths, c)))
                for c in CONCURRENCY:
                    results.setdefault(("-", "client ceiling", c), []).append(
                        asyncio.run(load(trivial.port, ["/"] * len(points), c)))
            report(console, results, args.repeat)
        finally:
            for server in servers:
                server.stop()


def report(console: Console, results: dict, repeat: int) -> None:
    table = Table(title=f"latency, median of {repeat} runs (min–max of the runs' p95)")
    for column in ("workload", "server", "c", "req/s", "p50 ms", "p95 ms", "p95 range",
                   "statuses"):
        table.add_column(column)
    for (name, server, c), runs in results.items():
        p95 = [r.percentile(0.95) for r in runs]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(runs[0].statuses.items()))
        table.add_row(name, server, str(c), f"{statistics.median(r.rate for r in runs):,.0f}",
                      f"{statistics.median(r.percentile(0.5) for r in runs):.1f}",
                      f"{statistics.median(p95):.1f}", f"{min(p95):.1f}–{max(p95):.1f}",
                      statuses)
    console.print(table)
    for (name, server, c), runs in results.items():
        if server != "onemap":
            continue
        mean = statistics.median(statistics.fmean(r.latencies) for r in runs)
        p95 = statistics.median(r.percentile(0.95) for r in runs)
        against = []
        for peer in (FLOOR, STATEMENTS_ONLY):
            if (name, peer, c) in results:
                base = statistics.median(statistics.fmean(r.latencies)
                                         for r in results[(name, peer, c)])
                against.append(f"{peer} {base * 1000:.1f} ms ({mean / base:.1f}×)")
        console.print(f"{name} c={c}: mean {mean * 1000:.1f} ms against {'; '.join(against)}; "
                      f"p95 {p95:.1f} ms: {'meets' if p95 < GOAL_MS else 'misses'} the "
                      f"{GOAL_MS:.0f} ms goal")


if __name__ == "__main__":
    main()
