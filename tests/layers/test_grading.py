"""Grading on hand-made units: every band edge, floors, each escalation and its reversal,
overrides and their expiry, the audit history; and the rules file's checks."""

from dataclasses import replace
from itertools import count

import psycopg
import pytest

from layers.grading import RulesError, load_rules, parse_rules, regrade

RULES = load_rules()
_codes = count(1)


@pytest.fixture
def db(scratch_base_url):
    with psycopg.connect(scratch_base_url, autocommit=True) as conn:
        yield conn


def unit(db, category="gas_pipeline", domain="lifeline", L=None, S=None, lec=None, mhs=False):
    lec = lec or (None, None, None)
    return db.execute(
        """INSERT INTO risk_units (code, name, domain, category, district_code, likelihood,
               severity, lec_l, lec_e, lec_c, major_hazard_source, geom)
           VALUES (%s, 'hand-made', %s, %s, '610103', %s, %s, %s, %s, %s, %s,
                   ST_SetSRID(ST_MakePoint(108.95, 34.25), 4326)) RETURNING id""",
        [f"T-{next(_codes)}", domain, category, L, S, *lec, mhs],
    ).fetchone()[0]


def lec_unit(db, L, E, C, mhs=False, category="gas_station"):
    return unit(db, category=category, domain="production_safety", lec=(L, E, C), mhs=mhs)


def grade_of(db, uid):
    return db.execute("SELECT grade FROM risk_units WHERE id = %s", [uid]).fetchone()[0]


def explanation(db, uid):
    return db.execute("SELECT grade_explanation FROM risk_units WHERE id = %s", [uid]).fetchone()[0]


def point(db, uid, kind="gas"):
    return db.execute(
        """INSERT INTO monitoring_points (code, name, kind, unit, district_code, risk_unit_id, geom)
           VALUES (%s, 'p', %s, '%%LEL', '610103', %s, ST_SetSRID(ST_MakePoint(108.95, 34.25), 4326))
           RETURNING id""", [f"P-{next(_codes)}", kind, uid]).fetchone()[0]


def alarm(db, pid, grade="red", state="open"):
    return db.execute(
        """INSERT INTO alarms (monitoring_point_id, grade, state, district_code, geom, closed_at)
           VALUES (%s, %s, %s, '610103', ST_SetSRID(ST_MakePoint(108.95, 34.25), 4326),
                   CASE WHEN %s = 'closed' THEN now() END) RETURNING id""",
        [pid, grade, state, state]).fetchone()[0]


def danger(db, uid, level="major", status="open"):
    return db.execute(
        """INSERT INTO hidden_dangers (code, risk_unit_id, title, level, status, found_on,
               rectified_on, district_code, geom)
           VALUES (%s, %s, 't', %s, %s, current_date - 10,
                   CASE WHEN %s = 'rectified' THEN current_date END, '610103',
                   ST_SetSRID(ST_MakePoint(108.95, 34.25), 4326)) RETURNING id""",
        [f"D-{next(_codes)}", uid, level, status, status]).fetchone()[0]


@pytest.mark.parametrize("L, S, expected", [
    (5, 5, "red"), (4, 5, "red"),                        # 25, 20: red from 20
    (4, 4, "orange"), (3, 4, "orange"), (2, 5, "orange"),  # 16, 12, 10: orange from 10
    (3, 3, "yellow"),                                    # 9: yellow by the default rule
    (2, 4, "yellow"), (2, 2, "yellow"), (1, 4, "yellow"),  # 8, 4, 4: yellow from 4
    (1, 3, "blue"), (1, 1, "blue"),                      # 3, 1: blue
])
def test_risk_matrix_bands(db, L, S, expected):
    uid = unit(db, L=L, S=S)
    regrade(db, "test")
    assert grade_of(db, uid) == expected
    assert explanation(db, uid)["score"] == L * S


def test_nine_is_a_setting(db):
    uid = unit(db, L=3, S=3)
    regrade(db, "test", replace(RULES, m_nine="orange"))
    assert grade_of(db, uid) == "orange"
    assert "9 按规则为橙" in explanation(db, uid)["text_zh"]
    regrade(db, "test", RULES)
    assert grade_of(db, uid) == "yellow"


@pytest.mark.parametrize("lec, expected", [
    ((10, 1, 40), "red"),      # 400 > 320
    ((3, 3, 40), "red"),       # 360
    ((10, 2, 15), "orange"),   # 300
    ((6, 2, 15), "orange"),    # 180
    ((10, 1, 15), "yellow"),   # 150
    ((10, 1, 7), "yellow"),    # 70: yellow from 70
    ((3, 3, 7), "blue"),       # 63
    ((0.5, 0.5, 1), "blue"),   # 0.25
])
def test_lec_bands(db, lec, expected):
    uid = lec_unit(db, *lec)
    regrade(db, "test")
    assert grade_of(db, uid) == expected


def test_lec_red_is_strictly_above_its_threshold_and_orange_from_its_own(db):
    at, above = lec_unit(db, 10, 2, 15), lec_unit(db, 3, 3, 40)   # 300, 360
    at_orange = lec_unit(db, 6, 2, 15)                             # 180
    regrade(db, "test", replace(RULES, l_red=300, l_orange=180))
    assert (grade_of(db, at), grade_of(db, above), grade_of(db, at_orange)) == ("orange", "red", "orange")


def test_lec_explanation_names_the_inputs(db):
    uid = lec_unit(db, 6, 6, 15)
    regrade(db, "test")
    exp = explanation(db, uid)
    assert exp["inputs"] == {"L": 6, "E": 6, "C": 15} and exp["score"] == 540
    assert exp["text_zh"] == "红: L6 × E6 × C15 = 540 > 320"


def test_major_hazard_source_is_never_below_orange_but_not_lowered(db):
    low, high = lec_unit(db, 0.5, 1, 7, mhs=True), lec_unit(db, 10, 1, 40, mhs=True)
    regrade(db, "test")
    assert grade_of(db, low) == "orange" and grade_of(db, high) == "red"
    exp = explanation(db, low)
    assert exp["base_grade"] == "blue" and exp["floor"] == {"grade": "orange", "reason": "major_hazard_source"}
    assert "重大危险源，不低于橙" in exp["text_zh"]


def test_category_floor_from_the_rules(db):
    uid = unit(db, category="bridge", L=1, S=1)
    regrade(db, "test", replace(RULES, category_floors={"bridge": "yellow"}))
    assert grade_of(db, uid) == "yellow"
    assert explanation(db, uid)["floor"]["reason"] == "category"


def test_open_major_hidden_danger_makes_red_until_rectified(db):
    uid = unit(db, L=1, S=2)
    regrade(db, "test")
    assert grade_of(db, uid) == "blue"
    general = danger(db, uid, level="general")
    regrade(db, "test")
    assert grade_of(db, uid) == "blue"  # a general danger does not escalate
    did = danger(db, uid)
    regrade(db, "test")
    assert grade_of(db, uid) == "red"
    assert explanation(db, uid)["text_zh"] == f"红: 可能性1 × 严重性2 = 2 < 4; 重大隐患 #{did} 未整改"
    db.execute("UPDATE hidden_dangers SET status = 'rectified', rectified_on = current_date WHERE id = %s", [did])
    regrade(db, "test")
    assert grade_of(db, uid) == "blue"
    assert general


def test_active_red_alarm_on_a_linked_point_raises_one_grade_until_closed(db):
    uid = unit(db, L=2, S=2)               # yellow
    orange_alarm = alarm(db, point(db, uid), "orange")
    regrade(db, "test")
    assert grade_of(db, uid) == "yellow"   # only red alarms escalate
    aid = alarm(db, point(db, uid), "red")
    regrade(db, "test")
    assert grade_of(db, uid) == "orange"
    assert "关联监测点红色预警" in explanation(db, uid)["text_zh"]
    db.execute("UPDATE alarms SET state = 'acknowledged', acknowledged_at = now() WHERE id = %s", [aid])
    regrade(db, "test")
    assert grade_of(db, uid) == "orange"   # acknowledged is still active
    db.execute("UPDATE alarms SET state = 'closed', closed_at = now() WHERE id = %s", [aid])
    regrade(db, "test")
    assert grade_of(db, uid) == "yellow"
    assert orange_alarm


def test_red_alarm_cannot_raise_above_red(db):
    uid = unit(db, L=5, S=5)
    alarm(db, point(db, uid), "red")
    regrade(db, "test")
    assert grade_of(db, uid) == "red"


def test_point_grade_follows_its_active_alarm(db):
    uid = unit(db, L=1, S=1)
    pid = point(db, uid)
    regrade(db, "test")
    grade = lambda: db.execute("SELECT grade FROM monitoring_points WHERE id = %s", [pid]).fetchone()[0]
    assert grade() is None
    aid = alarm(db, pid, "yellow")
    regrade(db, "test")
    assert grade() == "yellow"
    db.execute("UPDATE alarms SET grade = 'orange' WHERE id = %s", [aid])
    regrade(db, "test")
    assert grade() == "orange"
    db.execute("UPDATE alarms SET state = 'closed', closed_at = now() WHERE id = %s", [aid])
    regrade(db, "test")
    assert grade() is None


def test_a_point_has_at_most_one_alarm_not_closed(db):
    pid = point(db, unit(db, L=1, S=1))
    alarm(db, pid, "yellow", "closed")
    alarm(db, pid, "yellow")
    with pytest.raises(psycopg.errors.UniqueViolation):
        alarm(db, pid, "orange", "acknowledged")


def test_override_wins_until_it_expires_or_is_revoked(db):
    uid = unit(db, L=5, S=5)
    danger(db, uid)
    db.execute("""INSERT INTO grade_overrides (risk_unit_id, grade, reason, set_by, set_at, expires_at)
                  VALUES (%s, 'yellow', '已停用', '张三', now() - interval '10 days', now() - interval '1 day')""", [uid])
    regrade(db, "test")
    assert grade_of(db, uid) == "red"       # expired: ignored
    oid = db.execute("""INSERT INTO grade_overrides (risk_unit_id, grade, reason, set_by, expires_at)
                        VALUES (%s, 'blue', '管线已停用封存', '李四', now() + interval '30 days')
                        RETURNING id""", [uid]).fetchone()[0]
    regrade(db, "test")
    assert grade_of(db, uid) == "blue"
    exp = explanation(db, uid)
    assert exp["override"]["set_by"] == "李四" and exp["computed_grade"] == "red"
    assert "人工调整为蓝（李四" in exp["text_zh"]
    assert db.execute("SELECT grade_source FROM risk_units WHERE id = %s", [uid]).fetchone() == ("override",)
    db.execute("UPDATE grade_overrides SET revoked_at = now(), revoked_by = '王五' WHERE id = %s", [oid])
    regrade(db, "test")
    assert grade_of(db, uid) == "red"


def test_every_change_of_grade_is_kept_with_the_grade_before(db):
    uid = unit(db, L=2, S=2)
    first = regrade(db, "first")
    did = danger(db, uid)
    second = regrade(db, "second")
    db.execute("UPDATE hidden_dangers SET status = 'rectified', rectified_on = current_date WHERE id = %s", [did])
    third = regrade(db, "third")
    fourth = regrade(db, "fourth")
    rows = db.execute("SELECT run_id, grade_from, grade_to FROM grade_history WHERE risk_unit_id = %s "
                      "ORDER BY id", [uid]).fetchall()
    assert rows == [(first.run_id, None, "yellow"), (second.run_id, "yellow", "red"),
                    (third.run_id, "red", "yellow")]
    assert second.changed == 1 and second.changes[0]["from"] == "yellow" and second.changes[0]["to"] == "red"
    assert fourth.changed == 0 and fourth.updated == 0
    runs = db.execute("SELECT requested_by, changed FROM grading_runs ORDER BY id").fetchall()
    assert runs == [("first", 1), ("second", 1), ("third", 1), ("fourth", 0)]


def test_report_counts_by_grade_and_district(db):
    for L, S in [(5, 5), (4, 4), (2, 2), (1, 1), (1, 2)]:
        unit(db, L=L, S=S)
    report = regrade(db, "test")
    assert report.by_grade == {"red": 1, "orange": 1, "yellow": 1, "blue": 2}
    beilin = next(d for d in report.by_district if d["code"] == "610103")
    assert (beilin["red"], beilin["blue"], beilin["total"]) == (1, 2, 5)


def test_seeded_city_is_graded_in_all_four_colours(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        report = regrade(conn, "test")
        assert report.units == 3176 and report.points == 22067
        assert sum(report.by_grade.values()) == 3176 and "ungraded" not in report.by_grade
        assert report.by_grade["red"] < report.by_grade["orange"] < report.by_grade["yellow"]
        open_major = conn.execute(
            """SELECT count(DISTINCT u.id) FILTER (WHERE u.grade <> 'red') FROM risk_units u
               JOIN hidden_dangers h ON h.risk_unit_id = u.id
               WHERE h.level = 'major' AND h.status = 'open'""").fetchone()[0]
        assert open_major == 0


# -- the rules file ---------------------------------------------------------------------
def test_the_shipped_rules_file_parses_to_the_published_thresholds():
    assert (RULES.m_red, RULES.m_orange, RULES.m_yellow, RULES.m_nine) == (20, 10, 4, "yellow")
    assert (RULES.l_red, RULES.l_orange, RULES.l_yellow) == (320, 160, 70)
    assert RULES.floor_major_hazard_source == "orange"


@pytest.mark.parametrize("doc, key", [
    ({"matrix": {"nine_is": "red"}}, "matrix.nine_is"),
    ({"matrix": {"nine_is": "purple"}}, "matrix.nine_is"),
    ({"matrix": {"red_from": 5, "orange_from": 10}}, "red_from > orange_from"),
    ({"lec": {"red_above": "high"}}, "lec.red_above"),
    ({"floors": {"major_hazard_source": "crimson"}}, "floors.major_hazard_source"),
    ({"floors": {"category": {"bridge": "pink"}}}, "floors.category.bridge"),
    ({"default_method": "guess"}, "default_method"),
    ({"escalation": {"active_alarm_states": ["open", "snoozed"]}}, "active_alarm_states"),
])
def test_bad_rules_are_refused_naming_the_key(doc, key):
    with pytest.raises(RulesError, match=key.replace(".", r"\.")):
        parse_rules(doc)


def test_a_broken_rules_file_is_a_clear_error(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text("[matrix\nred_from = ", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_rules(path)
