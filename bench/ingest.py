"""How fast readings go in: `POST /readings` end to end against raw COPY of the same rows.

The service with its alarm rules, and binary COPY of the same rows into the same table, in
one run.

    .venv/bin/python bench/ingest.py [--repeat 3] [--rows 220000] [--clients 1,2,4]
                                     [--no-grading-on-red]

Every trial sends `--rows` readings of all 22,067 monitoring points (one reading a minute per
point, in time order, every point in turn), in batches of 5,000:
- *service*: one uvicorn process (uvloop + httptools, as `onemap serve` runs) on a free port;
  N clients, each one keep-alive HTTP/1.1 connection (a minimal asyncio client), post JSON
  batches with an operator token, taking the next batch in turn;
- *raw COPY*: the same rows, point ids resolved and encoded beforehand, each batch one
  `COPY readings FROM STDIN (FORMAT BINARY)` in its own transaction, on N connections: the
  floor of what PostgreSQL takes into the same partitioned table, with no checks, no
  duplicates' test, no alarms and no latest values;
- *retry*: the service's last batches sent again (every reading a duplicate).
Each trial has timestamps of its own (recent, within the retention, none in the future), so
nothing is a duplicate but in the retry; about 0.7% of the values reach an alarm threshold
(`layers/rules/alarms.toml`), the rest stay clear of every threshold and rise rule. After
each trial the readings of its time window are counted in `readings`: every one sent must be
there. A warm-up trial of each kind comes first and is not counted.
The database is a throw-away copy of `onemap` (a fresh seed when `onemap` is in use), its
readings and the points' latest readings cleared, so every run
starts alike; it is dropped at the end. The server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import random
import statistics
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import orjson
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch import copy_of_project_database, drop_database
from tiles import Server, free_port, uvicorn_argv

from layers.alarms.rules import AlarmRules, load_rules
from service.auth import create_token

BENCH_DB = "onemap_bench_ingest"
BATCH = 5_000
STEP = dt.timedelta(minutes=1)          # one reading a minute per point
LOCAL = dt.timezone(dt.timedelta(hours=8))  # the sensors' clocks: Beijing time
BREACH_SHARE = 0.007                    # readings reaching an alarm threshold
BREACH_GRADES = (0.80, 0.15, 0.04, 0.01)  # of those: blue, yellow, orange, red


# -- the database ----------------------------------------------------------------------------

def make_database(console: Console) -> str:
    """A copy of the user's database (a fresh seed when it is in use), migrated; its URL."""
    url = copy_of_project_database(BENCH_DB, lambda text: console.print(f"[yellow]{text}"))
    with psycopg.connect(url, autocommit=True) as conn:
        # a defined start whatever the dev database holds: no readings, no latest readings
        # (each trial's readings must be the newest of their points)
        conn.execute("TRUNCATE readings")
        conn.execute("UPDATE monitoring_latest SET ts = NULL, value = NULL, before_ts = NULL, "
                     "before_value = NULL")
        conn.execute("VACUUM FULL monitoring_latest")
        conn.execute("ANALYZE")
    return url


# -- the readings ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    id: int
    code: str
    normal: tuple[float, float]         # clear of every threshold and rise rule
    breach: tuple[float, ...]           # a value of each grade, blue to red


def load_points(conn: psycopg.Connection, rules: AlarmRules) -> list[Point]:
    rows = conn.execute(
        """SELECT p.id, p.code, p.kind, k.physical_min, k.physical_max, p.threshold_blue,
                  p.threshold_yellow, p.threshold_orange, p.threshold_red
           FROM monitoring_points p JOIN monitoring_kinds k ON k.kind = p.kind
           ORDER BY p.code""").fetchall()
    points = []
    for pid, code, kind, low, high, *own in rows:
        kind_rules = rules.kinds[kind]
        t = kind_rules.thresholds_for(tuple(own))
        up = kind_rules.direction == "above"
        sign = 1 if up else -1
        # normal values: a band just inside the clear side, narrower than any rise rule
        width = min([r.by for r in kind_rules.rises] + [abs(t[0]) or 1.0]) * 0.8
        edge = t[0] - sign * kind_rules.hysteresis * 1.2
        band = (max(low, edge - width), edge) if up else (edge, min(high, edge + width))
        # a breach of grade g: a third of the way from its threshold to the next one
        steps = [t[i] + (t[i + 1] - t[i]) / 3 for i in range(3)]
        steps.append(t[3] + sign * abs(t[3] - t[2]) / 3)
        breach = tuple(min(high, max(low, v)) for v in steps)
        points.append(Point(pid, code, band, breach))
    return points


_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_ROW = struct.Struct("!hiqiqid")


def copy_payload(rows: list[tuple[Point, dt.datetime, float]]) -> bytes:
    """The rows in PostgreSQL's binary COPY format (header, tuples, trailer)."""
    parts = [b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)]
    for point, ts, value in rows:
        delta = ts - _PG_EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        parts.append(_ROW.pack(3, 8, point.id, 8, micros, 8, value))
    parts.append(struct.pack("!h", -1))
    return b"".join(parts)


@dataclass
class Workload:
    """One trial's readings: JSON bodies for the service, COPY payloads for the peer."""

    start: dt.datetime
    end: dt.datetime
    sizes: list[int]
    bodies: list[bytes]
    payloads: list[bytes]

    @property
    def rows(self) -> int:
        return sum(self.sizes)


def make_workload(points: list[Point], rows: int, start: dt.datetime,
                  rng: random.Random) -> Workload:
    """`rows` readings from `start`, a minute apart per point, each point in turn."""
    readings = []
    slots = math.ceil(rows / len(points))
    for slot in range(slots):
        for i, point in enumerate(points):
            if len(readings) == rows:
                break
            ts = start + slot * STEP + dt.timedelta(seconds=i % 60)  # gateways not in step
            if rng.random() < BREACH_SHARE:
                value = rng.choices(point.breach, BREACH_GRADES)[0]
            else:
                value = round(rng.uniform(*point.normal), 3)
            readings.append((point, ts, value))
    batches = [readings[i:i + BATCH] for i in range(0, len(readings), BATCH)]
    bodies = [orjson.dumps([{"point": p.code, "ts": ts.astimezone(LOCAL).isoformat(),
                             "value": v} for p, ts, v in batch]) for batch in batches]
    return Workload(start, start + slots * STEP, [len(b) for b in batches], bodies,
                    [copy_payload(b) for b in batches])


def last_grading(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM grading_runs").fetchone()[0]


def stored_between(url: str, start: dt.datetime, end: dt.datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM readings WHERE ts >= %s AND ts < %s",
                            [start, end]).fetchone()[0]


# -- CPU time of the processes at work --------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far."""
    try:
        with open("/proc/stat", "rb") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU used over a trial by the service, the database's processes and the machine."""

    def __init__(self, url: str, service_pid: int | None):
        self.url, self.service_pid = url, service_pid

    def _pg_pids(self) -> list[int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                """SELECT pid FROM pg_stat_activity
                   WHERE (datname = current_database() AND pid <> pg_backend_pid())
                      OR backend_type IN ('walwriter', 'checkpointer', 'background writer',
                                          'autovacuum worker')""").fetchall()]

    def __enter__(self) -> Self:
        self.pids = self._pg_pids()
        self.pg0 = sum(cpu_seconds(p) for p in self.pids)
        self.svc0 = cpu_seconds(self.service_pid) if self.service_pid else 0.0
        self.client0 = time.process_time()
        self.machine0 = machine_busy()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.wall0
        self.pg = (sum(cpu_seconds(p) for p in self.pids) - self.pg0) / wall
        self.service = ((cpu_seconds(self.service_pid) - self.svc0) / wall
                        if self.service_pid else 0.0)
        self.client = (time.process_time() - self.client0) / wall
        busy, total = machine_busy()
        span = total - self.machine0[1]
        self.machine = (busy - self.machine0[0]) / span * (os.cpu_count() or 1) if span else 0.0


# -- the trials ------------------------------------------------------------------------------

@dataclass
class Result:
    kind: str
    clients: int
    rows: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    alarms: dict[str, int] = field(default_factory=lambda: {"opened": 0, "escalated": 0,
                                                            "closed": 0})
    statuses: dict[int, int] = field(default_factory=dict)
    stored: int = 0                     # counted in `readings` afterwards
    complete: bool = False              # every reading sent is there
    cpu: dict[str, float] = field(default_factory=dict)
    regrades: int = 0                   # gradings the service ran meanwhile (red alarms)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    if headers.get("transfer-encoding") == "chunked":
        parts = []
        while (n := int((await reader.readline()).strip(), 16)) > 0:
            parts.append((await reader.readexactly(n + 2))[:-2])
        await reader.readline()
        return status, b"".join(parts)
    return status, await reader.readexactly(int(headers.get("content-length", 0)))


async def post_batches(port: int, token: str, work: Workload, clients: int,
                       advance, meter: CpuMeter) -> Result:
    """POST every batch once, `clients` keep-alive connections taking the next in turn."""
    head = ("POST /readings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Content-Length: {length}\r\n\r\n")
    todo = iter(range(len(work.bodies)))
    result = Result("service", clients, work.rows, 0.0)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]

    async def client(reader, writer):
        for i in todo:
            body = work.bodies[i]
            started = time.perf_counter()
            writer.write(head.format(port=port, token=token, length=len(body)).encode())
            writer.write(body)
            status, payload = await _answer(reader)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                answer = orjson.loads(payload)
                result.accepted += answer["accepted"]
                result.duplicates += answer["duplicates"]
                result.rejected += len(answer["rejected"])
                for key in result.alarms:
                    result.alarms[key] += answer.get("alarms", {}).get(key, 0)
            advance()

    with meter:
        started = time.perf_counter()
        await asyncio.gather(*(client(r, w) for r, w in connections))
        result.seconds = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return result


async def copy_batches(url: str, work: Workload, clients: int, advance,
                       meter: CpuMeter) -> Result:
    """COPY every batch once, each in its own transaction, on `clients` connections."""
    conns = [await psycopg.AsyncConnection.connect(url) for _ in range(clients)]
    todo = iter(range(len(work.payloads)))
    result = Result("raw COPY", clients, work.rows, 0.0)

    async def copier(conn):
        for i in todo:
            started = time.perf_counter()
            async with conn.transaction(), conn.cursor() as cur, cur.copy(
                    "COPY readings (monitoring_point_id, ts, value) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                await copy.write(work.payloads[i])
            result.latencies.append(time.perf_counter() - started)
            result.accepted += work.sizes[i]
            advance()

    with meter:  # the connections are open: their server processes are counted
        started = time.perf_counter()
        await asyncio.gather(*(copier(c) for c in conns))
        result.seconds = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return result


@dataclass
class Bench:
    console: Console
    url: str
    server: Server
    token: str
    points: list[Point]
    rows: int
    base: dt.datetime
    rng: random.Random
    windows: int = 0                    # time windows handed out so far

    def workload(self) -> Workload:
        slots = math.ceil(self.rows / len(self.points))
        start = self.base + self.windows * slots * STEP
        self.windows += 1
        return make_workload(self.points, self.rows, start, self.rng)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the service has been idle for a second (a grading runs 1 s after it is
        asked for, and takes a second or more)."""
        pid, deadline = self.server.process.pid, time.monotonic() + timeout
        time.sleep(1.2)
        before = cpu_seconds(pid)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = cpu_seconds(pid)
            if now - before < 0.05:
                return
            before = now

    def run(self, kind: str, clients: int, work: Workload, label: str) -> Result:
        expected = stored_between(self.url, work.start, work.end) + (
            0 if kind == "retry" else work.rows)
        gradings = last_grading(self.url)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.console, transient=True) as progress:
            task = progress.add_task(f"{label}: {kind}, {clients} client(s)",
                                     total=len(work.sizes))

            def advance():
                progress.advance(task)
            cpu = CpuMeter(self.url, self.server.process.pid)
            if kind == "raw COPY":
                result = asyncio.run(copy_batches(self.url, work, clients, advance, cpu))
            else:
                result = asyncio.run(post_batches(self.server.port, self.token, work,
                                                  clients, advance, cpu))
        result.kind = kind
        result.cpu = {"service": cpu.service, "postgres": cpu.pg, "client": cpu.client,
                      "machine": cpu.machine}
        result.stored = stored_between(self.url, work.start, work.end)
        self.settle()  # a grading asked for by the last batches runs now, not in the next trial
        result.regrades = last_grading(self.url) - gradings
        result.complete = result.stored == expected
        lost = "" if result.complete else f" [red]{expected - result.stored:,} missing"
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items()))
        self.console.print(
            f"{label}: {kind:<8} c={clients}  {result.rate:>9,.0f} readings/s  "
            f"p50 {result.percentile(0.5):6.1f} ms  p95 {result.percentile(0.95):6.1f} ms  "
            f"accepted {result.accepted:,}  duplicates {result.duplicates:,}  "
            f"rejected {result.rejected:,}  {statuses}  alarms {result.alarms}  "
            f"gradings {result.regrades}  "
            f"CPU service {cpu.service:.2f}, PostgreSQL {cpu.pg:.2f}, client {cpu.client:.2f}, "
            f"machine {cpu.machine:.2f} cores{lost}")
        return result


# -- main ------------------------------------------------------------------------------------

def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}–{fmt.format(max(values))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every trial")
    parser.add_argument("--rows", type=int, default=220_000,
                        help="readings per trial (in batches of 5,000)")
    parser.add_argument("--clients", default="1,2,4",
                        help="client counts (service) and connection counts (raw COPY)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--no-grading-on-red", action="store_true",
                        help="run the service with ONEMAP_GRADING_ON_RED_ALARM=false (no "
                             "re-grading when a red alarm opens on a point of a risk unit)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    console = Console()
    if not console.is_terminal:  # a log: wide enough for the table
        console = Console(width=170)
    rules = load_rules()
    console.print(f"database: a copy of the dev database as {BENCH_DB}")
    url = make_database(console)
    server = None
    try:
        with psycopg.connect(url) as conn:
            points = load_points(conn, rules)
            _, token = create_token(conn, "operator", "bench")
        # every trial gets its own time window, the last one ending 10 minutes ago
        windows = 2 + args.repeat * 2 * len(clients)
        span = windows * math.ceil(args.rows / len(points)) * STEP
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        base = now - dt.timedelta(minutes=10) - span
        with psycopg.connect(url, autocommit=True) as conn:
            days = (now.date() - base.date()).days + 1
            conn.execute("SELECT readings_ensure_partitions(%s, %s)", [base.date(), days])
        console.print(f"{len(points):,} points; {args.rows:,} readings a trial in "
                      f"{math.ceil(args.rows / BATCH)} batches of up to {BATCH:,}; readings from "
                      f"{base:%Y-%m-%d %H:%M} to {now - dt.timedelta(minutes=10):%H:%M} UTC")
        server = Server("onemap", free_port(), None)
        server.start(uvicorn_argv(sys.executable, "service.app:create_app", server.port,
                                  "httptools", True),
                     {"ONEMAP_DATABASE_URL": url, "ONEMAP_GRADING_INTERVAL_SECONDS": "0",
                      **({"ONEMAP_GRADING_ON_RED_ALARM": "false"} if args.no_grading_on_red
                         else {})}, "/healthz")
        bench = Bench(console, url, server, token, points, args.rows, base,
                      random.Random(args.seed))
        top = max(clients)
        bench.run("service", top, bench.workload(), "warm-up")
        bench.run("raw COPY", top, bench.workload(), "warm-up")
        results: dict[tuple[str, int], list[Result]] = {}
        for round_ in range(1, args.repeat + 1):
            last = None
            for c in clients:
                label = f"round {round_}/{args.repeat}"
                last = bench.workload()
                results.setdefault(("service", c), []).append(
                    bench.run("service", c, last, label))
                results.setdefault(("raw COPY", c), []).append(
                    bench.run("raw COPY", c, bench.workload(), label))
            results.setdefault(("retry", top), []).append(bench.run("retry", top, last, label))
        report(console, results, clients, top)
    finally:
        if server is not None:
            server.stop()
        drop_database(BENCH_DB)


def report(console: Console, results: dict[tuple[str, int], list[Result]],
           clients: list[int], top: int) -> None:
    table = Table(title="readings/s: median of the rounds (min–max); latency per request")
    for column in ("clients", "service readings/s", "raw COPY readings/s", "ratio",
                   "service p50 / p95 ms", "COPY p50 / p95 ms", "alarms opened / raised / closed, gradings",
                   "CPU cores: service / PostgreSQL / machine"):
        table.add_column(column, justify="right")
    for c in clients:
        service, copy = results["service", c], results["raw COPY", c]
        ratios = [s.rate / r.rate for s, r in zip(service, copy)]
        alarms = " / ".join(f"{statistics.median(r.alarms[k] for r in service):,.0f}"
                            for k in ("opened", "escalated", "closed"))
        alarms += f", {statistics.median(r.regrades for r in service):.0f}"
        cpu = " / ".join(f"{statistics.median(r.cpu[k] for r in service):.2f}"
                         for k in ("service", "postgres", "machine"))
        table.add_row(str(c), _spread([r.rate for r in service]), _spread([r.rate for r in copy]),
                      _spread(ratios, "{:.0%}"),
                      f"{statistics.median(r.percentile(0.5) for r in service):.0f} / "
                      f"{statistics.median(r.percentile(0.95) for r in service):.0f}",
                      f"{statistics.median(r.percentile(0.5) for r in copy):.0f} / "
                      f"{statistics.median(r.percentile(0.95) for r in copy):.0f}",
                      alarms, cpu)
    retry = results["retry", top]
    table.add_row(f"{top}, retry", _spread([r.rate for r in retry]), "—", "—",
                  f"{statistics.median(r.percentile(0.5) for r in retry):.0f} / "
                  f"{statistics.median(r.percentile(0.95) for r in retry):.0f}", "—", "—",
                  " / ".join(f"{statistics.median(r.cpu[k] for r in retry):.2f}"
                             for k in ("service", "postgres", "machine")))
    console.print(table)
    everything = [r for runs in results.values() for r in runs]
    lost = sum(1 for r in everything if not r.complete)
    bad = sum(r.rejected for r in everything) + sum(
        v for r in everything for k, v in r.statuses.items() if k != 200)
    console.print(f"every trial's readings counted in `readings` afterwards: "
                  f"{len(everything) - lost} of {len(everything)} trials complete; "
                  f"rejected rows and non-200 answers: {bad}; retry duplicates: "
                  f"{sum(r.duplicates for r in retry):,} of {sum(r.rows for r in retry):,}")
    worst = min(statistics.median(r.rate for r in results["service", c]) for c in clients)
    ratio = min(statistics.median(s.rate / r.rate for s, r in
                                  zip(results["service", c], results["raw COPY", c]))
                for c in clients)
    console.print(f"goal ≥ 50,000 readings/s at every client count: {worst:,.0f} "
                  f"({'met' if worst >= 50_000 else 'not met'}); ≥ 40% of raw COPY: "
                  f"{ratio:.0%} at worst ({'met' if ratio >= 0.4 else 'not met'})")
    for c in clients:  # where the CPU went, service trials
        runs = results["service", c]
        console.print(f"c={c}: CPU per 10,000 readings: service "
                      f"{statistics.median(r.cpu['service'] / r.rate for r in runs) * 1e4:.3f} s, "
                      f"PostgreSQL "
                      f"{statistics.median(r.cpu['postgres'] / r.rate for r in runs) * 1e4:.3f} s;"
                      f" raw COPY: PostgreSQL {statistics.median(r.cpu['postgres'] / r.rate for r in results['raw COPY', c]) * 1e4:.3f} s")



if __name__ == "__main__":
    main()
