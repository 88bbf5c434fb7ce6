"""POST /readings: each row checked, valid rows stored once, the latest on the point, tokens."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ReadingsSettings

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
NO_ALARMS = {"opened": 0, "escalated": 0, "closed": 0}


@pytest.fixture(scope="module")
def points(sql):
    """A few monitoring points per kind: {kind: [(id, code), …]}."""
    found = {}
    for kind in ("gas", "water_supply", "drainage"):
        found[kind] = sql("SELECT id, code FROM monitoring_points WHERE kind = %s "
                          "ORDER BY id LIMIT 10", [kind])
    return found


def at(minutes: float) -> str:
    """An ISO timestamp `minutes` from the test's start (negative: in the past), in UTC+8."""
    return (NOW + dt.timedelta(minutes=minutes)).astimezone(
        dt.timezone(dt.timedelta(hours=8))).isoformat()


def stored(sql, point_id: int) -> list[tuple]:
    return sql("SELECT ts, value FROM readings WHERE monitoring_point_id = %s ORDER BY ts",
               [point_id])


def test_each_rejected_row_is_named_with_its_index_and_reason(client, tokens, points, sql):
    (gas_id, gas), (gas2_id, gas2) = points["gas"][:2]
    batch = [
        {"point": gas, "ts": at(-100), "value": 3.5},                     # 0 ok
        {"point": "NO-SUCH-POINT", "ts": at(-100), "value": 1},           # 1 unknown point
        {"point": gas, "ts": at(-99), "value": "abc"},                    # 2 not a number
        {"point": gas, "ts": at(-98), "value": "NaN"},                    # 3 not finite
        {"point": gas, "ts": "2024-05-01T08:00:00", "value": 1},          # 4 naive timestamp
        {"point": gas, "ts": at(60), "value": 1},                         # 5 future beyond skew
        {"point": gas, "ts": at(-97), "value": 150},                      # 6 over 100 %LEL
        {"point": gas, "ts": at(-96), "value": -1},                       # 7 below 0 %LEL
        {"point": gas2, "ts": at(1), "value": 7},                         # 8 ok: within skew
        "not an object",                                                  # 9
        {"point": gas, "ts": at(-95)},                                    # 10 missing value
        {"point": gas, "ts": "yesterday", "value": 1},                    # 11 not ISO 8601
        {"point": gas, "ts": at(-95), "value": True},                     # 12 a boolean
    ]
    response = client.post("/readings", json=batch, headers=tokens["operator"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    assert "unknown point 'NO-SUCH-POINT'" in reasons[1]
    assert "not a number" in reasons[2]
    assert "not finite" in reasons[3]
    assert "no time zone" in reasons[4]
    assert "in the future" in reasons[5] and "300 s" in reasons[5]
    assert "out of the physical range of gas (0 to 100 %LEL)" in reasons[6]
    assert "out of the physical range" in reasons[7]
    assert "not an object" in reasons[9]
    assert "missing value" in reasons[10]
    assert "not an ISO 8601 timestamp" in reasons[11]
    assert "not a number" in reasons[12]
    assert [v for _, v in stored(sql, gas_id)] == [3.5]
    assert [v for _, v in stored(sql, gas2_id)] == [7.0]


def test_a_retried_batch_counts_duplicates_and_stores_each_reading_once(client, tokens, points, sql):
    (pid, code), *_ = points["water_supply"]
    batch = [{"point": code, "ts": at(-200 + i), "value": 0.3 + i / 100} for i in range(5)]
    first = client.post("/readings", json=batch, headers=tokens["operator"]).json()
    again = client.post("/readings", json=batch, headers=tokens["operator"]).json()
    assert first == {"accepted": 5, "duplicates": 0, "rejected": [], "alarms": NO_ALARMS}
    assert again == {"accepted": 0, "duplicates": 5, "rejected": [], "alarms": NO_ALARMS}
    # partly new: the old rows are duplicates, the new one is stored
    more = batch + [{"point": code, "ts": at(-190), "value": 0.5}]
    assert client.post("/readings", json=more, headers=tokens["operator"]).json() == {
        "accepted": 1, "duplicates": 5, "rejected": [], "alarms": NO_ALARMS}
    assert len(stored(sql, pid)) == 6


def test_the_same_reading_twice_in_one_batch_is_one_reading_and_one_duplicate(
        client, tokens, points, sql):
    pid, code = points["water_supply"][1]
    ts = at(-300)
    same_instant = (NOW + dt.timedelta(minutes=-300)).isoformat().replace("+00:00", "Z")
    batch = [{"point": code, "ts": ts, "value": 0.4}, {"point": pid, "ts": same_instant, "value": 0.9}]
    body = client.post("/readings", json=batch, headers=tokens["admin"]).json()
    assert body == {"accepted": 1, "duplicates": 1, "rejected": [], "alarms": NO_ALARMS}
    assert [v for _, v in stored(sql, pid)] == [0.4]  # the first one sent


def test_csv_with_codes_and_ids_in_any_column_order(client, tokens, points, sql):
    (id1, code1), (id2, _) = points["drainage"][:2]
    text = ("value,point,ts\n"
            f"12.5,{code1},{at(-400)}\n"
            f"20,{id2},{at(-400)}\n"
            "\n"
            f"7,{code1}\n"
            f"3,{code1},{at(-399).replace('+08:00', '')}\n")
    response = client.post("/readings", content=text.encode(),
                           headers={**tokens["operator"], "Content-Type": "text/csv; charset=utf-8"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [r["index"] for r in body["rejected"]] == [2, 3]  # the blank line is not a row
    assert "2 fields where the header has 3" in body["rejected"][0]["reason"]
    assert "no time zone" in body["rejected"][1]["reason"]
    assert [v for _, v in stored(sql, id1)] == [12.5]
    assert [v for _, v in stored(sql, id2)] == [20.0]


def test_the_point_keeps_its_latest_value_and_time(client, tokens, points, sql):
    pid, code = points["gas"][2]
    newer, older = at(-10), at(-20)
    client.post("/readings", json=[{"point": code, "ts": newer, "value": 4}],
                headers=tokens["operator"])
    client.post("/readings", json=[{"point": code, "ts": older, "value": 9}],
                headers=tokens["operator"])  # late but older: stored, not the latest
    (value, when), = sql("SELECT last_value, last_reading_at FROM monitoring_points_now WHERE id = %s",
                         [pid])
    assert value == 4 and when == dt.datetime.fromisoformat(newer)
    assert len(stored(sql, pid)) == 2
    batch = [{"point": code, "ts": at(-5), "value": 6}, {"point": code, "ts": at(-7), "value": 8}]
    client.post("/readings", json=batch, headers=tokens["operator"])
    assert sql("SELECT last_value FROM monitoring_points_now WHERE id = %s", [pid]) == [(6.0,)]


def test_partitions_are_made_for_the_days_of_the_batch(client, tokens, points, sql):
    pid, code = points["gas"][3]
    days_ago = [40, 41, 55]
    batch = [{"point": code, "ts": (NOW - dt.timedelta(days=d)).isoformat(), "value": 1}
             for d in days_ago]
    assert client.post("/readings", json=batch, headers=tokens["operator"]).json()["accepted"] == 3
    where = sql("SELECT tableoid::regclass::text FROM readings WHERE monitoring_point_id = %s "
                "ORDER BY ts DESC", [pid])
    assert [w for (w,) in where] == [
        "readings_" + (NOW - dt.timedelta(days=d)).strftime("%Y%m%d") for d in days_ago]


def test_readings_older_than_the_retention_are_refused(client, tokens, points):
    code = points["gas"][4][1]
    old = (NOW - dt.timedelta(days=500)).isoformat()
    body = client.post("/readings", json=[{"point": code, "ts": old, "value": 1}],
                       headers=tokens["operator"]).json()
    assert body["accepted"] == 0 and "400-day retention" in body["rejected"][0]["reason"]


@pytest.mark.parametrize("content, media, status, words", [
    (b"[{", "application/json", 400, "not valid JSON"),
    (b'{"point": "x"}', "application/json", 400, "JSON array"),
    (b"", "application/json", 400, "JSON array"),
    (b"code,time,reading\nx,y,1\n", "text/csv", 400, "missing: point, ts, value"),
    (b"\xff\xfe", "text/csv", 400, "not UTF-8"),
    (b"<readings/>", "application/xml", 415, "application/json or text/csv"),
])
def test_a_body_that_cannot_be_read_is_refused_with_a_message(
        client, tokens, sql, content, media, status, words):
    before = sql("SELECT count(*) FROM readings")
    response = client.post("/readings", content=content,
                           headers={**tokens["operator"], "Content-Type": media})
    assert response.status_code == status
    assert words in response.json()["description"]
    assert sql("SELECT count(*) FROM readings") == before


def test_an_empty_array_stores_nothing(client, tokens):
    assert client.post("/readings", json=[], headers=tokens["operator"]).json() == {
        "accepted": 0, "duplicates": 0, "rejected": [], "alarms": NO_ALARMS}


def test_ten_thousand_rows_are_taken_and_more_than_the_cap_is_413(
        module_scratch_url, settings_for, client, tokens, points, sql):
    ids = [pid for kind in points.values() for pid, _ in kind]
    batch = [{"point": ids[i % len(ids)], "ts": at(-1000 - i / 60), "value": 1}
             for i in range(10_000)]
    response = client.post("/readings", json=batch, headers=tokens["operator"])
    assert response.json()["accepted"] == 10_000
    over = client.post("/readings", json=batch + batch[:1], headers=tokens["operator"])
    assert over.status_code == 413 and "at most 10,000" in over.json()["description"]

    settings = settings_for(module_scratch_url).model_copy(
        update={"readings": ReadingsSettings(max_rows=3, max_body_bytes=10_000)})
    before = sql("SELECT count(*) FROM readings")
    with TestClient(create_app(settings)) as small:
        rows = [{"point": ids[0], "ts": at(-2000 - i), "value": 1} for i in range(4)]
        refused = small.post("/readings", json=rows, headers=tokens["operator"])
        assert refused.status_code == 413 and "split the batch" in refused.json()["description"]
        csv_rows = "point,ts,value\n" + "".join(f"{ids[0]},{at(-2000 - i)},1\n" for i in range(4))
        refused = small.post("/readings", content=csv_rows.encode(),
                             headers={**tokens["operator"], "Content-Type": "text/csv"})
        assert refused.status_code == 413
        huge = small.post("/readings", content=b"[" + b" " * 20_000 + b"]",
                          headers={**tokens["operator"], "Content-Type": "application/json"})
        assert huge.status_code == 413 and "bytes" in huge.json()["description"]
    assert sql("SELECT count(*) FROM readings") == before


def test_writing_needs_an_operator_or_admin_token(client, tokens, points, sql):
    code = points["gas"][5][1]
    batch = [{"point": code, "ts": at(-3000), "value": 1}]
    anonymous = client.post("/readings", json=batch)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    unknown = client.post("/readings", json=batch, headers={"Authorization": "Bearer om_nope"})
    assert unknown.status_code == 401
    analyst = client.post("/readings", json=batch, headers=tokens["analyst"])
    assert analyst.status_code == 403 and "operator" in analyst.json()["description"]
    assert sql("SELECT count(*) FROM readings WHERE monitoring_point_id = %s AND ts = %s",
               [points["gas"][5][0], dt.datetime.fromisoformat(batch[0]["ts"])]) == [(0,)]


def test_readings_answer_503_when_the_database_is_down(closed_port_url, settings_for):
    with TestClient(create_app(settings_for(closed_port_url))) as client:
        response = client.post("/readings", json=[], headers={"Authorization": "Bearer om_x"})
    assert response.status_code == 503 and response.headers["retry-after"]


def test_upkeep_makes_partitions_ahead_and_drops_those_past_the_retention(module_scratch_url, sql):
    import asyncio

    from geodata.readings.store import keep_partitions

    sql("SELECT readings_ensure_partitions('2020-01-01', 2)")  # committed by the context

    async def run():
        async with await psycopg.AsyncConnection.connect(module_scratch_url) as conn:
            return await keep_partitions(conn, ahead_days=10, retention_days=400)

    made, dropped = asyncio.run(run())
    assert dropped == 2 and made >= 2  # the migration made a week ahead; now ten days
    names = {n for (n,) in sql("SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                               "ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass")}
    ahead = (NOW + dt.timedelta(days=10)).strftime("%Y%m%d")
    assert f"readings_{ahead}" in names and "readings_20200101" not in names
