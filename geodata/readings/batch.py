"""A batch of readings as a client sends it (JSON array or CSV), read and checked row by row.

Everything that can be decided without the database is decided here: the body's shape, and
for each row a point reference, a finite number and a timestamp with a time zone that is
neither too far in the future nor older than the retention. Rows that fail are rejected
with their index (0-based, in the order sent); the body as a whole is refused only when it
cannot be read at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import orjson

from geodata.errors import BatchTooLarge, MalformedBatch, UnsupportedBatchType

COLUMNS = ("point", "ts", "value")


class Reading(NamedTuple):
    """One row that passed the checks; `point` is a code (str) or an id (int) as sent."""

    index: int
    point: str | int
    ts: dt.datetime
    value: float
    seconds: float  # `ts` as seconds since the epoch


_reading = partial(tuple.__new__, Reading)  # without a call per field


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str


@dataclass
class Batch:
    """The checked rows of one request: `size` rows sent, each either read or rejected."""

    size: int
    readings: list[Reading] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """What a batch may hold (from `ReadingsSettings`)."""

    max_rows: int
    future_skew: dt.timedelta
    retention: dt.timedelta


def media_kind(content_type: str | None) -> str:
    """'json' or 'csv' for a Content-Type header (none: JSON); UnsupportedBatchType otherwise."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        return "json"
    if media in ("text/csv", "application/csv"):
        return "csv"
    raise UnsupportedBatchType(f"readings come as application/json or text/csv, not {media!r}")


def read_batch(body: bytes, kind: str, limits: Limits, now: dt.datetime) -> Batch:
    """The rows of `body` (kind 'json' or 'csv'), each checked against `limits` at `now`."""
    rows = _json_rows(body) if kind == "json" else _csv_rows(body)
    if len(rows) > limits.max_rows:
        raise BatchTooLarge(f"{len(rows):,} readings in one request; at most "
                            f"{limits.max_rows:,} are taken: split the batch")
    batch = Batch(size=len(rows))
    latest, earliest = now + limits.future_skew, now - limits.retention
    readings, rejected = batch.readings, batch.rejected
    parse, finite = dt.datetime.fromisoformat, math.isfinite
    # seconds since the epoch: one conversion a row instead of one a comparison (a float
    # steps by less than a microsecond here, so the order is that of the timestamps)
    last_s, first_s = latest.timestamp(), earliest.timestamp()
    for index, row in enumerate(rows):
        # the usual row, {"point": "…", "ts": "…", "value": 1.5}, read at once; anything
        # else, or anything wrong with it, goes the long way round, which says what
        if type(row) is dict:
            point, ts, value = row.get("point"), row.get("ts"), row.get("value")
            if (type(point) is str and type(ts) is str and type(value) is float
                    and finite(value) and (point := point.strip())):
                try:
                    ts = parse(ts.strip())
                except ValueError:
                    pass
                else:
                    # fromisoformat gives a fixed offset or none
                    if ts.tzinfo is not None and first_s <= (t := ts.timestamp()) <= last_s:
                        readings.append(_reading((index, point, ts, value, t)))
                        continue
        reading = _check(index, row, latest, earliest, limits)
        if isinstance(reading, Reading):
            readings.append(reading)
        else:
            rejected.append(Rejection(index, reading))
    return batch


def _json_rows(body: bytes) -> list[Any]:
    try:
        rows = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError as exc:
        raise MalformedBatch(f"the body is not valid JSON: {exc}") from None
    if not isinstance(rows, list):
        raise MalformedBatch('the body must be a JSON array of {"point", "ts", "value"} objects')
    return rows


def _csv_rows(body: bytes) -> list[Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedBatch(f"the CSV is not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    names = [name.strip().lower() for name in header or []]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise MalformedBatch(f"the CSV header must name the columns point, ts, value; "
                             f"missing: {', '.join(missing)}")
    where = {name: names.index(name) for name in COLUMNS}
    rows: list[Any] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue  # blank line
        if len(fields) != len(names):
            rows.append(f"{len(fields)} fields where the header has {len(names)}")
        else:
            rows.append({name: fields[i] for name, i in where.items()})
    return rows


def _check(index: int, row: Any, latest: dt.datetime, earliest: dt.datetime,
           limits: Limits) -> Reading | str:
    """The row as a Reading, or the reason it is rejected."""
    if isinstance(row, str):  # a CSV line that could not be split into the columns
        return row
    if not isinstance(row, dict):
        return 'not an object with "point", "ts" and "value"'
    missing = [name for name in COLUMNS if row.get(name) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    point = _point(row["point"])
    if point is None:
        return "point must be a monitoring point's code or id"
    value = _number(row["value"])
    if isinstance(value, str):
        return value
    ts = _timestamp(row["ts"])
    if isinstance(ts, str):
        return ts
    if ts > latest:
        return (f"ts {ts.isoformat()} is in the future, more than "
                f"{limits.future_skew.total_seconds():g} s after the server's clock")
    if ts < earliest:
        return f"ts {ts.isoformat()} is older than the {limits.retention.days}-day retention"
    return Reading(index, point, ts, value, ts.timestamp())


def _point(raw: Any) -> str | int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    return None


def _number(raw: Any) -> float | str:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return f"value is not a number: {raw!r}"
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return f"value is not a number: {raw!r}"
    if not math.isfinite(value):
        return f"value is not finite: {raw!r}"
    return value


def _timestamp(raw: Any) -> dt.datetime | str:
    if not isinstance(raw, str):
        return f"ts must be an ISO 8601 text with a time zone, not {raw!r}"
    try:
        ts = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        return f"ts is not an ISO 8601 timestamp: {raw!r}"
    if ts.tzinfo is None or ts.utcoffset() is None:
        return (f"ts {raw!r} has no time zone: add one (2024-05-01T08:00:00+08:00, or Z "
                f"for UTC)")
    return ts
