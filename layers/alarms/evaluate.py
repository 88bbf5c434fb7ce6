"""What a point's new readings do to its alarm: open one, raise its grade, keep it from
clearing, or close it after a quiet period. Pure: the caller reads the point's state, calls
`evaluate`, and writes what changed (`layers.alarms.store`).

A point has at most one alarm not closed. For each reading, in time order:
- its level is the highest grade whose threshold it reaches, or that a rise rule gives it
  (compared with the point's reading just before, when that is within the rule's window);
- a level above none opens an alarm, or raises the open alarm's grade (an acknowledged alarm
  raised goes back to `open`: a person must look again); a grade never falls by itself;
- a reading not clear (short of the blue threshold by less than the hysteresis) keeps the
  alarm from clearing; the first clear reading after it starts the quiet period, and a clear
  reading that period later closes alarms of the grades allowed to close quietly.
Readings older than the point's latest reading still open and raise alarms (a late red
reading is still a red alarm) but neither start nor end a quiet period, nor feed rise rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from layers.alarms.rules import GRADES, AlarmRules, KindRules, rank

QUIET_CLOSER = "quiet period"


@dataclass
class Event:
    """A change to record in the alarm history."""

    event: str                   # opened, escalated, closed
    grade: str
    grade_from: str | None
    value: float
    reading_at: dt.datetime
    reason: str


@dataclass
class Alarm:
    """An alarm of one point as the evaluation sees it; `id` None: opened by this batch."""

    id: int | None
    grade: str
    state: str
    value: float                 # the reading that opened it
    reading_at: dt.datetime
    peak_value: float
    last_breach_at: dt.datetime
    cleared_at: dt.datetime | None
    reason: str = ""
    events: list[Event] = field(default_factory=list)
    touched: bool = False        # its peak, last breach or clearing moved

    @property
    def changed_state(self) -> bool:
        """Whether it opened, changed grade or closed (what the history and maps show)."""
        return bool(self.events)


@dataclass
class Watch:
    """A point before its new readings: its rules, thresholds, latest reading and alarm."""

    point_id: int
    rules: KindRules
    thresholds: tuple[float, ...]
    last_at: dt.datetime | None
    last_value: float | None
    alarm: Alarm | None
    alarms: list[Alarm] = field(default_factory=list)  # every alarm this batch touched


def evaluate(watch: Watch, readings: list[tuple[dt.datetime, float]], rules: AlarmRules) -> Watch:
    """Apply `readings` (sorted by time) to `watch`; the alarms touched end in `watch.alarms`."""
    kind = watch.rules
    for ts, value in readings:
        newest = watch.last_at is None or ts > watch.last_at
        level, reason = _level(kind, watch, ts, value, newest)
        alarm = watch.alarm
        if level:
            if alarm is None:
                alarm = _open(watch, level, value, ts, reason)
            elif level > rank(alarm.grade):
                _escalate(alarm, level, value, ts, reason)
                _touch(watch, alarm)
            _breach(watch, alarm, ts, value)
        elif alarm is not None:
            if not kind.clear(value, watch.thresholds):
                _breach(watch, alarm, ts, value)  # within the hysteresis band: not clear yet
            elif newest and ts > alarm.last_breach_at:
                if alarm.cleared_at is None:
                    alarm.cleared_at = ts
                    _touch(watch, alarm)
                elif (ts - alarm.cleared_at >= rules.quiet_period
                      and rules.closes_quietly(alarm.grade)):
                    _close_quietly(watch, alarm, ts, value, rules)
        if newest:
            watch.last_at, watch.last_value = ts, value
    return watch


# Reasons are read by the bureau's staff: Chinese first, English after.
GRADES_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


def _level(kind: KindRules, watch: Watch, ts: dt.datetime, value: float,
           newest: bool) -> tuple[int, str]:
    level = kind.level(value, watch.thresholds)
    reason = ""
    if level:
        grade, limit = GRADES[level - 1], watch.thresholds[level - 1]
        reason = (f"{value:g} {kind.unit} 达到{GRADES_ZH[grade]}阈值 {limit:g} · "
                  f"{value:g} {kind.unit} reached the {grade} threshold {limit:g}")
    if newest and watch.last_at is not None:
        change = value - watch.last_value
        risen, rule = kind.rise_level(change, ts - watch.last_at)
        if risen > level:
            minutes = (ts - watch.last_at).total_seconds() / 60
            window = rule.within.total_seconds() / 60
            level = risen
            reason = (f"{minutes:.1f} 分钟内{'上升' if change > 0 else '下降'} "
                      f"{abs(change):g} {kind.unit}（{window:g} 分钟内变化 {rule.by:g} 即为"
                      f"{GRADES_ZH[rule.grade]}）· {'rose' if change > 0 else 'fell'} "
                      f"{abs(change):g} {kind.unit} in {minutes:.1f} min (rule: {rule.by:g} "
                      f"within {window:g} min is {rule.grade})")
    return level, reason


def _open(watch: Watch, level: int, value: float, ts: dt.datetime, reason: str) -> Alarm:
    grade = GRADES[level - 1]
    alarm = Alarm(id=None, grade=grade, state="open", value=value, reading_at=ts,
                  peak_value=value, last_breach_at=ts, cleared_at=None, reason=reason)
    alarm.events.append(Event("opened", grade, None, value, ts, reason))
    watch.alarm = alarm
    watch.alarms.append(alarm)
    return alarm


def _escalate(alarm: Alarm, level: int, value: float, ts: dt.datetime, reason: str) -> None:
    grade = GRADES[level - 1]
    alarm.events.append(Event("escalated", grade, alarm.grade, value, ts, reason))
    alarm.grade, alarm.state, alarm.reason = grade, "open", reason


def _breach(watch: Watch, alarm: Alarm, ts: dt.datetime, value: float) -> None:
    """A reading that is not clear: the alarm stays, its quiet period starts again."""
    _touch(watch, alarm)
    alarm.last_breach_at = max(alarm.last_breach_at, ts)
    if alarm.cleared_at is not None and ts >= alarm.cleared_at:
        alarm.cleared_at = None
    # the peak is the worst value: highest for rising kinds, lowest for falling ones
    if (value > alarm.peak_value) if watch.rules.direction == "above" else (value < alarm.peak_value):
        alarm.peak_value = value


def _touch(watch: Watch, alarm: Alarm) -> None:
    alarm.touched = True
    if alarm not in watch.alarms:
        watch.alarms.append(alarm)


def _close_quietly(watch: Watch, alarm: Alarm, ts: dt.datetime, value: float,
                   rules: AlarmRules) -> None:
    minutes = rules.quiet_period.total_seconds() / 60
    alarm.events.append(Event("closed", alarm.grade, alarm.grade, value, ts,
                              f"clear since {alarm.cleared_at.isoformat()}, "
                              f"{minutes:g} min quiet period"))
    alarm.state = "closed"
    watch.alarm = None
    _touch(watch, alarm)
