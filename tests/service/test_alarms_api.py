"""Alarms through the API: readings open and raise them, people acknowledge and close them,
every change is in the history, the point and its risk unit follow, the list filters."""

from __future__ import annotations

import datetime as dt
import time

import pytest

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def at(minutes: float) -> str:
    return (NOW + dt.timedelta(minutes=minutes)).isoformat()


@pytest.fixture(scope="module")
def gas_points(sql):
    """Gas points linked to a risk unit, each test taking its own: iterator of (id, code, unit)."""
    return iter(sql("SELECT id, code, risk_unit_id FROM monitoring_points WHERE kind = 'gas' "
                    "AND risk_unit_id IS NOT NULL AND grade IS NULL ORDER BY id LIMIT 40"))


def send(client, tokens, code, *readings):
    """Post (minutes, value) readings of one point; the answer's alarm counts."""
    body = [{"point": code, "ts": at(m), "value": v} for m, v in readings]
    answer = client.post("/readings", json=body, headers=tokens["operator"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(body)
    return answer.json()["alarms"]


def alarm_of(client, code) -> dict:
    listed = client.get("/alarms", params={"point": code, "state": "open,acknowledged"}).json()
    assert listed["matched"] == 1, listed
    return listed["alarms"][0]


def test_a_reading_over_a_threshold_opens_an_alarm_and_grades_its_point(client, tokens, gas_points, sql):
    pid, code, _ = next(gas_points)
    assert send(client, tokens, code, (-30, 1.0), (-29, 2.0)) == {"opened": 0, "escalated": 0, "closed": 0}
    assert send(client, tokens, code, (-20, 12.0)) == {"opened": 1, "escalated": 0, "closed": 0}
    alarm = alarm_of(client, code)
    assert (alarm["grade"], alarm["state"], alarm["value"], alarm["kind"]) == ("yellow", "open", 12.0, "gas")
    assert alarm["reason"] == "12 %LEL 达到黄色阈值 10 · 12 %LEL reached the yellow threshold 10"
    assert sql("SELECT grade FROM monitoring_points WHERE id = %s", [pid]) == [("yellow",)]
    one = client.get(f"/alarms/{alarm['id']}").json()
    assert [(h["event"], h["grade"], h["actor"]) for h in one["history"]] == [("opened", "yellow", "rules")]


def test_a_worse_reading_raises_the_alarm_and_a_retry_changes_nothing(client, tokens, gas_points, sql):
    pid, code, _ = next(gas_points)
    send(client, tokens, code, (-20, 12.0))
    assert send(client, tokens, code, (-10, 30.0)) == {"opened": 0, "escalated": 1, "closed": 0}
    again = client.post("/readings", json=[{"point": code, "ts": at(-10), "value": 30.0}],
                        headers=tokens["operator"]).json()
    assert again["duplicates"] == 1 and again["alarms"] == {"opened": 0, "escalated": 0, "closed": 0}
    alarm = alarm_of(client, code)
    assert alarm["grade"] == "orange" and alarm["peak_value"] == 30.0
    history = client.get(f"/alarms/{alarm['id']}").json()["history"]
    assert [(h["event"], h["grade_from"], h["grade"]) for h in history] == [
        ("opened", None, "yellow"), ("escalated", "yellow", "orange")]
    assert sql("SELECT count(*) FROM alarms WHERE monitoring_point_id = %s", [pid]) == [(1,)]


def test_acknowledge_then_close_with_who_when_and_a_note(client, tokens, gas_points, sql):
    pid, code, _ = next(gas_points)
    send(client, tokens, code, (-20, 30.0))
    aid = alarm_of(client, code)["id"]
    acked = client.post(f"/alarms/{aid}/ack", json={"note": "已派人"}, headers=tokens["commander"])
    assert acked.status_code == 200
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "值班 commander")
    twice = client.post(f"/alarms/{aid}/ack", json={}, headers=tokens["operator"])
    assert twice.status_code == 409 and "acknowledged" in twice.json()["description"]
    no_note = client.post(f"/alarms/{aid}/close", json={}, headers=tokens["operator"])
    assert no_note.status_code == 400 and no_note.json()["parameter"] == "note"
    blank = client.post(f"/alarms/{aid}/close", json={"note": "  "}, headers=tokens["operator"])
    assert blank.status_code == 400
    closed = client.post(f"/alarms/{aid}/close", json={"note": "阀门已关，浓度归零"},
                         headers=tokens["operator"]).json()
    assert (closed["state"], closed["closed_by"], closed["note"]) == ("closed", "值班 operator", "阀门已关，浓度归零")
    assert closed["closed_at"] is not None
    assert sql("SELECT grade FROM monitoring_points WHERE id = %s", [pid]) == [(None,)]
    history = client.get(f"/alarms/{aid}").json()["history"]
    assert [(h["event"], h["actor"], h["note"]) for h in history] == [
        ("opened", "rules", None), ("acknowledged", "值班 commander", "已派人"),
        ("closed", "值班 operator", "阀门已关，浓度归零")]
    again = client.post(f"/alarms/{aid}/close", json={"note": "x"}, headers=tokens["operator"])
    assert again.status_code == 409
    # closed is final: the next crossing is a new alarm
    assert send(client, tokens, code, (-5, 11.0)) == {"opened": 1, "escalated": 0, "closed": 0}
    assert alarm_of(client, code)["id"] != aid


def test_people_need_a_token_with_a_role_that_may_act(client, tokens, gas_points):
    _, code, _ = next(gas_points)
    send(client, tokens, code, (-20, 12.0))
    aid = alarm_of(client, code)["id"]
    assert client.post(f"/alarms/{aid}/ack", json={}).status_code == 401
    assert client.post(f"/alarms/{aid}/ack", json={}, headers=tokens["analyst"]).status_code == 403
    assert client.post("/alarms/999999999/ack", json={}, headers=tokens["operator"]).status_code == 404
    assert client.get("/alarms/999999999").status_code == 404
    assert client.get("/alarms/0").status_code == 400
    assert alarm_of(client, code)["state"] == "open"  # nothing changed


def test_an_open_red_alarm_raises_the_linked_units_grade_at_once(client, tokens, gas_points, sql):
    _, code, unit = next(gas_points)
    before = sql("SELECT grade, base_grade FROM risk_units WHERE id = %s", [unit])[0]
    send(client, tokens, code, (-3, 60.0))
    aid = alarm_of(client, code)["id"]
    explanation = _wait_for(sql, unit, lambda rules: "red_alarm" in rules)
    order = ["blue", "yellow", "orange", "red"]
    grade = sql("SELECT grade FROM risk_units WHERE id = %s", [unit])[0][0]
    assert order.index(grade) == min(3, order.index(before[0]) + 1)
    assert aid in next(e for e in explanation if e["rule"] == "red_alarm")["alarm_ids"]
    client.post(f"/alarms/{aid}/close", json={"note": "误报，已校准"}, headers=tokens["operator"])
    _wait_for(sql, unit, lambda rules: "red_alarm" not in rules)
    assert sql("SELECT grade FROM risk_units WHERE id = %s", [unit])[0][0] == before[0]


def _wait_for(sql, unit, condition, seconds: float = 20.0) -> list:
    deadline = time.monotonic() + seconds
    while True:
        (explanation,), = sql("SELECT grade_explanation->'escalations' FROM risk_units "
                              "WHERE id = %s", [unit])
        rules = [e["rule"] for e in explanation or []]
        if condition(rules):
            return explanation or []
        assert time.monotonic() < deadline, f"unit {unit} not re-graded: {rules}"
        time.sleep(0.2)


def test_the_list_filters_and_refuses_bad_filters_naming_them(client, tokens, sql):
    water = sql("SELECT code, district_code FROM monitoring_points WHERE kind = 'water_supply' "
                "AND grade IS NULL ORDER BY id LIMIT 1")[0]
    send(client, tokens, water[0], (-4, 0.09))
    reds = client.get("/alarms", params={"grade": "red", "kind": "water_supply"}).json()
    assert water[0] in [a["point_code"] for a in reds["alarms"]]
    assert all(a["grade"] == "red" and a["kind"] == "water_supply" for a in reds["alarms"])
    mine = client.get("/alarms", params={"district": water[1], "point": water[0]}).json()
    assert mine["matched"] == 1 and mine["alarms"][0]["district_code"] == water[1]
    total = sql("SELECT count(*) FROM alarms")[0][0]
    assert client.get("/alarms", params={"limit": 1}).json()["matched"] == total
    future = client.get("/alarms", params={"since": at(60)}).json()
    assert future["matched"] == 0 and future["alarms"] == []
    for params, name in ([{"grade": "purple"}, "grade"], [{"state": "done"}, "state"],
                         [{"district": "6101"}, "district"], [{"since": "yesterday"}, "since"],
                         [{"since": "2026-01-01T00:00:00"}, "since"],
                         [{"since": at(0), "until": at(-1)}, "until"], [{"limit": 0}, "limit"]):
        refused = client.get("/alarms", params=params)
        assert refused.status_code == 400, params
        assert refused.json()["parameter"] == name


def test_plain_readings_leave_the_tile_versions_alone_and_alarms_move_them(client, tokens, gas_points, sql):
    _, code, _ = next(gas_points)
    versions = "SELECT name, version FROM layer_versions WHERE name IN ('monitoring_points', 'alarms')"
    before = dict(sql(versions))
    send(client, tokens, code, (-50, 1.0), (-49, 1.5))
    assert dict(sql(versions)) == before
    send(client, tokens, code, (-48, 11.0))
    after = dict(sql(versions))
    assert after["monitoring_points"] > before["monitoring_points"]  # the point's grade
    assert after["alarms"] > before.get("alarms", -1)


def test_the_rules_in_force_are_published_with_their_sources(client):
    rules = client.get("/alarms/rules").json()
    assert rules["kinds"]["gas"]["thresholds"] == {"blue": 5.0, "yellow": 10.0, "orange": 25.0, "red": 50.0}
    assert "GB/T 50493-2019" in rules["kinds"]["gas"]["source"]
    assert rules["lifecycle"]["quiet_close_grades"] == ["blue", "yellow"]
