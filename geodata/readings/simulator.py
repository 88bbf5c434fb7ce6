"""Simulated readings of the lifeline monitoring points, for watching readings → alarms → map.

Pure (numpy, no I/O besides the kinds' physical ranges) and deterministic for a seed: the
same seed and the same calls give the same values. `CitySimulator.sample(points, t)` gives
each point's reading at time `t` (UTC seconds since the epoch):

- a normal value per kind, with daily cycles in the city's local time (water pressure dips
  at the morning and evening demand peaks, cable temperature follows the load, heating wells
  follow the day's warmth), city-wide rain events that pond water at drainage points, and
  sensor noise; a point's own level comes from its code, so it is the same for any seed;
- faults: a stuck sensor repeating one value, a spike outside the physical range (the
  service rejects it), a point going silent (NaN: nothing to send);
- incidents: a point's value moves over minutes beyond the threshold of a target grade
  (from the alarm rules, or the point's own thresholds), holds, then comes back to normal,
  which is clear of the blue threshold by more than the hysteresis.
Normal values never reach the alarm band: only incidents raise alarms.
"""

from __future__ import annotations

import csv
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS_FILE = Path(__file__).resolve().parents[1] / "data" / "monitoring_kinds.csv"
GRADES = ("blue", "yellow", "orange", "red")
LOCAL_OFFSET_S = 8 * 3600     # Xi'an keeps UTC+8: daily cycles follow its clock
DAY_S = 86400.0

# sensor noise (standard deviation) and resolution (decimals) per kind, in the kind's unit
NOISE = {"gas": 0.25, "water_supply": 0.004, "drainage": 0.3, "heating": 0.3,
         "bridge": 0.01, "power": 0.4}
DECIMALS = {"gas": 1, "water_supply": 3, "drainage": 1, "heating": 1, "bridge": 2, "power": 1}
# an incident's minutes to develop, to hold at its worst, and to recover (low, high)
INCIDENT_MINUTES = {
    "gas": ((1, 4), (3, 8), (3, 6)),             # a leak fills the space; valve shut, aired
    "water_supply": ((0.2, 1), (5, 15), (3, 8)),  # a burst main: pressure falls within a minute
    "drainage": ((3, 8), (5, 15), (10, 20)),     # a blocked inlet in a storm
    "heating": ((2, 6), (5, 10), (10, 20)),      # hot water leaking into the well
    "bridge": ((0.5, 3), (5, 10), (3, 6)),       # a pier settling or struck
    "power": ((3, 8), (5, 10), (8, 15)),         # a cable overheating under load
}
GRADE_ODDS = (0.3, 0.3, 0.25, 0.15)  # target grade of an incident: blue … red
BEYOND = 0.4                          # how far into the next band an incident goes
RAIN_PER_HOUR = 0.2                   # city-wide rain; drainage incidents are 5× likelier in it


@dataclass(frozen=True)
class AlarmBand:
    """What the alarm rules say of a kind: direction, thresholds blue … red, hysteresis."""

    direction: str                                # "above" or "below"
    thresholds: tuple[float, float, float, float]
    hysteresis: float


@dataclass(frozen=True)
class Faults:
    """How often sensors fail: per point and day (stuck, silent), per reading (spike)."""

    stuck_per_day: float = 0.01
    stuck_minutes: tuple[float, float] = (5, 30)
    silent_per_day: float = 0.02
    silent_minutes: tuple[float, float] = (2, 20)
    spike_share: float = 2e-4


@dataclass
class SimulatorStats:
    """What the simulator did: incidents started per kind, faults, readings held back."""

    incidents: Counter = field(default_factory=Counter)
    spikes: int = 0
    stuck: int = 0
    silent: int = 0
    withheld: int = 0


def bands_from_rules(doc: dict) -> dict[str, AlarmBand]:
    """The `kinds` of `GET /alarms/rules` as bands per kind."""
    return {kind: AlarmBand(k["direction"], tuple(float(k["thresholds"][g]) for g in GRADES),
                            float(k["hysteresis"]))
            for kind, k in doc["kinds"].items()}


def physical_ranges(path: Path = KINDS_FILE) -> dict[str, tuple[float, float]]:
    """Each kind's physical range (outside it the service rejects a reading as a fault)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["kind"]: (float(r["physical_min"]), float(r["physical_max"]))
                for r in csv.DictReader(fh)}


def character(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers in [0, 1) per point from its code: its own level, the same for any seed."""
    u1 = np.array([zlib.crc32(k.encode()) for k in keys], dtype=float) / 2**32
    u2 = np.array([zlib.crc32(k.encode() + b"/2") for k in keys], dtype=float) / 2**32
    return u1, u2


# ---- normal values per kind: (u1, u2, local hour, day of year, rain 0..1) -> value ----

def _bump(hour, centre, width):
    """A daily bump around `centre` o'clock, wrapped around midnight."""
    d = (hour - centre + 12) % 24 - 12
    return np.exp(-0.5 * (d / width) ** 2)


def _gas(u1, u2, hour, doy, rain):
    return 0.3 + 1.2 * u1  # background near 0–2 %LEL


def _water_supply(u1, u2, hour, doy, rain):
    demand = np.clip(0.9 * _bump(hour, 7.5, 1.2) + _bump(hour, 19.5, 1.6)
                     + 0.35 * _bump(hour, 12.5, 1.5), 0, 1)
    return (0.38 + 0.10 * u1) - (0.035 + 0.03 * u2) * demand  # highest at night


def _drainage(u1, u2, hour, doy, rain):
    return 10.0 * u1 ** 2 * rain  # most inlets drain; a few pond a little while it rains


def _heating(u1, u2, hour, doy, rain):
    season = ((doy >= 319) | (doy <= 74)).astype(float)  # Xi'an heats 15 Nov – 15 Mar
    return 16 + 6 * u1 + 9 * season + 1.5 * np.cos(2 * np.pi * (hour - 15) / 24)


def _bridge(u1, u2, hour, doy, rain):
    return 0.1 + 0.4 * u1 + 0.03 * (0.5 + 0.5 * u2) * np.cos(2 * np.pi * (hour - 14) / 24)


def _power(u1, u2, hour, doy, rain):
    load = 0.35 + 0.65 * np.clip(0.4 * _bump(hour, 10, 2) + 0.7 * _bump(hour, 15, 2.5)
                                 + _bump(hour, 20, 2.0), 0, 1)  # afternoon and evening peak
    summer = 0.5 * (1 + np.cos(2 * np.pi * (doy - 200) / 365))
    return 12 + 6 * u2 + 10 * summer + (12 + 12 * u1) * load ** 2


MODELS = {"gas": _gas, "water_supply": _water_supply, "drainage": _drainage,
          "heating": _heating, "bridge": _bridge, "power": _power}


def incident_shape(tau: np.ndarray, rise: np.ndarray, hold: np.ndarray,
                   fall: np.ndarray) -> np.ndarray:
    """How far (0..1) an incident `tau` seconds old has gone: fast at first, then held, then
    easing back to 0."""
    tau = np.nan_to_num(tau, nan=-1.0)
    up = (1 - np.exp(-3 * np.clip(tau, 0, None) / rise)) / (1 - np.exp(-3))
    back = np.clip((tau - rise - hold) / fall, 0, 1)
    return np.where(tau < 0, 0.0, np.where(tau < rise, up,
                                           np.where(tau < rise + hold, 1.0,
                                                    0.5 * (1 + np.cos(np.pi * back)))))


class CitySimulator:
    """Readings of every point of the city, with faults and incidents, over time."""

    def __init__(self, codes: list[str], kinds: list[str], own_thresholds: np.ndarray,
                 bands: dict[str, AlarmBand], ranges: dict[str, tuple[float, float]],
                 seed: int = 0, incidents_per_hour: float = 240.0, faults: Faults = Faults()):
        """`own_thresholds`: (n, 4) blue … red per point, NaN where the kind's apply. Every
        kind must have a model, alarm rules and a physical range."""
        missing = sorted({k for k in kinds if k not in MODELS or k not in bands or k not in ranges})
        if missing:
            raise ValueError(f"no model, alarm rules or physical range for kind(s) {missing}")
        n = len(codes)
        self.codes, self.kinds = list(codes), np.array(kinds)
        self.rng = np.random.default_rng(seed)
        self.incidents_per_hour, self.faults = incidents_per_hour, faults
        self.u1, self.u2 = character(self.codes)
        self.sign = np.array([1.0 if bands[k].direction == "above" else -1.0 for k in kinds])
        kind_t = np.array([bands[k].thresholds for k in kinds]).reshape(n, 4)
        own = np.asarray(own_thresholds, dtype=float).reshape(n, 4)
        self.thresholds = np.where(np.isnan(own), kind_t, own)
        hysteresis = np.array([bands[k].hysteresis for k in kinds])
        self.noise = np.array([NOISE[k] for k in kinds])
        # normal values stay clear of blue by the hysteresis and three noise deviations
        self.clear_edge = self.thresholds[:, 0] - self.sign * (hysteresis + 3 * self.noise)
        self.low = np.array([ranges[k][0] for k in kinds])
        self.high = np.array([ranges[k][1] for k in kinds])
        self.scale = 10.0 ** np.array([DECIMALS[k] for k in kinds])
        self.order = self.rng.permutation(n)  # the turn in which points report
        self._cursor = 0
        nan = lambda: np.full(n, np.nan)
        self.inc_start, self.inc_rise, self.inc_hold, self.inc_fall = nan(), nan(), nan(), nan()
        self.inc_peak, self.inc_grade = nan(), np.full(n, -1)
        self.stuck_from, self.stuck_until, self.stuck_value = nan(), nan(), nan()
        self.silent_from, self.silent_until = nan(), nan()
        self.rain = None            # (start, up, length, down, peak) of the rain event, if any
        self.stats = SimulatorStats()
        self._t: float | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def next_points(self, count: int) -> np.ndarray:
        """The next `count` points in turn (a fixed order over all points, then again)."""
        at = (self._cursor + np.arange(count)) % len(self.order)
        self._cursor = (self._cursor + count) % len(self.order)
        return self.order[at]

    def normal(self, points: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The points' values at `t` without noise, faults or incidents."""
        t = np.broadcast_to(np.asarray(t, dtype=float), points.shape)
        local = t + LOCAL_OFFSET_S
        hour = (local % DAY_S) / 3600
        doy = np.floor((local // DAY_S) % 365.2425) + 1  # day of the year (±1 is enough)
        rain = self.rain_level(t)
        values = np.empty(len(points))
        kinds = self.kinds[points]
        for kind, model in MODELS.items():
            m = kinds == kind
            if m.any():
                p = points[m]
                values[m] = model(self.u1[p], self.u2[p], hour[m], doy[m], rain[m])
        edge, sign = self.clear_edge[points], self.sign[points]
        return np.where(sign * (values - edge) > 0, edge, values)  # never into the alarm band

    def rain_level(self, t: np.ndarray) -> np.ndarray:
        """The city's rain (0..1) at `t`: rises, lasts, stops."""
        t = np.asarray(t, dtype=float)
        if self.rain is None:
            return np.zeros_like(t)
        start, up, length, down, peak = self.rain
        tau = t - start
        level = np.clip(np.minimum(tau / up, (up + length + down - tau) / down), 0, 1)
        return peak * level

    def start_incident(self, point: int, t: float, grade: int | None = None,
                       minutes: tuple[float, float, float] | None = None) -> float:
        """Start an incident at `point` at `t`, reaching beyond the threshold of `grade`
        (0 blue … 3 red; None: drawn); returns the value it reaches at its worst."""
        kind = self.kinds[point]
        if grade is None:
            grade = int(self.rng.choice(4, p=GRADE_ODDS))
        if minutes is None:
            minutes = tuple(self.rng.uniform(*span) for span in INCIDENT_MINUTES[kind])
        th = self.thresholds[point]
        edge = th[grade + 1] if grade < 3 else th[3] + (th[3] - th[2])
        peak = th[grade] + BEYOND * (edge - th[grade])
        margin = 0.01 * (self.high[point] - self.low[point])
        peak = float(np.clip(peak, self.low[point] + margin, self.high[point] - margin))
        self.inc_start[point], self.inc_peak[point], self.inc_grade[point] = t, peak, grade
        self.inc_rise[point], self.inc_hold[point], self.inc_fall[point] = (60 * m for m in minutes)
        self.stats.incidents[str(kind)] += 1
        return peak

    def incident_end(self, point: int) -> float:
        """When the incident at `point` is over (NaN: none)."""
        return float(self.inc_start[point] + self.inc_rise[point] + self.inc_hold[point]
                     + self.inc_fall[point])

    def sample(self, points: np.ndarray, t) -> np.ndarray:
        """The readings of `points` at `t` (one time, or one per point, not going back):
        rounded to the sensor's resolution; NaN for a point that is silent."""
        points = np.asarray(points, dtype=np.int64)
        t = np.broadcast_to(np.asarray(t, dtype=float), points.shape)
        if not len(points):
            return np.empty(0)
        self._advance(float(t.max()))
        self._expire(float(t.min()))
        shape = incident_shape(t - self.inc_start[points], self.inc_rise[points],
                               self.inc_hold[points], self.inc_fall[points])
        peak = np.nan_to_num(self.inc_peak[points])
        values = (1 - shape) * self.normal(points, t) + shape * peak
        values += self.rng.normal(0.0, 1.0, len(points)) * self.noise[points]
        values = np.clip(values, self.low[points], self.high[points])
        values = np.round(values * self.scale[points]) / self.scale[points]
        values = self._stuck(points, t, values)
        silent = (self.silent_from[points] <= t) & (t < self.silent_until[points])
        self.stats.withheld += int(silent.sum())
        values = self._spikes(points, values, ~silent)
        return np.where(silent, np.nan, values)

    # ---- events: started by Poisson draws over the time since the last call ----

    def _advance(self, now: float) -> None:
        if self._t is None or now <= self._t:
            self._t = now if self._t is None else self._t
            return
        since, hours = self._t, (now - self._t) / 3600
        self._t = now
        n, f = len(self), self.faults
        if self.rain is None and self.rng.random() < 1 - np.exp(-RAIN_PER_HOUR * hours):
            up, length, down = (60 * self.rng.uniform(*s) for s in ((10, 20), (20, 60), (15, 30)))
            self.rain = (self.rng.uniform(since, now), up, length, down, self.rng.uniform(0.3, 1))
        rain = float(self.rain_level(np.array(now)))
        for _ in range(self.rng.poisson(self.incidents_per_hour * hours)):
            free = np.isnan(self.inc_start) & ~(self.silent_until > now)
            if not free.any():
                break
            weight = free * np.where(self.kinds == "drainage", 1 + 4 * rain, 1.0)
            point = int(self.rng.choice(n, p=weight / weight.sum()))
            self.start_incident(point, float(self.rng.uniform(since, now)))
        self.stats.stuck += self._faults(f.stuck_per_day * n * hours / 24, since, now,
                                         self.stuck_from, self.stuck_until, f.stuck_minutes)
        self.stats.silent += self._faults(f.silent_per_day * n * hours / 24, since, now,
                                          self.silent_from, self.silent_until, f.silent_minutes)

    def _faults(self, expected: float, since: float, now: float, start: np.ndarray,
                until: np.ndarray, minutes: tuple[float, float]) -> int:
        """Start a Poisson number of faults on points free of that fault; how many."""
        free = np.flatnonzero(~(until > since))
        count = min(int(self.rng.poisson(expected)), len(free))
        if count:
            points = self.rng.choice(free, count, replace=False)
            start[points] = self.rng.uniform(since, now, count)
            until[points] = start[points] + 60 * self.rng.uniform(*minutes, count)
            if start is self.stuck_from:
                self.stuck_value[points] = np.nan  # taken from the first reading while stuck
        return count

    def _expire(self, before: float) -> None:
        ended = (self.inc_start + self.inc_rise + self.inc_hold + self.inc_fall) < before
        for array in (self.inc_start, self.inc_rise, self.inc_hold, self.inc_fall, self.inc_peak):
            array[ended] = np.nan
        self.inc_grade[ended] = -1
        if self.rain is not None and sum(self.rain[:4]) < before:
            self.rain = None

    def _stuck(self, points: np.ndarray, t: np.ndarray, values: np.ndarray) -> np.ndarray:
        stuck = (self.stuck_from[points] <= t) & (t < self.stuck_until[points])
        first = stuck & np.isnan(self.stuck_value[points])
        self.stuck_value[points[first]] = values[first]
        return np.where(stuck, self.stuck_value[points], values)

    def _spikes(self, points: np.ndarray, values: np.ndarray, sent: np.ndarray) -> np.ndarray:
        spike = (self.rng.random(len(points)) < self.faults.spike_share) & sent
        if spike.any():
            low, high = self.low[points[spike]], self.high[points[spike]]
            jump = (high - low) * self.rng.uniform(0.05, 0.5, int(spike.sum()))
            up = self.rng.random(int(spike.sum())) < 0.5
            values = values.copy()
            values[spike] = np.round(np.where(up, high + jump, low - jump), 1)
            self.stats.spikes += int(spike.sum())
        return values
