"""Store a checked batch: find the points, check each value against its kind's physical
range, write the readings and the points' latest readings, and hand what may alarm to the
watcher (`after`: the alarm rules), all or nothing, in one transaction.

1. The readings are copied straight into the daily-partitioned `readings` (binary COPY). A
   reading stored before breaks the primary key and the COPY: the batch is then done the
   slow way, into a temporary table and `INSERT … ON CONFLICT DO NOTHING`, which tells the
   duplicates (so a retried batch stores nothing twice). Retries are rare, and ON CONFLICT
   on every batch cost a third of the rate.
2. An advisory lock orders what follows across batches and processes: each batch finds the
   latest readings as the batches before it left them. Then the points' revision is checked
   (`points.PointBook`: the points are known from memory).
3. One statement upserts the newest reading of each point into `monitoring_latest` and
   returns, with each point's reading before the batch, only the points the batch may alarm:
   a value the watcher's `Screen` does not let pass, a rise against the reading before, a
   reading older than the latest, or an alarm not closed. Only those reach `after`.
The answer is given after the commit: what it counts as accepted is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np
import psycopg

from geodata.readings.batch import Batch, Rejection
from geodata.readings.points import PointBook, StalePoints, check_revision, point_book
from geodata.readings.wire import (
    DAY_MICROS,
    bool_array,
    copy_payload,
    float8_array,
    int8_array,
    timestamptz_array,
)

ATTEMPTS = 3  # a transaction rolled back by the server (deadlock, serialization) is retried
# held from the latest readings to the commit: one batch at a time reads and writes them
LATEST_LOCK = 0x6F6E656D6170  # "onemap"
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class PointNow(NamedTuple):
    """A point as a batch found it: kind, link, own thresholds, reading before the batch."""

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


@dataclass(frozen=True)
class Screen:
    """Per point of a book (by position), what a new reading must stay within to be of no
    interest to a watcher: `sign` +1 (it alarms above) or -1 (below), 0 (never); the level
    it stays short of; the least rise (in the sign's direction) within `window` seconds of
    the reading before that interests it (inf: none)."""

    sign: np.ndarray
    short_of: np.ndarray
    rise: np.ndarray
    window: np.ndarray


class Watcher(Protocol):
    """What watches new readings inside their transaction (the alarm rules)."""

    def screen(self, book: PointBook) -> Screen: ...

    def __call__(self, conn: psycopg.AsyncConnection,
                 readings: list[tuple[int, dt.datetime, float]],
                 points: dict[int, PointNow]) -> Awaitable[Any]:
        """`readings`: the new readings of the points that may alarm, as (point id, ts,
        value) sorted by point and time; `points`: those points."""


class MissingLatest(Exception):
    """A point of the batch has no row in monitoring_latest: make them, and redo the batch."""


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    watched: Any = None  # what `after` returned

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected]}


@dataclass
class _Rows:
    """The readings of a batch to store, by point (position in the book) and time."""

    where: np.ndarray    # position of the point in the book
    ids: np.ndarray      # point id
    micros: np.ndarray   # ts, microseconds since the Unix epoch
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.where[mask], self.ids[mask], self.micros[mask], self.values[mask])


def _sort_and_check(batch: Batch, book: PointBook, report: IngestReport) -> _Rows:
    """The batch's readings of known points within their kinds' ranges, sorted by point and
    time, each (point, ts) once: of the same reading sent twice, the first sent counts and
    the others are duplicates."""
    where, seconds, values, rejected = [], [], [], report.rejected
    find, low, high = book.find, book.low, book.high
    for reading in batch.readings:
        i = find(reading.point)
        value = reading.value
        if i is None:
            rejected.append(Rejection(reading.index, f"unknown point {reading.point!r}"))
        elif not low[i] <= value <= high[i]:
            rejected.append(Rejection(
                reading.index, f"value {value:g} is out of the physical range of "
                               f"{book.kinds[i]} ({low[i]:g} to {high[i]:g} {book.units[i]})"))
        else:
            where.append(i)
            seconds.append(reading.seconds)
            values.append(value)
    rejected.sort(key=lambda r: r.index)
    where_a = np.array(where, dtype=np.int64)
    # a float of seconds steps by less than a microsecond here: rounding gives the exact
    # microsecond of the timestamp
    micros = np.rint(np.array(seconds, dtype=np.float64) * 1e6).astype(np.int64)
    order = np.lexsort((np.arange(len(where_a)), micros, where_a))  # by point, time, order sent
    where_a, micros = where_a[order], micros[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (where_a[1:] != where_a[:-1]) | (micros[1:] != micros[:-1])
    report.duplicates += int(len(first) - first.sum())
    where_a, micros = where_a[first], micros[first]
    return _Rows(where_a, book.ids[where_a], micros,
                 np.array(values, dtype=np.float64)[order][first])


async def store_batch(conn: psycopg.AsyncConnection, batch: Batch,
                      after: Watcher | None = None) -> IngestReport:
    """Store the readings of `batch` that are valid; report accepted, duplicates, rejected."""
    book = await point_book(conn)
    for attempt in range(ATTEMPTS + 1):
        report = IngestReport(rejected=list(batch.rejected))
        rows = _sort_and_check(batch, book, report) if batch.readings else None
        if not rows:
            return report
        try:
            await _store(conn, rows, book, after, report)
            return report
        except StalePoints:  # rolled back: again, on the points as they are now
            book = await point_book(conn, fresh=True)
        except MissingLatest:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO monitoring_latest (monitoring_point_id) SELECT id "
                    "FROM monitoring_points ON CONFLICT DO NOTHING")
        except psycopg.errors.TransactionRollback:  # deadlock, serialization failure
            if attempt >= ATTEMPTS - 1:
                raise
        except psycopg.errors.CheckViolation:  # no partition: another process dropped it
            if not _forget_days(conn):
                raise
    raise StalePoints("the points kept changing while the batch was stored")


async def _store(conn: psycopg.AsyncConnection, rows: _Rows, book: PointBook,
                 after: Watcher | None, report: IngestReport) -> None:
    await _ensure_partitions(conn, rows.micros)
    payload = copy_payload(rows.ids, rows.micros, rows.values)
    try:
        async with conn.transaction():
            async with conn.cursor() as cur, cur.copy(
                    "COPY readings (monitoring_point_id, ts, value) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                await copy.write(payload)
            report.watched = await _latest_and_watch(conn, rows, book, after)
        report.accepted = len(rows)
        return
    except psycopg.errors.UniqueViolation:
        pass  # some were stored before: the slow way, which tells them apart
    async with conn.transaction():
        new = await _insert_new(conn, rows, payload)
        report.duplicates += len(rows) - len(new)
        if new:
            report.watched = await _latest_and_watch(conn, new, book, after)
    report.accepted = len(new)


async def _insert_new(conn: psycopg.AsyncConnection, rows: _Rows, payload: bytes) -> _Rows:
    """Insert what is not stored yet of `rows`; return those."""
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS incoming_readings (
               monitoring_point_id bigint, ts timestamptz, value double precision
           ) ON COMMIT DELETE ROWS""")
    async with conn.cursor() as cur:
        async with cur.copy("COPY incoming_readings FROM STDIN (FORMAT BINARY)") as copy:
            await copy.write(payload)
        await cur.execute(
            """INSERT INTO readings (monitoring_point_id, ts, value)
               SELECT monitoring_point_id, ts, value FROM incoming_readings
               ORDER BY monitoring_point_id, ts
               ON CONFLICT DO NOTHING
               RETURNING monitoring_point_id,
                         (extract(epoch FROM ts) * 1000000)::bigint""", binary=True)
        stored = set(await cur.fetchall())
    keep = np.array([(pid, ts) in stored for pid, ts in zip(rows.ids.tolist(),
                                                            rows.micros.tolist())], dtype=bool)
    return rows.take(keep)


# The newest reading of each point of the batch kept (a point's row is rewritten as it was
# when the batch holds nothing newer), and the points that may alarm given back with the
# latest reading before the batch. Every point has its row (migration 013).
_LATEST = """
WITH x AS (
    SELECT * FROM unnest(%b, %b, %b, %b, %b, %b, %b, %b, %b)
        AS x (id, new_at, new_value, first_at, first_value, watch, sign, rise, window_s)
), kept AS (
    UPDATE monitoring_latest l SET
        ts = CASE WHEN l.ts IS NULL OR l.ts < x.new_at THEN x.new_at ELSE l.ts END,
        value = CASE WHEN l.ts IS NULL OR l.ts < x.new_at THEN x.new_value ELSE l.value END,
        before_ts = CASE WHEN l.ts IS NULL OR l.ts < x.new_at THEN l.ts ELSE l.before_ts END,
        before_value = CASE WHEN l.ts IS NULL OR l.ts < x.new_at THEN l.value
                            ELSE l.before_value END
    FROM x WHERE l.monitoring_point_id = x.id
    RETURNING x.*,
        CASE WHEN l.ts = x.new_at THEN l.before_ts ELSE l.ts END AS before_at,
        CASE WHEN l.ts = x.new_at THEN l.before_value ELSE l.value END AS before_value
)
SELECT id, before_at, before_value FROM kept
WHERE watch
   OR before_at >= first_at
   OR (first_at - before_at <= window_s * interval '1 second'
       AND sign * (first_value - before_value) >= rise)
   OR EXISTS (SELECT FROM alarms a WHERE a.monitoring_point_id = kept.id AND a.state <> 'closed')
UNION ALL  -- a point without its row (removed by hand): said by a last row of NULLs
SELECT NULL, NULL, NULL WHERE (SELECT count(*) FROM kept) <> (SELECT count(*) FROM x)
ORDER BY id NULLS LAST"""


async def _latest_and_watch(conn: psycopg.AsyncConnection, rows: _Rows, book: PointBook,
                            after: Watcher | None) -> Any:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", [LATEST_LOCK])
    await check_revision(conn, book)
    # each point's first and newest reading of the batch (rows are by point and time)
    n = len(rows)
    starts = np.flatnonzero(np.r_[True, rows.where[1:] != rows.where[:-1]])
    ends = np.r_[starts[1:], n] - 1
    points = rows.where[starts]
    if after is None:
        screen = None
        watch = np.zeros(len(starts), dtype=bool)
        sign = np.zeros(len(starts))
        rise = np.full(len(starts), np.inf)
        window = np.full(len(starts), -1.0)
    else:
        screen = after.screen(book)
        watch = _watched(rows, screen, starts)
        sign, rise = screen.sign[points], screen.rise[points]
        window = screen.window[points]
    cur = await conn.execute(_LATEST, [
        int8_array(rows.ids[starts]), timestamptz_array(rows.micros[ends]),
        float8_array(rows.values[ends]), timestamptz_array(rows.micros[starts]),
        float8_array(rows.values[starts]), bool_array(watch), float8_array(sign),
        float8_array(rise), float8_array(window)], binary=True)
    may_alarm = await cur.fetchall()
    if may_alarm and may_alarm[-1][0] is None:
        raise MissingLatest()
    if after is None or not may_alarm:
        return None
    return await after(conn, *_readings_of(rows, book, starts, ends, may_alarm))


def _watched(rows: _Rows, screen: Screen, starts: np.ndarray) -> np.ndarray:
    """Per point of the batch: whether one of its readings is beyond what the screen lets
    pass, or rose from the one before it in the batch by the screen's least rise."""
    sign = screen.sign[rows.where]
    beyond = (sign != 0) & (sign * (rows.values - screen.short_of[rows.where]) >= 0)
    if len(rows) > 1:
        same = rows.where[1:] == rows.where[:-1]
        moved = sign[1:] * (rows.values[1:] - rows.values[:-1])
        soon = (rows.micros[1:] - rows.micros[:-1]) <= screen.window[rows.where[1:]] * 1e6
        risen = same & soon & (moved >= screen.rise[rows.where[1:]])
        beyond[1:] |= risen
    return np.logical_or.reduceat(beyond, starts)


def _readings_of(rows: _Rows, book: PointBook, starts: np.ndarray, ends: np.ndarray,
                 may_alarm: list[tuple]) -> tuple[list, dict[int, PointNow]]:
    """The new readings and the points of those that may alarm, as the watcher takes them."""
    first = {int(pid): k for k, pid in enumerate(rows.ids[starts].tolist())}
    readings, points = [], {}
    for pid, before_at, before_value in may_alarm:
        k = first[pid]
        i = int(rows.where[starts[k]])
        points[pid] = PointNow(pid, book.codes[i], book.kinds[i], book.risk_units[i],
                               *book.thresholds[i], before_at, before_value)
        for j in range(starts[k], ends[k] + 1):
            ts = _UNIX_EPOCH + dt.timedelta(microseconds=int(rows.micros[j]))
            readings.append((pid, ts, float(rows.values[j])))
    return readings, points


_KNOWN_DAYS: dict[tuple, set[int]] = {}


def _forget_days(conn: psycopg.AsyncConnection) -> bool:
    """Forget the partitions known to exist; whether any were known."""
    info = conn.info
    return bool(_KNOWN_DAYS.pop((info.host, info.port, info.dbname), None))


async def _ensure_partitions(conn: psycopg.AsyncConnection, micros: np.ndarray) -> None:
    """The daily partitions of the readings' days, made when not known to exist."""
    info = conn.info
    known = _KNOWN_DAYS.setdefault((info.host, info.port, info.dbname), set())
    days = set(np.unique(micros // DAY_MICROS).tolist()) - known
    if not days:
        return
    async with conn.transaction():
        # its own short transaction: making a partition locks the whole table
        await conn.execute(
            "SELECT readings_ensure_partitions(day, 1) FROM unnest(%s::date[]) day",
            [sorted(_UNIX_EPOCH.date() + dt.timedelta(days=day) for day in days)])
    known |= days


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
    _KNOWN_DAYS.clear()
    return made[0], dropped[0]
