"""Alarms from a batch of stored readings, inside the batch's transaction.

`AlarmWatch` is what `geodata.readings.store.store_batch` calls after the new readings are in
and the latest readings written. Its `screen` tells the store, per point, which readings
surely open no alarm (the usual case), so only the points that may alarm come back to it: it
reads their alarms not closed, evaluates their new readings (`layers.alarms.evaluate`), and
writes what changed: new alarms, raised or quietly closed ones with their history, and the
points' grades. Whatever only tracks an alarm (its
peak, last breach, start of the quiet period) is written last, marked as latest values
only, so that it does not move the layers' versions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import numpy as np
import psycopg

from geodata.readings.points import PointBook
from geodata.readings.store import PointNow, Screen
from layers.alarms.evaluate import QUIET_CLOSER, Alarm, Watch, evaluate
from layers.alarms.rules import AlarmRules, KindRules

RULES_ACTOR = "rules"


@dataclass
class AlarmOutcome:
    """What a batch did to the alarms; `red_units`: risk units whose red input changed."""

    opened: int = 0
    escalated: int = 0
    closed: int = 0
    red_units: set[int] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"opened": self.opened, "escalated": self.escalated, "closed": self.closed}


@dataclass(frozen=True)
class _Limits:
    """A kind's rules with a point's thresholds, and what a reading must stay within to do
    nothing to a point that has no alarm: short of every threshold, and not moved by the
    least `by` of a rise rule within the longest window of one."""

    rules: KindRules
    thresholds: tuple[float, ...]
    above: bool
    short_of: float          # above: below this; below: above this
    least_rise: float
    longest_window: dt.timedelta | None

    @classmethod
    def of(cls, rules: KindRules, thresholds: tuple[float, ...]) -> _Limits:
        above = rules.direction == "above"
        return cls(rules, thresholds, above,
                   min(thresholds) if above else max(thresholds),
                   min((r.by for r in rules.rises), default=0.0),
                   max((r.within for r in rules.rises), default=None))

    def quiet(self, series: list[tuple[dt.datetime, float]], last_at: dt.datetime | None,
              last_value: float | None) -> bool:
        """Whether `series` surely opens no alarm on a point without one (`evaluate` would
        leave it untouched); False when in doubt, and `evaluate` decides."""
        above, short_of, window = self.above, self.short_of, self.longest_window
        for ts, value in series:
            if not (value < short_of if above else value > short_of):
                return False
            if last_at is None or ts > last_at:
                if last_at is not None and window is not None:
                    moved = value - last_value if above else last_value - value
                    if moved >= self.least_rise and ts - last_at <= window:
                        return False
                last_at, last_value = ts, value
        return True


class AlarmWatch:
    """Evaluates the alarm rules on each batch of new readings."""

    def __init__(self, rules: AlarmRules):
        self.rules = rules
        self._limits: dict[tuple, _Limits | None] = {}
        self._limits_of = rules
        self._screen: tuple[PointBook, AlarmRules, Screen] | None = None

    def screen(self, book: PointBook) -> Screen:
        """Per point of `book`, what a reading must stay within to do nothing to a point
        without an alarm (`_Limits`)."""
        kept = self._screen
        if kept is not None and kept[0] is book and kept[1] is self.rules:
            return kept[2]
        n = len(book)
        sign, short_of = np.zeros(n), np.zeros(n)
        rise, window = np.full(n, np.inf), np.full(n, -1.0)
        for i, (kind, own) in enumerate(zip(book.kinds, book.thresholds)):
            limits = self._limits_for(kind, own)
            if limits is None:
                continue  # a kind without rules raises no alarm
            sign[i] = 1.0 if limits.above else -1.0
            short_of[i] = limits.short_of
            if limits.longest_window is not None:
                rise[i] = limits.least_rise
                window[i] = limits.longest_window.total_seconds()
        screen = Screen(sign, short_of, rise, window)
        self._screen = (book, self.rules, screen)
        return screen

    async def __call__(self, conn: psycopg.AsyncConnection,
                       readings: list[tuple[int, dt.datetime, float]],
                       points: dict[int, PointNow]) -> AlarmOutcome:
        """`readings` are the new ones, sorted by point and time."""
        alarms = await _open_alarms(conn, sorted({pid for pid, _, _ in readings}))
        watches = self._evaluate(readings, points, alarms)
        return await _write(conn, watches, points)

    def _limits_for(self, kind: str, own: tuple[float | None, ...]) -> _Limits | None:
        if self._limits_of is not self.rules:  # the rules were replaced: start again
            self._limits, self._limits_of = {}, self.rules
        key = (kind, own)
        try:
            return self._limits[key]
        except KeyError:
            rules = self.rules.kinds.get(kind)
            limits = self._limits[key] = (
                None if rules is None else _Limits.of(rules, rules.thresholds_for(own)))
            return limits

    def _evaluate(self, readings, points, alarms) -> list[Watch]:
        watched = []
        for pid, group in groupby(readings, key=itemgetter(0)):
            point = points[pid]
            limits = self._limits_for(point.kind, point.thresholds)
            if limits is None:  # a kind without rules raises no alarm
                continue
            alarm = alarms.get(pid)
            series = [(ts, v) for _, ts, v in group]
            if alarm is None and limits.quiet(series, point.last_at, point.last_value):
                continue  # the usual case: nothing to open, nothing to follow
            watch = Watch(pid, limits.rules, limits.thresholds, point.last_at, point.last_value,
                          alarm)
            evaluate(watch, series, self.rules)
            if watch.alarms:
                watched.append(watch)
        return watched


async def _open_alarms(conn, ids: list[int]) -> dict[int, Alarm]:
    """The alarms not closed of the points `ids`, locked until the batch commits."""
    cur = await conn.execute(
        """SELECT monitoring_point_id, id, grade, state, value, reading_at, peak_value,
                  last_breach_at, cleared_at, reason
           FROM alarms WHERE state <> 'closed' AND monitoring_point_id = ANY(%s::bigint[])
           ORDER BY monitoring_point_id FOR UPDATE""", [ids])
    found = {}
    for pid, aid, grade, state, value, reading_at, peak, breach, cleared, reason in await cur.fetchall():
        when = reading_at or dt.datetime.min.replace(tzinfo=dt.UTC)  # raised by hand: no reading
        found[pid] = Alarm(aid, grade, state, value if value is not None else float("nan"), when,
                           peak if peak is not None else value, breach or when, cleared,
                           reason or "")
    return found


async def _write(conn, watches: list[Watch], points: dict[int, PointNow]) -> AlarmOutcome:
    outcome = AlarmOutcome()
    new = [(w, a) for w in watches for a in w.alarms if a.id is None]
    if new:
        cur = await conn.execute(
            "SELECT nextval(pg_get_serial_sequence('alarms', 'id')) FROM generate_series(1, %s)",
            [len(new)])
        for (_, alarm), (aid,) in zip(new, await cur.fetchall()):
            alarm.id = aid
        await _insert_alarms(conn, new)
    changed = [(w, a) for w in watches for a in w.alarms if a.changed_state]
    opened_now = {id(a) for _, a in new}
    old_changed = [(w, a) for w, a in changed if id(a) not in opened_now]
    if old_changed:
        await _update_alarms(conn, [a for _, a in old_changed])
    history = []
    for watch, alarm in changed:
        for e in alarm.events:
            history.append((alarm.id, e.event, e.grade, e.grade_from,
                            "closed" if e.event == "closed" else "open",
                            QUIET_CLOSER if e.event == "closed" else RULES_ACTOR,
                            e.value, e.reading_at, e.reason))
            outcome.opened += e.event == "opened"
            outcome.escalated += e.event == "escalated"
            outcome.closed += e.event == "closed"
            unit = points[watch.point_id].risk_unit_id
            if unit is not None and "red" in (e.grade, e.grade_from):
                outcome.red_units.add(unit)
    if history:
        columns = list(zip(*history))
        await conn.execute(
            """INSERT INTO alarm_history (alarm_id, event, grade, grade_from, state, actor,
                                          value, reading_at, reason)
               SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[],
                                    %s::text[], %s::text[], %s::float8[], %s::timestamptz[],
                                    %s::text[])""", [list(c) for c in columns])
        await _grade_points(conn, {w.point_id: (w.alarm.grade if w.alarm else None)
                                   for w, _ in changed})
    tracked = [a for w in watches for a in w.alarms if a.touched and not a.changed_state]
    if tracked:
        await mark_latest_only(conn)
        await conn.execute(
            """UPDATE alarms a SET peak_value = x.peak, last_breach_at = x.breach,
                                   cleared_at = x.cleared, updated_at = now()
               FROM unnest(%s::bigint[], %s::float8[], %s::timestamptz[], %s::timestamptz[])
                    AS x (id, peak, breach, cleared)
               WHERE a.id = x.id""",
            [[a.id for a in tracked], [a.peak_value for a in tracked],
             [a.last_breach_at for a in tracked], [a.cleared_at for a in tracked]])
    return outcome


async def mark_latest_only(conn) -> None:
    """From here to the commit, updates write only latest values: layer versions stay."""
    await conn.execute("SELECT set_config('onemap.latest_only', 'on', true)")


async def _insert_alarms(conn, new: list[tuple[Watch, Alarm]]) -> None:
    alarms = [a for _, a in new]
    await conn.execute(
        """INSERT INTO alarms (id, monitoring_point_id, grade, state, value, reading_at, reason,
                               peak_value, last_breach_at, cleared_at, escalated_at,
                               closed_at, closed_by, kind, district_code, synthetic, geom)
           SELECT x.id, p.id, x.grade, x.state, x.value, x.reading_at, x.reason, x.peak,
                  x.breach, x.cleared, CASE WHEN x.escalated THEN now() END,
                  CASE WHEN x.state = 'closed' THEN now() END,
                  CASE WHEN x.state = 'closed' THEN %s END,
                  p.kind, p.district_code, p.synthetic, p.geom
           FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::float8[],
                       %s::timestamptz[], %s::text[], %s::float8[], %s::timestamptz[],
                       %s::timestamptz[], %s::boolean[])
                AS x (id, point, grade, state, value, reading_at, reason, peak, breach,
                      cleared, escalated)
           JOIN monitoring_points p ON p.id = x.point""",
        [QUIET_CLOSER, [a.id for a in alarms], [w.point_id for w, _ in new],
         [a.grade for a in alarms], [a.state for a in alarms], [a.value for a in alarms],
         [a.reading_at for a in alarms], [a.reason for a in alarms],
         [a.peak_value for a in alarms], [a.last_breach_at for a in alarms],
         [a.cleared_at for a in alarms],
         [any(e.event == "escalated" for e in a.events) for a in alarms]])


async def _update_alarms(conn, alarms: list[Alarm]) -> None:
    await conn.execute(
        """UPDATE alarms a SET grade = x.grade, state = x.state, reason = x.reason,
                  peak_value = x.peak, last_breach_at = x.breach, cleared_at = x.cleared,
                  escalated_at = CASE WHEN x.escalated THEN now() ELSE a.escalated_at END,
                  -- raised again: it needs a person's acknowledgement again
                  acknowledged_at = CASE WHEN x.escalated THEN NULL ELSE a.acknowledged_at END,
                  acknowledged_by = CASE WHEN x.escalated THEN NULL ELSE a.acknowledged_by END,
                  closed_at = CASE WHEN x.state = 'closed' THEN now() END,
                  closed_by = CASE WHEN x.state = 'closed' THEN %s END,
                  updated_at = now()
           FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::float8[],
                       %s::timestamptz[], %s::timestamptz[], %s::boolean[])
                AS x (id, grade, state, reason, peak, breach, cleared, escalated)
           WHERE a.id = x.id""",
        [QUIET_CLOSER, [a.id for a in alarms], [a.grade for a in alarms],
         [a.state for a in alarms], [a.reason for a in alarms], [a.peak_value for a in alarms],
         [a.last_breach_at for a in alarms], [a.cleared_at for a in alarms],
         [any(e.event == "escalated" for e in a.events) for a in alarms]])


async def _grade_points(conn, grades: dict[int, str | None]) -> None:
    """Each point's grade is its alarm's not closed (None: it has none)."""
    ids = sorted(grades)
    await conn.execute(
        """UPDATE monitoring_points p SET grade = x.grade
           FROM unnest(%s::bigint[], %s::text[]) AS x (id, grade)
           WHERE p.id = x.id AND p.grade IS DISTINCT FROM x.grade""",
        [ids, [grades[i] for i in ids]])

