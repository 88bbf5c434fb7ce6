"""The readings simulator, alone (no database): determinism, daily cycles, incidents that
cross the thresholds and clear again, faults at their rates, every point in turn."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from geodata.readings.simulator import (
    INCIDENT_MINUTES,
    MODELS,
    CitySimulator,
    Faults,
    bands_from_rules,
    physical_ranges,
)
from layers.alarms.rules import load_rules

KINDS = list(MODELS)
PER_KIND = 200
NO_FAULTS = Faults(stuck_per_day=0, silent_per_day=0, spike_share=0)
# 2025-07-01 00:00 in Xi'an (UTC+8), as UTC seconds
MIDNIGHT = dt.datetime(2025, 7, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
BANDS = bands_from_rules(load_rules().describe())  # what GET /alarms/rules answers
RANGES = physical_ranges()


def city(seed: int = 1, incidents: float = 0.0, faults: Faults = NO_FAULTS,
         own: np.ndarray | None = None) -> CitySimulator:
    kinds = [k for k in KINDS for _ in range(PER_KIND)]
    codes = [f"MP-{i + 1:06d}" for i in range(len(kinds))]
    thresholds = np.full((len(kinds), 4), np.nan) if own is None else own
    return CitySimulator(codes, kinds, thresholds, BANDS, RANGES, seed=seed,
                         incidents_per_hour=incidents, faults=faults)


def run(sim: CitySimulator, start: float, seconds: float, per_second: int):
    """Every second, the next `per_second` points in turn: (points, times, values)."""
    points, times, values = [], [], []
    for k in range(int(seconds)):
        idx = sim.next_points(per_second)
        t = start + k + np.arange(1, per_second + 1) / per_second
        points.append(idx), times.append(t), values.append(sim.sample(idx, t))
    return np.concatenate(points), np.concatenate(times), np.concatenate(values)


def of_kind(sim: CitySimulator, kind: str) -> np.ndarray:
    return np.flatnonzero(sim.kinds == kind)


def clear(sim: CitySimulator, points, values) -> np.ndarray:
    """Whether each value is beyond blue by the hysteresis (what the service calls clear)."""
    points, values = np.atleast_1d(points), np.atleast_1d(values)
    kinds = sim.kinds[points]
    above = np.array([BANDS[k].direction == "above" for k in kinds])
    hysteresis = np.array([BANDS[k].hysteresis for k in kinds])
    blue = sim.thresholds[points, 0]
    return np.where(above, values < blue - hysteresis, values > blue + hysteresis)


def test_the_same_seed_gives_the_same_readings_and_another_seed_others():
    a, b, c = (city(seed, incidents=600, faults=Faults()) for seed in (7, 7, 8))
    ra, rb, rc = (run(sim, MIDNIGHT, 120, 50) for sim in (a, b, c))

    np.testing.assert_array_equal(ra[0], rb[0])
    np.testing.assert_array_equal(ra[2], rb[2])  # NaN (silent) at the same places too
    assert a.stats == b.stats
    assert not np.array_equal(ra[2], rc[2], equal_nan=True)


def test_a_points_own_level_does_not_depend_on_the_seed():
    # a restart with another seed must not jump a point's value (rise rules would alarm)
    a, b = city(seed=1), city(seed=2)
    points = np.arange(len(a))
    np.testing.assert_allclose(a.normal(points, MIDNIGHT + 3600), b.normal(points, MIDNIGHT + 3600))


def test_all_points_report_once_in_each_cycle():
    sim = city()
    n = len(sim)
    first = np.concatenate([sim.next_points(137) for _ in range(n // 137)]
                           + [sim.next_points(n % 137)])
    second = sim.next_points(n)

    assert sorted(first.tolist()) == list(range(n))
    np.testing.assert_array_equal(first, second)  # the same turn again
    assert set(sim.kinds[first[:100]]) == set(KINDS)  # kinds mixed in every batch


def daily_mean(sim: CitySimulator, kind: str, hour: float) -> float:
    points = of_kind(sim, kind)
    return float(np.mean([sim.normal(points, MIDNIGHT + day * 86400 + hour * 3600)
                          for day in range(3)]))


def test_water_pressure_dips_at_the_demand_peaks():
    sim = city()
    night = daily_mean(sim, "water_supply", 3)

    assert daily_mean(sim, "water_supply", 8) < night - 0.02
    assert daily_mean(sim, "water_supply", 20) < night - 0.02
    assert daily_mean(sim, "water_supply", 14) < night  # a smaller midday draw


def test_cable_temperature_follows_the_load_and_heating_wells_the_day():
    sim = city()
    assert daily_mean(sim, "power", 20) > daily_mean(sim, "power", 4) + 5
    assert daily_mean(sim, "power", 15) > daily_mean(sim, "power", 10)
    assert daily_mean(sim, "heating", 15) > daily_mean(sim, "heating", 3) + 2
    bridge = [daily_mean(sim, "bridge", h) for h in range(24)]
    assert max(bridge) - min(bridge) < 0.1  # small and steady


def test_normal_readings_stay_clear_of_every_alarm_band():
    sim = city()
    for hour in (3, 8, 15, 20):  # night, the morning demand peak, afternoon, evening peak
        points, _, values = run(sim, MIDNIGHT + hour * 3600, 60, 1200)
        assert clear(sim, points, values).all()
    gas = values[sim.kinds[points] == "gas"]
    assert 0 <= gas.min() and np.percentile(gas, 99) <= 2.5  # near 0–2 %LEL


def test_drainage_ponds_only_while_it_rains():
    sim = city()
    drains = of_kind(sim, "drainage")
    dry = sim.normal(drains, MIDNIGHT)
    sim.rain = (MIDNIGHT, 600.0, 1800.0, 900.0, 1.0)  # rises 10 min, lasts 30, drains 15
    wet = sim.normal(drains, MIDNIGHT + 1200)

    assert dry.max() == 0
    assert wet.max() > 3 and np.median(wet) < wet.max()
    assert clear(sim, drains, wet).all()  # rain alone raises no alarm


def follow(sim: CitySimulator, point: int, start: float, every: float = 20.0):
    """Readings of `point` every `every` s from `start` until 10 min after its incident."""
    end = sim.incident_end(point) + 600
    times = np.arange(start, end, every)
    return times, np.array([sim.sample(np.array([point]), t)[0] for t in times])


@pytest.mark.parametrize("kind", KINDS)
def test_an_incident_crosses_its_target_threshold_then_clears(kind):
    sim = city()
    point = int(of_kind(sim, kind)[3])
    t0 = MIDNIGHT + 9 * 3600
    sim.start_incident(point, t0, grade=3)
    end = sim.incident_end(point)
    times, values = follow(sim, point, t0 - 60)
    band, red = BANDS[kind], sim.thresholds[point, 3]

    worst = values.max() if band.direction == "above" else values.min()
    assert (worst >= red) if band.direction == "above" else (worst <= red)
    first_beyond = times[np.flatnonzero(~clear(sim, np.full(len(values), point), values))[0]]
    assert t0 <= first_beyond <= t0 + INCIDENT_MINUTES[kind][0][1] * 60  # within minutes
    after = values[times > end]
    assert len(after) and clear(sim, np.full(len(after), point), after).all()
    assert np.isnan(sim.inc_start[point])  # over: the point is free for another incident


@pytest.mark.parametrize("kind", ["gas", "water_supply"])
def test_a_minor_incident_crosses_blue_but_not_yellow(kind):
    sim = city()
    point = int(of_kind(sim, kind)[5])
    sim.start_incident(point, MIDNIGHT, grade=0, minutes=(10, 5, 5))  # slow: no rise rule
    _, values = follow(sim, point, MIDNIGHT)
    blue, yellow = sim.thresholds[point, :2]

    if BANDS[kind].direction == "above":
        assert blue <= values.max() < yellow
    else:
        assert yellow < values.min() <= blue


def test_an_incident_uses_the_points_own_thresholds():
    own = np.full((len(KINDS) * PER_KIND, 4), np.nan)
    point = int(np.flatnonzero(np.repeat(KINDS, PER_KIND) == "gas")[0])
    own[point] = (3.5, 8.0, 12.0, 20.0)  # a detector set tighter than the kind's
    sim = city(own=own)
    peak = sim.start_incident(point, MIDNIGHT, grade=3)
    _, values = follow(sim, point, MIDNIGHT)

    assert 20.0 < peak < BANDS["gas"].thresholds[3]  # beyond its red, short of the kind's
    assert values.max() >= 20.0
    assert sim.normal(np.array([point]), MIDNIGHT).max() < 3.5 - BANDS["gas"].hysteresis


def test_incidents_start_at_the_rate_asked_and_reach_each_grade():
    sim = city(incidents=3600)  # one a second across the city
    run(sim, MIDNIGHT, 300, 100)
    started = sum(sim.stats.incidents.values())

    assert 240 <= started <= 360
    assert set(sim.stats.incidents) == set(KINDS)
    assert set(sim.inc_grade[sim.inc_grade >= 0].tolist()) == {0, 1, 2, 3}


def test_spikes_fall_outside_the_physical_range_at_their_small_rate():
    sim = city(faults=Faults(stuck_per_day=0, silent_per_day=0))  # default spike share
    points, _, values = run(sim, MIDNIGHT, 250, 1000)
    low = np.array([RANGES[k][0] for k in sim.kinds[points]])
    high = np.array([RANGES[k][1] for k in sim.kinds[points]])
    outside = int(((values < low) | (values > high)).sum())

    expected = Faults().spike_share * len(values)  # 50 of 250,000
    assert outside == sim.stats.spikes
    assert expected / 2 <= outside <= expected * 2


def test_stuck_sensors_repeat_a_value_and_silent_points_send_nothing():
    faults = Faults(stuck_per_day=200, silent_per_day=200, spike_share=0)
    sim = city(faults=faults)
    points, times, values = run(sim, MIDNIGHT, 600, 200)  # every point each 6 s

    assert sim.stats.stuck > 0 and sim.stats.silent > 0
    silent = np.isnan(values)
    assert silent.sum() == sim.stats.withheld > 0
    stuck = (sim.stuck_from[points] <= times) & (times < sim.stuck_until[points]) & ~silent
    repeats = [np.unique(values[stuck & (points == p)]).size for p in np.unique(points[stuck])]
    assert repeats and max(repeats) == 1  # one value all along
    fine = ~silent & ~stuck
    assert clear(sim, points[fine], values[fine]).all()
