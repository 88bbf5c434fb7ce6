"""How fast `GET /analysis/resources/nearest` answers, warm, one request at a time, against the
database's floor (the same KNN candidates query alone, prepared, on one connection), in one
run. Goal: p95 under 50 ms.

    .venv/bin/python bench/nearest.py [--requests 300] [--url URL]

The service runs in a uvicorn process of its own (uvloop and httptools, as `onemap serve`
does); the client is a blocking HTTP/1.1 keep-alive socket, so it costs next to nothing.
Points are drawn at random over the centre, inside the grid below (fixed seed), types in
turn, k = 5.
Measured twice: with the estimate (no roads, as the demonstration data), then over a
generated grid of roads (`--grid-m` apart over 24 × 24 km of the centre, one road in ten
one-way) routed with pgRouting. Without --url, runs on a throw-away database
`onemap_bench_nearest` (seeded here, dropped at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import psycopg
from rich.console import Console
from rich.table import Table
from scratch import throwaway_database

from geodata.demo.seed import seed_database
from layers.commander.nearest import _CANDIDATES, RESOURCE_TYPES
from layers.commander.network import build_network

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "onemap_bench_nearest"
GOAL_MS = 50.0
CENTRE = (108.94, 34.26)
SPREAD = (0.11, 0.09)           # degrees either side of the centre: inside the grid of roads

GRID = """
INSERT INTO roads (code, class, speed_kmh, oneway, geom)
SELECT format('G%%s-%%s-%%s', d, i, j), 'secondary', 30 + 10 * ((i + j) %% 3),
       (i * 7 + j) %% 10 = 0,
       ST_Transform(ST_SetSRID(CASE WHEN d = 0
           THEN ST_MakeLine(ST_MakePoint(x0 + i * %(m)s, y0 + j * %(m)s),
                            ST_MakePoint(x0 + (i + 1) * %(m)s, y0 + j * %(m)s))
           ELSE ST_MakeLine(ST_MakePoint(x0 + j * %(m)s, y0 + i * %(m)s),
                            ST_MakePoint(x0 + j * %(m)s, y0 + (i + 1) * %(m)s)) END,
           4545), 4326)
FROM (SELECT ST_X(c) - 12000 AS x0, ST_Y(c) - 12000 AS y0
      FROM ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), 4545) c) o,
     generate_series(0, 1) d, generate_series(0, %(n)s - 1) i, generate_series(0, %(n)s) j
"""


class Server:
    """The app served by uvicorn on a free loopback port."""

    def __init__(self, url: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {**os.environ, "ONEMAP_DATABASE_URL": url,
                    "ONEMAP_GRADING_INTERVAL_SECONDS": "0"}

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory",
             "--port", str(self.port), "--log-level", "warning", "--loop", "uvloop",
             "--http", "httptools"], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Client:
    """HTTP/1.1 keep-alive GETs over one socket (answers with Content-Length)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        status = int(self.file.readline().split()[1])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, self.file.read(length)


def points(n: int) -> list[tuple[float, float, str]]:
    rng = random.Random(610100)
    return [(CENTRE[0] + rng.uniform(-SPREAD[0], SPREAD[0]),
             CENTRE[1] + rng.uniform(-SPREAD[1], SPREAD[1]),
             RESOURCE_TYPES[i % len(RESOURCE_TYPES)]) for i in range(n)]


def summary(ms: list[float]) -> tuple[float, float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))], ms[-1]


def over_http(port: int, n: int) -> tuple[list[float], str]:
    """Milliseconds per request, and the share of items timed over the network."""
    client, out, methods = Client(port), [], []
    for lon, lat, rtype in points(30):      # warm: caches, prepared statements
        client.get(f"/analysis/resources/nearest?lon={lon}&lat={lat}&type={rtype}")
    for lon, lat, rtype in points(n):
        start = time.perf_counter()
        status, body = client.get(f"/analysis/resources/nearest?lon={lon}&lat={lat}"
                                  f"&type={rtype}&k=5")
        out.append((time.perf_counter() - start) * 1000)
        assert status == 200, body
        methods += [item["method"] for item in json.loads(body)["items"]]
    return out, f"{methods.count('network') / len(methods):.0%}"


def floor(url: str, n: int) -> list[float]:
    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i, (lon, lat, rtype) in enumerate(points(30) + points(n)):
            start = time.perf_counter()
            conn.execute(_CANDIDATES, {"lon": lon, "lat": lat, "type": rtype, "limit": 21},
                         prepare=True).fetchall()
            if i >= 30:
                out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--grid-m", type=float, default=250.0)
    parser.add_argument("--url", help="a seeded database (default: a throw-away one)")
    args = parser.parse_args()
    console = Console()
    if args.url:
        run(args.url, args, console, build_grid=False)
        return
    with throwaway_database(BENCH_DB) as url:
        with psycopg.connect(url) as conn:
            seed_database(conn, replace=True, progress=False)
        run(url, args, console, build_grid=True)


def run(url: str, args, console: Console, build_grid: bool) -> None:
    table = Table(title=f"nearest, {args.requests} requests one at a time, k = 5 (ms)")
    for column in ("run", "median", "p95", "max", "items over roads"):
        table.add_column(column, justify="right" if column in ("median", "p95", "max") else "left")

    def row(name, ms, share=""):
        med, p95, top = summary(ms)
        table.add_row(name, f"{med:.2f}", f"{p95:.2f}" + (" ✓" if p95 < GOAL_MS else " ✗"),
                      f"{top:.2f}", share)

    row("database floor: KNN query alone", floor(url, args.requests))
    with Server(url) as server:
        ms, methods = over_http(server.port, args.requests)
    row("service, estimate", ms, methods)
    if build_grid:
        n = int(24000 // args.grid_m)
        with psycopg.connect(url) as conn:
            conn.execute(GRID, {"m": args.grid_m, "n": n, "lon": CENTRE[0], "lat": CENTRE[1]})
            report = build_network(conn)
            conn.execute("ANALYZE roads")
        console.print(report.summary())
        with Server(url) as server:
            ms, methods = over_http(server.port, args.requests)
        row(f"service, network of {report.roads:,} roads", ms, methods)
    console.print(table)


if __name__ == "__main__":
    main()
