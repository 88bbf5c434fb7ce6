"""The alarm rules in force: thresholds per grade, rises and hysteresis per kind of point,
and when an alarm closes by itself. Read from `layers/rules/alarms.toml`; a bad file is
refused with a message naming its key before anything uses it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from geodata.errors import OnemapError
from layers.rule_files import positive, read_rules

RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "alarms.toml"
GRADES = ("blue", "yellow", "orange", "red")  # rank 1 to 4; 0 is "no alarm"
LABEL = "alarm rules"


class AlarmRulesError(OnemapError):
    """The alarm rules are not usable; the message names the key."""


def rank(grade: str | None) -> int:
    return GRADES.index(grade) + 1 if grade else 0


@dataclass(frozen=True)
class Rise:
    """A move of `by` (in the alarming direction) within `within` makes at least `grade`."""

    by: float
    within: dt.timedelta
    grade: str
    source: str


@dataclass(frozen=True)
class KindRules:
    kind: str
    direction: str                          # "above" or "below"
    unit: str
    thresholds: tuple[float, float, float, float]  # blue, yellow, orange, red
    hysteresis: float
    rises: tuple[Rise, ...]
    source: str

    def thresholds_for(self, own: tuple[float | None, ...]) -> tuple[float, ...]:
        """The point's thresholds: each of its own that is set, else the kind's."""
        return tuple(k if o is None else o for k, o in zip(self.thresholds, own))

    def level(self, value: float, thresholds: tuple[float, ...]) -> int:
        """The rank of the highest grade whose threshold `value` reaches (0: none)."""
        level = 0
        for i, limit in enumerate(thresholds):
            if (value >= limit) if self.direction == "above" else (value <= limit):
                level = i + 1
        return level

    def clear(self, value: float, thresholds: tuple[float, ...]) -> bool:
        """Whether `value` is beyond the blue threshold by the hysteresis (all clear)."""
        if self.direction == "above":
            return value < thresholds[0] - self.hysteresis
        return value > thresholds[0] + self.hysteresis

    def rise_level(self, change: float, elapsed: dt.timedelta) -> tuple[int, Rise | None]:
        """The highest grade a rise rule gives to a move of `change` (signed) in `elapsed`."""
        moved = change if self.direction == "above" else -change
        best, which = 0, None
        for rise in self.rises:
            if elapsed <= rise.within and moved >= rise.by and rank(rise.grade) > best:
                best, which = rank(rise.grade), rise
        return best, which

    def describe(self) -> dict:
        return {"direction": self.direction, "unit": self.unit,
                "thresholds": dict(zip(GRADES, self.thresholds)),
                "hysteresis": self.hysteresis, "source": self.source,
                "rises": [{"by": r.by, "within_minutes": r.within.total_seconds() / 60,
                           "grade": r.grade, "source": r.source} for r in self.rises]}


@dataclass(frozen=True)
class AlarmRules:
    kinds: dict[str, KindRules]
    quiet_period: dt.timedelta
    quiet_close_grades: tuple[str, ...]

    def closes_quietly(self, grade: str) -> bool:
        return grade in self.quiet_close_grades

    def describe(self) -> dict:
        return {"lifecycle": {"quiet_period_minutes": self.quiet_period.total_seconds() / 60,
                              "quiet_close_grades": list(self.quiet_close_grades)},
                "kinds": {kind: rules.describe() for kind, rules in self.kinds.items()}}


def load_rules(path: Path = RULES_FILE) -> AlarmRules:
    return parse_rules(read_rules(path, LABEL, AlarmRulesError))


def parse_rules(doc: dict) -> AlarmRules:
    life = _table(doc, "lifecycle")
    quiet = positive(life, "quiet_period_minutes", "lifecycle", LABEL, AlarmRulesError)
    grades = life.get("quiet_close_grades", [])
    if not isinstance(grades, list) or any(g not in GRADES for g in grades):
        raise AlarmRulesError(f"{LABEL}: lifecycle.quiet_close_grades must list grades "
                              f"among {', '.join(GRADES)}, not {grades!r}")
    kinds = _table(doc, "kinds")
    if not kinds:
        raise AlarmRulesError(f"{LABEL}: no [kinds.…] table: every kind needs its thresholds")
    return AlarmRules(kinds={kind: _kind(kind, _table(kinds, kind, "kinds"))
                             for kind in kinds},
                      quiet_period=dt.timedelta(minutes=quiet),
                      quiet_close_grades=tuple(grades))


def _table(doc: dict, key: str, where: str = "") -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        name = f"{where}.{key}" if where else key
        raise AlarmRulesError(f"{LABEL}: {name} must be a table")
    return value


def _kind(kind: str, doc: dict) -> KindRules:
    where = f"kinds.{kind}"
    direction = doc.get("direction")
    if direction not in ("above", "below"):
        raise AlarmRulesError(f"{LABEL}: {where}.direction must be 'above' or 'below', "
                              f"not {direction!r}")
    thresholds = tuple(_number(doc, grade, where) for grade in GRADES)
    ordered = sorted(thresholds, reverse=direction == "below")
    if list(thresholds) != ordered or len(set(thresholds)) < 4:
        trend = "rise" if direction == "above" else "fall"
        raise AlarmRulesError(f"{LABEL}: {where}: the thresholds blue, yellow, orange, red must "
                              f"{trend} strictly for an '{direction}' kind, not {thresholds}")
    unit, source = doc.get("unit"), doc.get("source")
    for key, value in (("unit", unit), ("source", source)):
        if not isinstance(value, str) or not value.strip():
            raise AlarmRulesError(f"{LABEL}: {where}.{key} must be a text")
    hysteresis = _number(doc, "hysteresis", where)
    if hysteresis < 0:
        raise AlarmRulesError(f"{LABEL}: {where}.hysteresis must be 0 or more")
    rises = doc.get("rise", [])
    if not isinstance(rises, list):
        raise AlarmRulesError(f"{LABEL}: {where}.rise must be an array of tables ([[{where}.rise]])")
    return KindRules(kind=kind, direction=direction, unit=unit, thresholds=thresholds,
                     hysteresis=hysteresis, source=source,
                     rises=tuple(_rise(rise, f"{where}.rise[{i}]") for i, rise in enumerate(rises)))


def _rise(doc: dict, where: str) -> Rise:
    if not isinstance(doc, dict):
        raise AlarmRulesError(f"{LABEL}: {where} must be a table")
    grade = doc.get("grade")
    if grade not in GRADES:
        raise AlarmRulesError(f"{LABEL}: {where}.grade must be one of {', '.join(GRADES)}, "
                              f"not {grade!r}")
    return Rise(by=positive(doc, "by", where, LABEL, AlarmRulesError),
                within=dt.timedelta(minutes=positive(doc, "within_minutes", where, LABEL,
                                                     AlarmRulesError)),
                grade=grade, source=str(doc.get("source", "")))


def _number(doc: dict, key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlarmRulesError(f"{LABEL}: {where}.{key} must be a number, not {value!r}")
    return float(value)
