"""Store a checked batch: resolve the points, check each value against its kind's physical
range, and write the readings with the points' latest value, all or nothing.

The write is one transaction: COPY into a temporary table, `INSERT … SELECT … ON CONFLICT DO
NOTHING` into the daily-partitioned `readings` (a reading already stored is a duplicate, so
a retried batch stores nothing twice), then the points are locked, whatever watches the new
readings runs (`after`: the alarm rules), and the latest value and time go on each point.
Rows go in (point, ts) order and points are locked in id order, so concurrent batches that
overlap wait for each other instead of deadlocking. The answer is given after the commit:
what it counts as accepted is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from geodata.readings.batch import Batch, Reading, Rejection

BIGINT_MAX = 2**63 - 1
ATTEMPTS = 3  # a transaction rolled back by the server (deadlock, serialization) is retried


@dataclass(frozen=True)
class PointRange:
    id: int
    kind: str
    unit: str
    low: float
    high: float


@dataclass(frozen=True)
class PointNow:
    """A point as a batch found it (locked): kind, link, own thresholds, latest reading."""

    id: int
    kind: str
    risk_unit_id: int | None
    thresholds: tuple[float | None, ...]    # its own blue, yellow, orange, red (None: the kind's)
    last_at: dt.datetime | None
    last_value: float | None


# What watches new readings, inside their transaction: called with the connection, the new
# readings as (point id, ts, value) sorted by point and time, and their points (locked).
After = Callable[[psycopg.AsyncConnection, list[tuple[int, dt.datetime, float]],
                  dict[int, PointNow]], Awaitable[Any]]


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    watched: Any = None  # what `after` returned

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected]}


async def store_batch(conn: psycopg.AsyncConnection, batch: Batch,
                      after: After | None = None) -> IngestReport:
    """Store the readings of `batch` that are valid; report accepted, duplicates, rejected."""
    report = IngestReport(rejected=list(batch.rejected))
    if not batch.readings:
        return report
    async with conn.transaction():
        points = await _resolve(conn, {r.point for r in batch.readings})
    rows: dict[tuple[int, dt.datetime], Reading] = {}
    for reading in batch.readings:
        point = _lookup(points, reading.point)
        if point is None:
            report.rejected.append(Rejection(reading.index, f"unknown point {reading.point!r}"))
        elif not point.low <= reading.value <= point.high:
            report.rejected.append(Rejection(
                reading.index, f"value {reading.value:g} is out of the physical range of "
                               f"{point.kind} ({point.low:g} to {point.high:g} {point.unit})"))
        elif (point.id, reading.ts) in rows:
            report.duplicates += 1  # the same reading twice in one batch: the first counts
        else:
            rows[point.id, reading.ts] = reading
    report.rejected.sort(key=lambda r: r.index)
    if rows:
        inserted, report.watched = await _write(
            conn, sorted(rows.items(), key=lambda item: item[0]), after)
        report.accepted = inserted
        report.duplicates += len(rows) - inserted
    return report


async def _resolve(conn: psycopg.AsyncConnection, refs: set[str | int]) -> dict:
    """The points named in `refs` by code or id, keyed ('code', …) and ('id', …)."""
    codes = [ref for ref in refs if isinstance(ref, str)]
    ids = [ref for ref in refs if isinstance(ref, int)]
    ids += [int(ref) for ref in codes if ref.isascii() and ref.isdigit()]
    ids = [i for i in ids if 0 < i <= BIGINT_MAX]
    cur = await conn.execute(
        """SELECT p.id, p.code, p.kind, k.unit, k.physical_min, k.physical_max
           FROM monitoring_points p JOIN monitoring_kinds k ON k.kind = p.kind
           WHERE p.code = ANY(%s::text[]) OR p.id = ANY(%s::bigint[])""", [codes, ids])
    found: dict = {}
    for pid, code, kind, unit, low, high in await cur.fetchall():
        point = PointRange(pid, kind, unit, low, high)
        found["code", code] = found["id", pid] = point
    return found


def _lookup(points: dict, ref: str | int) -> PointRange | None:
    """A point by id (a JSON number) or by code, else by id written as digits."""
    if isinstance(ref, int):
        return points.get(("id", ref))
    point = points.get(("code", ref))
    if point is None and ref.isascii() and ref.isdigit():
        point = points.get(("id", int(ref)))
    return point


async def _write(conn: psycopg.AsyncConnection,
                 rows: list[tuple[tuple[int, dt.datetime], Reading]],
                 after: After | None) -> tuple[int, Any]:
    """Insert `rows` (sorted by point and time); return how many were new and what `after`
    made of them."""
    days = sorted({ts.astimezone(dt.UTC).date() for (_, ts), _ in rows})
    async with conn.transaction():
        # its own short transaction: making a partition locks the whole table
        await conn.execute("SELECT readings_ensure_partitions(day, 1) FROM unnest(%s::date[]) day",
                           [days])
    for attempt in range(ATTEMPTS):
        try:
            async with conn.transaction():
                return await _insert(conn, rows, after)
        except psycopg.errors.TransactionRollbackError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _insert(conn, rows, after: After | None) -> tuple[int, Any]:
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS incoming_readings (
               monitoring_point_id bigint, ts timestamptz, value double precision
           ) ON COMMIT DELETE ROWS""")
    async with conn.cursor() as cur:
        async with cur.copy("COPY incoming_readings FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "timestamptz", "float8"])
            for (pid, ts), reading in rows:
                await copy.write_row((pid, ts, reading.value))
        # only the rows stored now come back: a retried batch is not watched twice
        await cur.execute(
            """INSERT INTO readings (monitoring_point_id, ts, value)
               SELECT monitoring_point_id, ts, value FROM incoming_readings
               ORDER BY monitoring_point_id, ts
               ON CONFLICT DO NOTHING
               RETURNING monitoring_point_id, ts""")
        stored = {(pid, ts) for pid, ts in await cur.fetchall()}
        if not stored:
            return 0, None
        new = [(pid, ts, reading.value) for (pid, ts), reading in rows if (pid, ts) in stored]
        ids = sorted({pid for pid, _, _ in new})
        await cur.execute(
            """SELECT id, kind, risk_unit_id, threshold_blue, threshold_yellow, threshold_orange,
                      threshold_red, last_reading_at, last_value
               FROM monitoring_points WHERE id = ANY(%s::bigint[]) ORDER BY id
               FOR NO KEY UPDATE""", [ids])
        points = {r[0]: PointNow(r[0], r[1], r[2], tuple(r[3:7]), r[7], r[8])
                  for r in await cur.fetchall()}
        watched = await after(conn, new, points) if after is not None else None
        latest = {pid: (ts, value) for pid, ts, value in new}  # sorted: the last is the latest
        # the latest reading is no change of what a map shows (migration 011)
        await cur.execute("SELECT set_config('onemap.latest_only', 'on', true)")
        await cur.execute(
            """UPDATE monitoring_points p SET last_value = x.value, last_reading_at = x.ts
               FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[]) AS x (id, ts, value)
               WHERE p.id = x.id AND (p.last_reading_at IS NULL OR p.last_reading_at < x.ts)""",
            [ids, [latest[i][0] for i in ids], [latest[i][1] for i in ids]])
    return len(stored), watched


async def keep_partitions(conn: psycopg.AsyncConnection, ahead_days: int,
                          retention_days: int) -> tuple[int, int]:
    """Make the daily partitions from yesterday to `ahead_days` after today; drop those past the
    retention. Returns (made, dropped)."""
    async with conn.transaction():
        made = await (await conn.execute(
            "SELECT readings_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1, %s)",
            [ahead_days + 2])).fetchone()
        dropped = await (await conn.execute("SELECT readings_drop_partitions(%s)",
                                            [retention_days])).fetchone()
    return made[0], dropped[0]
