"""/stats/grades: counts per grade per district, category or domain, against SQL."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.app import create_app

GRADES = ("red", "orange", "yellow", "blue")
COLUMN = {"district": "district_code", "category": "category", "domain": "domain"}


def _expected(seeded_sql, by: str, where: str = "TRUE", params=()) -> dict:
    """{key: counts} straight from the table, and the totals under None."""
    rows = seeded_sql(
        f"SELECT {COLUMN[by]}, grade, count(*) FROM risk_units WHERE {where} GROUP BY 1, 2", params)
    counts: dict = {}
    for key, grade, n in rows:
        for group in (key, None):
            entry = counts.setdefault(group, {g: 0 for g in (*GRADES, "ungraded", "total")})
            entry[grade or "ungraded"] += n
            entry["total"] += n
    return counts


def _counts(group: dict) -> dict:
    return {k: group[k] for k in (*GRADES, "ungraded", "total")}


@pytest.mark.parametrize("by", ["district", "category", "domain"])
def test_counts_per_group_match_sql(seeded_client, seeded_sql, by):
    params = {} if by == "district" else {"by": by}
    response = seeded_client.get("/stats/grades", params=params)

    assert response.status_code == 200
    body = response.json()
    expected = _expected(seeded_sql, by)
    assert body["by"] == by
    assert body["total"] == expected[None]
    assert {g["key"]: _counts(g) for g in body["groups"] if g["total"]} == {
        k: v for k, v in expected.items() if k is not None}
    assert body["total"]["red"] > 0, "the seeded database is graded by the test session"


def test_groups_are_the_whole_vocabulary_with_names(seeded_client, seeded_sql):
    districts = seeded_sql("SELECT code, name FROM districts ORDER BY code")
    body = seeded_client.get("/stats/grades?by=district").json()
    assert [(g["key"], g["name"]) for g in body["groups"]] == districts
    yanta = next(g for g in body["groups"] if g["key"] == "610113")
    assert yanta["name"] == "雁塔区" and yanta["name_en"] == "Yanta District"
    categories = seeded_client.get("/stats/grades?by=category").json()["groups"]
    assert len(categories) == 13
    assert (categories[0]["key"], categories[0]["name"]) == ("bridge", "桥梁")
    domains = seeded_client.get("/stats/grades?by=domain").json()["groups"]
    assert [g["key"] for g in domains] == ["lifeline", "public_safety", "production_safety"]


def test_filters_narrow_the_counts(seeded_client, seeded_sql):
    body = seeded_client.get("/stats/grades?by=district&category=bridge,high_rise").json()
    expected = _expected(seeded_sql, "district", "category IN ('bridge', 'high_rise')")
    assert body["total"] == expected[None]
    assert len(body["groups"]) == 13

    asked = seeded_client.get("/stats/grades?by=district&district=610113,610104").json()
    assert [g["key"] for g in asked["groups"]] == ["610113", "610104"]
    both = _expected(seeded_sql, "district", "district_code IN ('610113', '610104')")
    assert asked["total"] == both[None]

    box = (108.9, 34.2, 109.0, 34.3)
    in_box = seeded_client.get("/stats/grades", params={
        "by": "domain", "bbox": ",".join(map(str, box))}).json()
    touching = "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
    assert in_box["total"] == _expected(seeded_sql, "domain", touching, box)[None]


def test_ungraded_units_are_counted_apart(scratch_url, settings_for):
    with psycopg.connect(scratch_url) as conn:
        conn.execute("UPDATE risk_units SET grade = NULL")
        conn.execute("UPDATE risk_units SET grade = 'red' WHERE id IN (SELECT id FROM risk_units "
                     "WHERE district_code = '610102' ORDER BY id LIMIT 4)")
        [(in_xincheng,)] = conn.execute(
            "SELECT count(*) FROM risk_units WHERE district_code = '610102'").fetchall()
        [(total,)] = conn.execute("SELECT count(*) FROM risk_units").fetchall()
    with TestClient(create_app(settings_for(scratch_url))) as client:
        body = client.get("/stats/grades").json()
    xincheng = body["groups"][0]
    assert xincheng["key"] == "610102"
    assert _counts(xincheng) == {"red": 4, "orange": 0, "yellow": 0, "blue": 0,
                                 "ungraded": in_xincheng - 4, "total": in_xincheng}
    assert body["total"] == {"red": 4, "orange": 0, "yellow": 0, "blue": 0,
                             "ungraded": total - 4, "total": total}


def test_csv(seeded_client, seeded_sql):
    response = seeded_client.get("/stats/grades?by=domain&f=csv")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="grades_by_domain.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["domain"] for r in rows] == ["lifeline", "public_safety", "production_safety", ""]
    expected = _expected(seeded_sql, "domain")
    assert int(rows[-1]["total"]) == expected[None]["total"] and rows[-1]["name"] == "合计"
    assert int(rows[0]["red"]) == expected["lifeline"]["red"]


@pytest.mark.parametrize("query, parameter", [
    ("by=colour", "by"), ("by=grade", "by"), ("grade=purple", "grade"), ("kind=gas", "kind"),
    ("f=xml", "f"), ("bbox=1,2", "bbox"), ("limit=5", "limit"),
])
def test_bad_parameters_answer_400(seeded_client, query, parameter):
    response = seeded_client.get(f"/stats/grades?{query}")
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
