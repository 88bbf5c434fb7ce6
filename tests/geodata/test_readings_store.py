"""Storing batches of readings: the points known from memory, the latest reading of each
point, duplicates among new readings, and what the alarm rules get to see."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
import psycopg
import pytest

from geodata.readings.batch import Limits, read_batch
from geodata.readings.store import store_batch
from layers.alarms.rules import load_rules
from layers.alarms.watch import AlarmWatch

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LIMITS = Limits(max_rows=10_000, future_skew=dt.timedelta(minutes=5),
                retention=dt.timedelta(days=30))


def at(minutes: float) -> str:
    return (NOW + dt.timedelta(minutes=minutes)).isoformat()


def post(url: str, rows: list[dict], watch: AlarmWatch | None = None):
    """Store `rows` as one batch, as POST /readings does; the report."""
    async def run():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            batch = read_batch(orjson.dumps(rows), "json", LIMITS, dt.datetime.now(dt.UTC))
            return await store_batch(conn, batch, after=watch)
    return asyncio.run(run())


@pytest.fixture
def db(scratch_url):
    def sql(query, params=()):
        with psycopg.connect(scratch_url) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else cur.rowcount
    sql.url = scratch_url
    return sql


def gas_point(db) -> tuple[int, str]:
    """A gas point with the kind's thresholds."""
    return db("SELECT id, code FROM monitoring_points WHERE kind = 'gas' "
              "AND threshold_red IS NULL ORDER BY id LIMIT 1")[0]


def latest(db, pid: int) -> tuple:
    return db("SELECT ts, value FROM monitoring_latest WHERE monitoring_point_id = %s", [pid])[0]


def test_a_point_recoded_after_its_first_batch_is_found_by_its_new_code_only(db):
    pid, code = gas_point(db)
    assert post(db.url, [{"point": code, "ts": at(-30), "value": 1.0}]).accepted == 1
    db("UPDATE monitoring_points SET code = 'MP-RECODED' WHERE id = %s", [pid])
    report = post(db.url, [{"point": "MP-RECODED", "ts": at(-29), "value": 1.5},
                           {"point": code, "ts": at(-28), "value": 2.0}])
    assert report.accepted == 1
    assert [(r.index, r.reason) for r in report.rejected] == [(1, f"unknown point {code!r}")]
    assert db("SELECT value FROM readings WHERE monitoring_point_id = %s ORDER BY ts",
              [pid]) == [(1.0,), (1.5,)]


def test_a_point_deleted_after_its_first_batch_takes_no_more_readings(db):
    pid, code = gas_point(db)
    post(db.url, [{"point": code, "ts": at(-30), "value": 1.0}])
    db("DELETE FROM monitoring_points WHERE id = %s", [pid])
    report = post(db.url, [{"point": code, "ts": at(-29), "value": 1.5},
                           {"point": pid, "ts": at(-28), "value": 1.5}])
    assert report.accepted == 0 and len(report.rejected) == 2
    assert db("SELECT count(*) FROM readings WHERE monitoring_point_id = %s", [pid]) == [(1,)]


def test_thresholds_changed_after_the_first_batch_are_the_ones_applied(db):
    pid, code = gas_point(db)
    watch = AlarmWatch(load_rules())
    post(db.url, [{"point": code, "ts": at(-30), "value": 1.0}], watch)
    # the kind's red is 50 %LEL; this point's own red is now 3
    db("UPDATE monitoring_points SET threshold_blue = 1, threshold_yellow = 1.5, "
       "threshold_orange = 2, threshold_red = 3 WHERE id = %s", [pid])
    report = post(db.url, [{"point": code, "ts": at(-29), "value": 4.0}], watch)
    assert report.watched.opened == 1
    assert db("SELECT grade FROM alarms WHERE monitoring_point_id = %s", [pid]) == [("red",)]


def test_a_batch_partly_stored_before_stores_the_rest_once(db):
    pid, code = gas_point(db)
    first = [{"point": code, "ts": at(-30 + i), "value": 1.0 + i} for i in range(3)]
    post(db.url, first)
    again = first + [{"point": code, "ts": at(-20), "value": 2.5}]
    report = post(db.url, again)
    assert (report.accepted, report.duplicates, report.rejected) == (1, 3, [])
    assert db("SELECT count(*) FROM readings WHERE monitoring_point_id = %s", [pid]) == [(4,)]
    assert latest(db, pid) == (NOW + dt.timedelta(minutes=-20), 2.5)


def test_a_late_reading_is_stored_but_does_not_move_the_latest(db):
    pid, code = gas_point(db)
    post(db.url, [{"point": code, "ts": at(-10), "value": 3.0}])
    report = post(db.url, [{"point": code, "ts": at(-40), "value": 4.0}])
    assert report.accepted == 1
    assert latest(db, pid) == (NOW + dt.timedelta(minutes=-10), 3.0)


def test_a_rise_is_measured_against_the_reading_of_an_earlier_batch(db):
    """Gas rising 11 %LEL in 2 minutes: orange by the rise rule (10 within 5 minutes), where
    the value alone (12 %LEL) is only yellow."""
    pid, code = gas_point(db)
    watch = AlarmWatch(load_rules())
    post(db.url, [{"point": code, "ts": at(-12), "value": 1.0}], watch)
    report = post(db.url, [{"point": code, "ts": at(-10), "value": 12.0}], watch)
    assert report.watched.opened == 1
    assert db("SELECT grade FROM alarms WHERE monitoring_point_id = %s", [pid]) == [("orange",)]


def test_the_same_values_without_a_reading_before_are_only_as_bad_as_their_level(db):
    pid, code = gas_point(db)
    watch = AlarmWatch(load_rules())
    post(db.url, [{"point": code, "ts": at(-10), "value": 12.0}], watch)
    assert db("SELECT grade FROM alarms WHERE monitoring_point_id = %s", [pid]) == [("yellow",)]


def test_a_latest_row_removed_by_hand_is_made_again(db):
    pid, code = gas_point(db)
    post(db.url, [{"point": code, "ts": at(-30), "value": 1.0}])
    db("DELETE FROM monitoring_latest WHERE monitoring_point_id = %s", [pid])
    report = post(db.url, [{"point": code, "ts": at(-29), "value": 2.0}])
    assert report.accepted == 1
    assert latest(db, pid) == (NOW + dt.timedelta(minutes=-29), 2.0)


def test_a_new_point_has_its_latest_row_and_takes_readings(db):
    (pid,) = db("""INSERT INTO monitoring_points (code, name, kind, unit, district_code, geom)
                   SELECT 'MP-NEW', '新点', 'gas', '%%LEL', district_code, geom
                   FROM monitoring_points ORDER BY id LIMIT 1 RETURNING id""")[0]
    assert latest(db, pid) == (None, None)
    assert post(db.url, [{"point": "MP-NEW", "ts": at(-5), "value": 1.0}]).accepted == 1
    assert latest(db, pid) == (NOW + dt.timedelta(minutes=-5), 1.0)
    assert db("SELECT last_value FROM monitoring_points_now WHERE id = %s", [pid]) == [(1.0,)]
