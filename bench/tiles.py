"""How fast vector tiles are: this service without its cache (cold) and with it (warm), against
tipg on the same database, and the raw tile statements in PostgreSQL as the floor.

    .venv/bin/python bench/tiles.py [--repeat 3] [--features 70]

The tiles z10-z16 holding a fixed sample of features (shuffled, fixed) are fetched at
concurrency 1 and 8 by a small asyncio HTTP/1.1 keep-alive client (its ceiling is measured
against a trivial asyncio server, and uvicorn's own cost against an ASGI app doing nothing). tipg 1.6.1 is installed from PyPI into `bench/.venv/tipg` and asked
for the same attributes (`?properties=`) with the same buffer (64). Each server is one
uvicorn process (uvloop and httptools, as `onemap serve` runs, or asyncio and h11 with
`--http h11`), started on a free port, stopped by PID.
The database is a throw-away copy of `onemap` (a fresh seed when `onemap` is in use).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch import copy_of_project_database, drop_database

from layers.catalogue import build_catalogue
from layers.tiling import tile_attributes
from service.tiles.grid import Tile, tile_of
from service.tiles.queries import build_query

BENCH_DB = "onemap_bench_tiles"
TIPG_VENV = ROOT / "bench" / ".venv" / "tipg"
TIPG_VERSION = "1.6.1"
LAYERS = ("risk_units", "monitoring_points")
ZOOMS = range(10, 17)
CONCURRENCY = (1, 8)


def make_database(console: Console) -> str:
    """A copy of the user's database (or a fresh seed when it is in use), migrated."""
    url = copy_of_project_database(BENCH_DB, lambda text: console.print(f"[yellow]{text}"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return url


def sample_tiles(conn: psycopg.Connection, table: str, features: int) -> list[Tile]:
    """Tiles z10-z16 holding a fixed sample of `table`'s features, deduplicated, shuffled."""
    rows = conn.execute(sql.SQL(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) AS p FROM {}) s "
        "ORDER BY md5(id::text) LIMIT %s").format(sql.Identifier(table)), [features]).fetchall()
    tiles = sorted({tile_of(lon, lat, z) for lon, lat in rows for z in ZOOMS})
    random.Random(20261123).shuffle(tiles)
    return tiles


# -- servers ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_tipg(console: Console) -> Path:
    python = TIPG_VENV / "bin" / "python"
    probe = [str(python), "-c", f"import tipg, uvicorn; assert tipg.__version__ == '{TIPG_VERSION}'"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    console.print(f"installing tipg {TIPG_VERSION} into {TIPG_VENV.relative_to(ROOT)}")
    subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"tipg=={TIPG_VERSION}",
                    "uvicorn"], check=True)
    return python


@dataclass
class Server:
    name: str
    port: int
    path: object            # Tile, layer -> request path
    process: subprocess.Popen | None = None

    def start(self, argv: list[str], env: dict[str, str], ready: str) -> None:
        # a file, not a pipe: a pipe nobody reads could fill and stop the server
        log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{self.name} stopped: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{ready}", timeout=5):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


# The HTTP stacks of uvicorn: the one `onemap serve` runs (uvicorn[standard]: C parser,
# libuv loop; installed into tipg's environment for the bench), and
# uvicorn's pure-Python one.
STACKS = {"h11": ("asyncio", "h11"), "httptools": ("uvloop", "httptools")}


def ensure_fast_http(tipg_python: Path) -> None:
    """uvloop and httptools for tipg (this project has them from uvicorn[standard])."""
    subprocess.run([str(tipg_python), "-m", "pip", "install", "--quiet", "uvloop", "httptools"],
                   check=True)


def uvicorn_argv(python: str, app: str, port: int, stack: str, factory: bool = False) -> list[str]:
    loop, http = STACKS[stack]
    return [python, "-m", "uvicorn", app, *(["--factory"] if factory else []), "--host",
            "127.0.0.1", "--port", str(port), "--loop", loop, "--http", http,
            "--log-level", "warning", "--no-access-log"]


def onemap_server(name: str, url: str, cache_bytes: int, stack: str) -> Server:
    port = free_port()
    server = Server(name, port, lambda t, layer: f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt")
    server.start(uvicorn_argv(sys.executable, "service.app:create_app", port, stack, True),
                 {"ONEMAP_DATABASE_URL": url, "ONEMAP_GRADING_INTERVAL_SECONDS": "0",
                  "ONEMAP_TILES_CACHE_BYTES": str(cache_bytes)}, "/healthz")
    return server


def tipg_server(python: Path, url: str, properties: dict[str, str], stack: str) -> Server:
    port = free_port()
    server = Server("tipg", port, lambda t, layer: (
        f"/collections/public.{layer}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
        f"?properties={properties[layer]}"))
    tables = ",".join(f'"public.{t}"' for t in LAYERS)
    server.start(uvicorn_argv(str(python), "tipg.main:app", port, stack),
                 {"DATABASE_URL": url, "TIPG_TILE_BUFFER": "64", "TIPG_DB_SCHEMAS": '["public"]',
                  "TIPG_DB_TABLES": f"[{tables}]", "PGOPTIONS": "-c jit=off"}, "/collections")
    return server


def trivial_server() -> None:
    """A raw asyncio HTTP server answering 1 kB to everything: the client's ceiling."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""

        def data_received(self, data):
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                self.transport.write(answer)

    async def serve():
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", int(sys.argv[2]))
        await server.serve_forever()
    asyncio.run(serve())


EMPTY_TILE = b"\x1a" * 2400  # the size of a risk_units tile


async def empty_tile_app(scope, receive, send) -> None:
    """An ASGI app answering a fixed tile-sized body: what uvicorn costs by itself."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/vnd.mapbox-vector-tile"),
                            (b"content-length", str(len(EMPTY_TILE)).encode())]})
    await send({"type": "http.response.body", "body": EMPTY_TILE})


# -- the load client -------------------------------------------------------------------------

@dataclass
class Run:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # which tile each latency is of
    statuses: dict[int, int] = field(default_factory=dict)
    bytes: int = 0

    def add(self, index: int, seconds: float, size: int, status: int | None = None) -> None:
        self.latencies.append(seconds)
        self.indices.append(index)
        self.bytes += size
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def _response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    if headers.get("transfer-encoding") == "chunked":
        size = 0
        while (n := int((await reader.readline()).strip(), 16)) > 0:
            size += len(await reader.readexactly(n + 2)) - 2
        await reader.readline()
        return status, size
    length = int(headers.get("content-length", 0))
    if length:
        await reader.readexactly(length)
    return status, length


async def load(port: int, paths: list[str], concurrency: int, headers: str = "") -> Run:
    """Fetch every path once, `concurrency` keep-alive connections pulling from one list."""
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode() for p in paths]
    todo = iter(range(len(requests)))
    run = Run(0.0)

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in todo:
            started = time.perf_counter()
            writer.write(requests[i])
            status, size = await _response(reader)
            run.add(i, time.perf_counter() - started, size, status)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


async def on_connections(url: str, items: list, concurrency: int, answer, warm: int) -> Run:
    """Time `answer(conn, item)` (its size) for every item, `concurrency` connections taking
    the next item in turn; each connection first answers `warm` items (its statements
    prepared, as in a running service)."""
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(concurrency)]
    todo, run = iter(enumerate(items)), Run(0.0)

    async def worker(conn):
        for i, item in todo:
            started = time.perf_counter()
            size = await answer(conn, item)
            run.add(i, time.perf_counter() - started, size)

    for conn in conns:
        for item in items[:warm]:
            await answer(conn, item)
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    run.seconds = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return run


async def raw(url: str, layer, tiles: list[Tile], concurrency: int) -> Run:
    """The floor: the service's own statements, prepared, straight to PostgreSQL."""
    query = build_query(layer)

    async def fetch(conn, t: Tile) -> int:
        text = query.text(t.z)
        cur = await conn.execute(text, query.params(t.z, t.x, t.y), prepare=text is query.single,
                                 binary=True)
        return len((await cur.fetchone())[0] or b"")

    return await on_connections(url, tiles, concurrency, fetch, warm=10)


def gzip_effect(url: str, layer, tiles: list[Tile]) -> tuple[int, int, float]:
    """Bytes raw, bytes gzipped (level 6) and ms to compress a tile, over the list."""
    query, raw_bytes, packed, seconds = build_query(layer), 0, 0, 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        for t in tiles:
            data = conn.execute(query.text(t.z), query.params(t.z, t.x, t.y)).fetchone()[0] or b""
            started = time.perf_counter()
            packed += len(gzip.compress(bytes(data), 6))
            seconds += time.perf_counter() - started
            raw_bytes += len(data)
    return raw_bytes, packed, seconds / len(tiles) * 1000


# -- main ------------------------------------------------------------------------------------

def _median(runs: list[Run], attr) -> str:
    values = [attr(r) for r in runs]
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-trivial":
        trivial_server()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--features", type=int, default=70, help="sampled features per layer")
    parser.add_argument("--http", choices=list(STACKS), default="httptools",
                        help="uvicorn's HTTP stack for both servers (httptools: as `onemap "
                             "serve` runs)")
    args = parser.parse_args()
    console = Console()
    tipg_python = ensure_tipg(console)
    if args.http != "h11":
        ensure_fast_http(tipg_python)
    url = make_database(console)
    servers: list[Server] = []
    try:
        with psycopg.connect(url) as conn:
            tiles = {layer: sample_tiles(conn, layer, args.features) for layer in LAYERS}

        async def catalogue():
            async with await psycopg.AsyncConnection.connect(url) as conn:
                return await build_catalogue(conn)
        cat = asyncio.run(catalogue())
        layers = {name: cat.get(name) for name in LAYERS}
        properties = {name: ",".join(a.name for a in tile_attributes(layer))
                      for name, layer in layers.items()}
        trivial = Server("trivial", free_port(), None)
        servers.append(trivial)
        trivial.start([sys.executable, __file__, "--serve-trivial", str(trivial.port)], {}, "/")
        empty = Server("uvicorn, no work", free_port(), None)
        servers.append(empty)
        empty.start(uvicorn_argv(sys.executable, "bench.tiles:empty_tile_app", empty.port,
                                 args.http), {"PYTHONPATH": str(ROOT)}, "/")
        servers += [onemap_server("onemap cold", url, 0, args.http),
                    onemap_server("onemap warm", url, 256 * 2**20, args.http),
                    tipg_server(tipg_python, url, properties, args.http)]
        http = servers[2:]
        results: dict[tuple[str, str, int], list[Run]] = {}
        for name, layer in layers.items():
            console.print(f"{name}: {len(tiles[name])} tiles "
                          f"({', '.join(f'z{z}: {sum(t.z == z for t in tiles[name])}' for z in ZOOMS)})")
            paths = {s.name: [s.path(t, name) for t in tiles[name]] for s in http}
            for server in http:  # connections, prepared statements, and the warm cache filled
                asyncio.run(load(server.port, paths[server.name], 8))
            for _ in range(args.repeat):
                for c in CONCURRENCY:
                    results.setdefault((name, "raw SQL", c), []).append(
                        asyncio.run(raw(url, layer, tiles[name], c)))
                    for server in http:
                        results.setdefault((name, server.name, c), []).append(
                            asyncio.run(load(server.port, paths[server.name], c)))
                    results.setdefault((name, "client ceiling", c), []).append(
                        asyncio.run(load(trivial.port, ["/"] * len(tiles[name]), c)))
                    results.setdefault((name, "uvicorn, no work", c), []).append(
                        asyncio.run(load(empty.port, ["/"] * len(tiles[name]), c)))
        console.print(f"uvicorn stack: {args.http}; {args.repeat} runs")
        report(console, results, layers, tiles, url)
    finally:
        for server in servers:
            server.stop()
        drop_database(BENCH_DB)


def report(console: Console, results, layers, tiles, url: str) -> None:
    table = Table(title="tiles/s and latency: median of the runs (min–max)")
    for column in ("layer", "server", "c", "tiles/s", "p50 ms", "p95 ms", "statuses"):
        table.add_column(column)
    for (layer, server, c), runs in results.items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(runs[0].statuses.items()))
        table.add_row(layer, server, str(c), _median(runs, lambda r: r.rate),
                      f"{statistics.median(r.percentile(0.5) for r in runs):.1f}",
                      f"{statistics.median(r.percentile(0.95) for r in runs):.1f}", statuses)
    console.print(table)
    for layer in layers:
        for c in CONCURRENCY:
            rate = {s: statistics.median(r.rate for r in results[(layer, s, c)])
                    for s in ("raw SQL", "onemap cold", "onemap warm", "tipg")}
            mean = {s: statistics.median(statistics.fmean(r.latencies) for r in results[(layer, s, c)])
                    for s in ("raw SQL", "onemap cold", "uvicorn, no work")}
            # the least any uvicorn tile server could take: the query plus uvicorn's own round trip
            floor = mean["raw SQL"] + mean["uvicorn, no work"]
            console.print(f"{layer} c={c}: cold/tipg {rate['onemap cold'] / rate['tipg']:.1f}×, "
                          f"warm/tipg {rate['onemap warm'] / rate['tipg']:.1f}×, "
                          f"cold mean latency / raw {mean['onemap cold'] / mean['raw SQL']:.2f}×, "
                          f"raw rate / cold {rate['raw SQL'] / rate['onemap cold']:.2f}×, "
                          f"cold / (raw + uvicorn alone) {mean['onemap cold'] / floor:.2f}×")
    for name, layer in layers.items():  # like for like: where both serve single features
        start = build_query(layer).individual_from
        single = {i for i, t in enumerate(tiles[name]) if t.z >= start}
        means = {server: statistics.median(
            statistics.fmean(lat for i, lat in zip(r.indices, r.latencies) if i in single) * 1000
            for r in results[(name, server, 1)]) for server in ("raw SQL", "onemap cold", "tipg")}
        console.print(f"{name}, the {len(single)} tiles of z{start}+ at c=1, mean ms: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in means.items()))
    for name, layer in layers.items():
        raw_bytes, packed, ms = gzip_effect(url, layer, tiles[name])
        console.print(f"{name}: {raw_bytes / len(tiles[name]) / 1024:.1f} kB a tile, gzip "
                      f"{packed / raw_bytes:.0%} of that, {ms:.2f} ms to compress a tile")


if __name__ == "__main__":
    main()
