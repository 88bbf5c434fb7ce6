"""Area risk: the grades counted per district, sub-district and 2 km cell, checked independently."""

from collections import Counter
from dataclasses import replace

import psycopg
import pytest
import shapely
from pyproj import Transformer

from layers.grading import load_rules, regrade

VIEWS = ["area_risk_districts", "area_risk_subdistricts", "area_risk_grid"]


@pytest.mark.parametrize("view", VIEWS)
def test_every_unit_counted_once_in_each_aggregation(conn, view):
    total, per_grade = conn.execute(
        f"SELECT sum(total), sum(red + orange + yellow + blue) FROM {view}").fetchone()
    assert total == per_grade == 3176


def test_district_counts_match_the_units(conn):
    want = Counter(conn.execute("SELECT district_code, grade FROM risk_units").fetchall())
    for code, red, orange, yellow, blue, worst in conn.execute(
            "SELECT code, red, orange, yellow, blue, worst_grade FROM area_risk_districts").fetchall():
        assert (red, orange, yellow, blue) == tuple(want[(code, g)] for g in ("red", "orange", "yellow", "blue"))
        assert worst == next(g for g, n in zip(("red", "orange", "yellow", "blue"), (red, orange, yellow, blue)) if n)


def test_grid_cells_computed_independently(conn):
    rows = conn.execute(
        """SELECT grade, ST_AsBinary(CASE GeometryType(geom) WHEN 'POINT' THEN geom
                  WHEN 'LINESTRING' THEN ST_LineInterpolatePoint(geom, 0.5)
                  ELSE ST_PointOnSurface(geom) END) FROM risk_units""").fetchall()
    points = shapely.from_wkb([bytes(r[1]) for r in rows])
    x, y = Transformer.from_crs(4326, 4545, always_xy=True).transform(
        shapely.get_x(points), shapely.get_y(points))
    want = Counter(f"{int(a // 2000) * 2}_{int(b // 2000) * 2}" for a, b in zip(x, y))
    got = dict(conn.execute("SELECT id, total FROM area_risk_grid").fetchall())
    assert got == dict(want)


def test_subdistricts_hold_the_units_whose_point_they_contain(conn):
    inside = dict(conn.execute(
        """SELECT s.code, count(p.id) FROM subdistricts s JOIN risk_unit_points p
           ON p.district_code = s.district_code AND ST_Contains(s.geom, p.geom) GROUP BY s.code""").fetchall())
    got = dict(conn.execute("SELECT code, total FROM area_risk_subdistricts").fetchall())
    assert len(got) == 204
    assert all(got[code] >= n for code, n in inside.items())
    assert sum(got.values()) - sum(inside.values()) < 40  # only points on an edge go to the nearest


def test_weights_come_from_the_rules_and_the_index_is_per_km2(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        regrade(conn, "test", replace(load_rules(), area_weights={"red": 10, "orange": 5, "yellow": 2, "blue": 1}))
        row = conn.execute("SELECT red, orange, yellow, blue, weighted_score, risk_index, area_km2 "
                           "FROM area_risk_districts WHERE code = '610103'").fetchone()
    red, orange, yellow, blue, score, index, area = row
    assert score == 10 * red + 5 * orange + 2 * yellow + blue
    assert index == pytest.approx(score / area)


def test_a_change_of_grade_shows_in_the_areas_after_grading(scratch_url):
    with psycopg.connect(scratch_url) as conn:
        uid, code = conn.execute("SELECT id, district_code FROM risk_units WHERE grade = 'blue' LIMIT 1").fetchone()
        before = conn.execute("SELECT red FROM area_risk_districts WHERE code = %s", [code]).fetchone()[0]
        conn.execute("UPDATE risk_units SET likelihood = 5, severity = 5 WHERE id = %s", [uid])
        regrade(conn, "test")
        after = conn.execute("SELECT red FROM area_risk_districts WHERE code = %s", [code]).fetchone()[0]
    assert after == before + 1
