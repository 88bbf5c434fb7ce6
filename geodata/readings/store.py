"""Store a checked batch: resolve the points, check each value against its kind's physical
range, and write the readings with the points' latest value, all or nothing.

The write is one transaction: COPY into a temporary table, `INSERT … SELECT … ON CONFLICT DO
NOTHING` into the daily-partitioned `readings` (a reading already stored is a duplicate, so
a retried batch stores nothing twice), then the points are locked, whatever watches the new
readings runs (`after`: the alarm rules), and the latest value and time go on each point.
Rows go in (point, ts) order and points are locked in id order, so concurrent batches that
overlap wait for each other instead of deadlocking. The answer is given after the commit:
what it counts as accepted is stored.

Points are looked up by code or id in the points found before (`KnownPoints`, one per
database, for the life of the process); only the refs not among them are read from the
database. What was taken from there is checked in the batch's own transaction against the
points as locked (id, code, kind) and the kinds' ranges as read at the batch's start: when
anything differs (a point deleted, recoded or of another kind since), the batch is rolled back
and done again with every point read afresh. So a batch is judged on the points as they are
when it is stored, as if each were read anew, without reading 5,000 points per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Any, NamedTuple

import psycopg

from geodata.readings.batch import Batch, Rejection

BIGINT_MAX = 2**63 - 1
ATTEMPTS = 3  # a transaction rolled back by the server (deadlock, serialization) is retried


class PointRange(NamedTuple):
    id: int
    kind: str
    unit: str
    low: float
    high: float
    code: str


_point_range = partial(tuple.__new__, PointRange)  # from a row, without a call per field


class PointNow(NamedTuple):
    """A point as a batch found it (locked): kind, link, own thresholds, latest reading."""

    id: int
    code: str
    kind: str
    risk_unit_id: int | None
    threshold_blue: float | None     # its own thresholds (None: the kind's)
    threshold_yellow: float | None
    threshold_orange: float | None
    threshold_red: float | None
    last_at: dt.datetime | None
    last_value: float | None

    @property
    def thresholds(self) -> tuple[float | None, ...]:
        """Its own blue, yellow, orange, red (None: the kind's)."""
        return self[4:8]


_point_now = partial(tuple.__new__, PointNow)
_point_and_time = itemgetter(0, 1)
_EPOCH_DAY = dt.date(1970, 1, 1)


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


class StalePoints(Exception):
    """A point taken from `KnownPoints` is no longer what it was: do the batch again."""


class KnownPoints:
    """The points found so far in one database, by code and by id, with their kinds' ranges."""

    def __init__(self) -> None:
        self.by_code: dict[str, PointRange] = {}
        self.by_id: dict[int, PointRange] = {}
        self.kinds: dict[str, tuple] | None = None

    def clear(self) -> None:
        self.by_code.clear()
        self.by_id.clear()

    async def resolve(self, conn: psycopg.AsyncConnection, refs: set[str | int],
                      fresh: bool = False) -> tuple[dict[str | int, PointRange], set[str | int]]:
        """The points named in `refs` (see `_resolve`), and which refs were taken from here
        rather than read (those need checking in the batch's transaction); `fresh`: every
        one read."""
        cur = await conn.execute(
            "SELECT kind, unit, physical_min, physical_max FROM monitoring_kinds", binary=True)
        kinds = {row[0]: row for row in await cur.fetchall()}
        if kinds != self.kinds:  # a range or a unit changed: what is known holds old ones
            self.clear()
            self.kinds = kinds
        found, misses = {}, set()
        by_code, by_id = self.by_code, self.by_id
        for ref in () if fresh else refs:
            # a text is a code first (an id written as digits only when no code is that text:
            # the database says)
            point = by_id.get(ref) if isinstance(ref, int) else by_code.get(ref)
            if point is None:
                misses.add(ref)
            else:
                found[ref] = point
        cached = set(found)
        if fresh:
            misses = refs
        if misses:
            read = await _resolve(conn, misses)
            for point in read.values():
                by_code[point.code] = by_id[point.id] = point
            found.update(read)
        return found, cached


_KNOWN: dict[tuple, KnownPoints] = {}


def known_points(conn: psycopg.AsyncConnection) -> KnownPoints:
    """The points found so far in the database of `conn`."""
    info = conn.info
    key = (info.host, info.port, info.dbname)
    known = _KNOWN.get(key)
    if known is None:
        known = _KNOWN[key] = KnownPoints()
    return known


class _Checks:
    """The points taken from `KnownPoints` for a batch, by id: each must still have the id,
    code and kind it had (a point taken by its id whose code changed is done again too)."""

    def __init__(self, points: dict[str | int, PointRange], refs: set[str | int]) -> None:
        self.expected: dict[int, PointRange] = {}
        for ref in refs:
            point = points[ref]
            taken = self.expected.setdefault(point.id, point)
            if taken is not point and taken != point:  # two versions of one point
                raise StalePoints(point.id)

    def check(self, rows: list[tuple]) -> None:
        """`rows` (id, code, kind, …) as read now: StalePoints unless as taken."""
        expected = self.expected
        for row in rows:
            point = expected.get(row[0])
            if point is not None and (point.code != row[1] or point.kind != row[2]):
                raise StalePoints(row[0])

    async def check_others(self, conn: psycopg.AsyncConnection, seen: set[int]) -> None:
        """The points taken but not among `seen` (already checked), read now."""
        others = [pid for pid in self.expected if pid not in seen]
        if not others:
            return
        cur = await conn.execute(
            "SELECT id, code, kind FROM monitoring_points WHERE id = ANY(%s::bigint[])",
            [int_array(others)])
        rows = await cur.fetchall()
        if len(rows) != len(others):
            raise StalePoints("deleted")
        self.check(rows)


async def store_batch(conn: psycopg.AsyncConnection, batch: Batch,
                      after: After | None = None) -> IngestReport:
    """Store the readings of `batch` that are valid; report accepted, duplicates, rejected."""
    if not batch.readings:
        return IngestReport(rejected=list(batch.rejected))
    known = known_points(conn)
    try:
        return await _store(conn, batch, after, known)
    except StalePoints:  # rolled back: again, with every point read afresh
        known.clear()
        return await _store(conn, batch, after, known, fresh=True)


async def _store(conn: psycopg.AsyncConnection, batch: Batch, after: After | None,
                 known: KnownPoints, fresh: bool = False) -> IngestReport:
    report = IngestReport(rejected=list(batch.rejected))
    async with conn.transaction():
        points, cached = await known.resolve(conn, {r.point for r in batch.readings}, fresh)
    doubted = set()
    rows: list[tuple[int, dt.datetime, float]] = []
    days: set[int] = set()  # UTC days since the epoch
    for reading in batch.readings:
        ref = reading.point
        point = points.get(ref)
        if point is None:
            report.rejected.append(Rejection(reading.index, f"unknown point {ref!r}"))
        elif not point.low <= reading.value <= point.high:
            if ref in cached:
                doubted.add(ref)
            report.rejected.append(Rejection(
                reading.index, f"value {reading.value:g} is out of the physical range of "
                               f"{point.kind} ({point.low:g} to {point.high:g} {point.unit})"))
        else:
            rows.append((point.id, reading.ts, reading.value))
            # seconds since the epoch (read_batch has them): a float steps by less than a
            # microsecond here, the timestamps' own resolution, so the day is exact
            days.add(int((reading.seconds or reading.ts.timestamp()) // 86400))
    if doubted:  # refused on what was known: only on what is true now
        async with conn.transaction():
            read = await _resolve(conn, doubted)
        if any(read.get(ref) != points[ref] for ref in doubted):
            raise StalePoints("refused")
    checks = _Checks(points, cached - doubted)
    # by point and time; the sort is stable, so of the same reading sent twice in one batch
    # the first comes first, and counts
    rows.sort(key=_point_and_time)
    unique = rows[:1]
    for row in islice(rows, 1, None):
        last = unique[-1]
        if row[0] == last[0] and row[1] == last[1]:
            report.duplicates += 1
        else:
            unique.append(row)
    rows = unique
    report.rejected.sort(key=lambda r: r.index)
    if rows:
        inserted, report.watched = await _write(conn, rows, days, after, checks)
        report.accepted = inserted
        report.duplicates += len(rows) - inserted
    return report


async def _resolve(conn: psycopg.AsyncConnection, refs: set[str | int]
                   ) -> dict[str | int, PointRange]:
    """The points named in `refs`, by ref: a number is an id; a text is a code, else an id
    written as digits. Refs naming no point are left out."""
    codes = [ref for ref in refs if isinstance(ref, str)]
    ids = [ref for ref in refs if isinstance(ref, int)]
    ids += [int(ref) for ref in codes if ref.isascii() and ref.isdigit()]
    ids = [i for i in ids if 0 < i <= BIGINT_MAX]
    cur = await conn.execute(
        """SELECT p.id, p.kind, k.unit, k.physical_min, k.physical_max, p.code
           FROM monitoring_points p JOIN monitoring_kinds k ON k.kind = p.kind
           WHERE p.code = ANY(%b::text[]) OR p.id = ANY(%s::bigint[])""",
        [codes, int_array(ids)], binary=True)
    by_code, by_id = {}, {}
    for row in await cur.fetchall():
        by_code[row[5]] = by_id[row[0]] = _point_range(row)
    found = {}
    for ref in refs:
        if isinstance(ref, int):
            point = by_id.get(ref)
        else:
            point = by_code.get(ref)
            if point is None and ref.isascii() and ref.isdigit():
                point = by_id.get(int(ref))
        if point is not None:
            found[ref] = point
    return found


def int_array(values: list[int]) -> str:
    """`values` as the text of a bigint[], for `%s::bigint[]`: thousands of ids go over far
    faster so than as a list, which psycopg adapts item by item."""
    return "{" + ",".join(map(str, values)) + "}"


async def _write(conn: psycopg.AsyncConnection, rows: list[tuple[int, dt.datetime, float]],
                 days: set[int], after: After | None, checks: _Checks) -> tuple[int, Any]:
    """Insert `rows` (point id, ts, value; sorted by point and time; of the UTC `days` since
    the epoch); return how many were new and what `after` made of them."""
    async with conn.transaction():
        # its own short transaction: making a partition locks the whole table
        await conn.execute("SELECT readings_ensure_partitions(day, 1) FROM unnest(%s::date[]) day",
                           [sorted(_EPOCH_DAY + dt.timedelta(days=day) for day in days)])
    for attempt in range(ATTEMPTS):
        try:
            async with conn.transaction():
                return await _insert(conn, rows, after, checks)
        except psycopg.errors.TransactionRollback:  # deadlock, serialization failure
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _insert(conn, rows, after: After | None, checks: _Checks) -> tuple[int, Any]:
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS incoming_readings (
               monitoring_point_id bigint, ts timestamptz, value double precision
           ) ON COMMIT DELETE ROWS""")
    async with conn.cursor() as cur:
        async with cur.copy("COPY incoming_readings FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "timestamptz", "float8"])
            for row in rows:
                await copy.write_row(row)
        # only the rows stored now stay in incoming_readings (a retried batch is not watched
        # twice); the others, already stored, come back
        await cur.execute(
            """WITH stored AS (
                   INSERT INTO readings (monitoring_point_id, ts, value)
                   SELECT monitoring_point_id, ts, value FROM incoming_readings
                   ORDER BY monitoring_point_id, ts
                   ON CONFLICT DO NOTHING
                   RETURNING monitoring_point_id, ts)
               DELETE FROM incoming_readings i
               WHERE NOT EXISTS (SELECT FROM stored s WHERE s.monitoring_point_id =
                                 i.monitoring_point_id AND s.ts = i.ts)
               RETURNING monitoring_point_id, ts""")
        already = {(pid, ts) for pid, ts in await cur.fetchall()}
        if len(already) == len(rows):
            await checks.check_others(conn, set())  # nothing new: were they duplicates?
            return 0, None
        new = [row for row in rows if (row[0], row[1]) not in already] if already else rows
        await cur.execute(
            """SELECT id, code, kind, risk_unit_id, threshold_blue, threshold_yellow,
                      threshold_orange, threshold_red, last_reading_at, last_value
               FROM monitoring_points
               WHERE id = ANY(ARRAY(SELECT DISTINCT monitoring_point_id FROM incoming_readings))
               ORDER BY id FOR NO KEY UPDATE""", binary=True)
        locked = await cur.fetchall()
        if checks.expected:
            checks.check(locked)
            await checks.check_others(conn, {r[0] for r in locked})
        points = {r[0]: _point_now(r) for r in locked}
        watched = await after(conn, new, points) if after is not None else None
        # the latest reading is no change of what a map shows (migration 011)
        await cur.execute("SELECT set_config('onemap.latest_only', 'on', true)")
        await cur.execute(
            """UPDATE monitoring_points p SET last_value = x.value, last_reading_at = x.ts
               FROM (SELECT DISTINCT ON (monitoring_point_id) monitoring_point_id AS id, ts, value
                     FROM incoming_readings ORDER BY monitoring_point_id, ts DESC) AS x
               WHERE p.id = x.id AND (p.last_reading_at IS NULL OR p.last_reading_at < x.ts)""")
    return len(rows) - len(already), watched


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
