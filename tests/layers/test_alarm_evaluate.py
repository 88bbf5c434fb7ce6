"""What readings do to a point's alarm, worked out by hand on the shipped rules.

Gas (above): blue 5, yellow 10, orange 25, red 50 %LEL, hysteresis 2 (clear below 3), rise
10 within 5 min → orange. Water supply (below): blue 0.25 … red 0.1 MPa, hysteresis 0.02
(clear above 0.27), fall 0.1 within 5 min → orange. Quiet period 30 min for blue and yellow.
"""

from __future__ import annotations

import datetime as dt

import pytest

from layers.alarms.evaluate import Alarm, Watch, evaluate
from layers.alarms.rules import load_rules

T0 = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)
RULES = load_rules()


def minutes(m: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=m)


def watch(kind: str = "gas", alarm: Alarm | None = None, last: tuple | None = None,
          own: tuple = (None, None, None, None)) -> Watch:
    rules = RULES.kinds[kind]
    last_at, last_value = last or (None, None)
    return Watch(1, rules, rules.thresholds_for(own), last_at, last_value, alarm)


def run(w: Watch, *readings: tuple[float, float]) -> Watch:
    return evaluate(w, [(minutes(m), v) for m, v in readings], RULES)


def events(w: Watch) -> list[tuple]:
    return [(e.event, e.grade) for a in w.alarms for e in a.events]


def test_normal_readings_open_nothing():
    w = run(watch(), (0, 1.0), (1, 2.5), (2, 4.9))
    assert w.alarm is None and w.alarms == []
    assert (w.last_at, w.last_value) == (minutes(2), 4.9)


def test_a_reading_over_a_threshold_opens_an_alarm_of_that_grade():
    w = run(watch(), (0, 1.0), (6, 12.0))
    assert events(w) == [("opened", "yellow")]
    assert (w.alarm.grade, w.alarm.state, w.alarm.value) == ("yellow", "open", 12.0)
    assert w.alarm.reason == ("12 %LEL 达到黄色阈值 10 · "
                              "12 %LEL reached the yellow threshold 10")


def test_a_higher_reading_raises_the_grade_and_a_lower_one_never_lowers_it():
    w = run(watch(), (0, 12.0), (10, 30.0), (20, 60.0), (30, 8.0))
    assert events(w) == [("opened", "yellow"), ("escalated", "orange"), ("escalated", "red")]
    assert w.alarm.grade == "red" and w.alarm.peak_value == 60.0


def test_an_acknowledged_alarm_raised_again_is_open_again():
    acknowledged = Alarm(7, "yellow", "acknowledged", 11.0, minutes(-10), 11.0, minutes(-10), None)
    w = run(watch(alarm=acknowledged, last=(minutes(-10), 11.0)), (10, 26.0))
    assert events(w) == [("escalated", "orange")]
    assert (w.alarm.id, w.alarm.state, w.alarm.grade) == (7, "open", "orange")


def test_a_fast_rise_gives_its_grade_even_under_the_thresholds():
    # 2 → 13 in 3 min: a rise of 11 ≥ 10 within 5 min is orange (the threshold says yellow)
    w = run(watch(last=(minutes(-3), 2.0)), (0, 13.0))
    assert events(w) == [("opened", "orange")]
    assert w.alarm.reason.startswith("3.0 分钟内上升 11 %LEL")
    assert "rose 11 %LEL in 3.0 min (rule: 10 within 5 min is orange)" in w.alarm.reason


def test_a_slow_rise_is_graded_by_the_thresholds_only():
    # the same rise over 6 minutes is outside the rule's 5-minute window
    w = run(watch(last=(minutes(-6), 2.0)), (0, 13.0))
    assert events(w) == [("opened", "yellow")]


def test_a_value_wavering_around_a_threshold_keeps_one_alarm_open():
    # 4.9 / 5.1 around blue 5: readings of 3 and above are within the hysteresis band
    w = run(watch(), *[(m, 5.1 if m % 2 else 4.0) for m in range(120)])
    assert events(w) == [("opened", "blue")]
    assert w.alarm is not None and w.alarm.cleared_at is None  # never clear: never closes


def test_clear_readings_for_the_quiet_period_close_a_minor_alarm():
    w = run(watch(), (0, 12.0), (5, 2.0), (20, 1.0), (34, 1.5))
    assert w.alarm is not None and w.alarm.cleared_at == minutes(5)  # 29 min clear so far
    w = run(w, (35, 1.0))
    assert events(w) == [("opened", "yellow"), ("closed", "yellow")]
    assert w.alarm is None and w.alarms[0].state == "closed"


def test_a_breach_during_the_quiet_period_starts_it_again():
    w = run(watch(), (0, 12.0), (5, 2.0), (30, 4.0), (40, 2.0), (65, 2.0))
    assert w.alarm is not None and w.alarm.cleared_at == minutes(40)
    w = run(w, (70, 2.0))
    assert w.alarm is None


@pytest.mark.parametrize("peak", [30.0, 60.0])
def test_orange_and_red_alarms_wait_for_a_person(peak):
    w = run(watch(), (0, peak), (5, 1.0), (120, 1.0), (600, 1.0))
    assert w.alarm is not None and w.alarm.state == "open"
    assert [e for e, _ in events(w)] == ["opened"]


def test_after_a_quiet_close_a_new_crossing_opens_a_new_alarm():
    w = run(watch(), (0, 6.0), (1, 1.0), (40, 1.0), (41, 7.0))
    assert events(w) == [("opened", "blue"), ("closed", "blue"), ("opened", "blue")]
    assert w.alarms[0] is not w.alarms[1] and w.alarm is w.alarms[1]


def test_falling_kinds_alarm_below_their_thresholds_and_on_a_fast_fall():
    w = run(watch("water_supply"), (0, 0.30), (60, 0.18))
    assert events(w) == [("opened", "yellow")]  # 0.18 ≤ yellow 0.2
    burst = run(watch("water_supply", last=(minutes(-2), 0.33)), (0, 0.22))
    assert events(burst) == [("opened", "orange")]  # fell 0.11 in 2 min
    assert "fell 0.11 MPa in 2.0 min" in burst.alarm.reason
    assert burst.alarm.peak_value == 0.22
    run(burst, (1, 0.12))
    assert burst.alarm.peak_value == 0.12  # the worst value of a falling kind is the lowest


def test_a_late_reading_still_alarms_but_does_not_start_the_quiet_period():
    w = run(watch(last=(minutes(60), 1.0)), (10, 55.0))
    assert events(w) == [("opened", "red")]
    assert (w.last_at, w.last_value) == (minutes(60), 1.0)  # the latest stays the latest
    yellow = run(watch(last=(minutes(60), 1.0)), (10, 12.0), (20, 1.0))
    assert yellow.alarm.cleared_at is None


def test_a_points_own_thresholds_replace_the_kinds():
    w = run(watch(own=(None, 8.0, None, None)), (0, 9.0))
    assert events(w) == [("opened", "yellow")]
    assert "threshold 8" in w.alarm.reason
