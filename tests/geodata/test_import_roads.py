"""`onemap import --layer roads`: lines with a class, a speed and a direction; bad files refused
with nothing changed."""

from __future__ import annotations

import geopandas as gpd
import pytest
from importing_helpers import rejected, rows, run
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from geodata.importers import RowsRejected
from geodata.importers.specs import ROAD_SPEEDS_KMH


def lines(pts, n=3):
    """n short lines inside 雁塔区, 新城区 and 碑林区 (one each), ~200 m long."""
    out = []
    for code in ("610113", "610102", "610103")[:n]:
        x, y = pts[code][0]
        out.append(LineString([(x, y), (x + 0.002, y + 0.001)]))
    return out


def roads_file(tmp_path, geometries, name="roads.geojson", **columns):
    n = len(geometries)
    data = {"code": [f"R-{i}" for i in range(n)], **columns}
    path = tmp_path / name
    gpd.GeoDataFrame(data, geometry=list(geometries), crs=4326).to_file(path)
    return path


def test_roads_load_with_chinese_classes_default_speeds_direction_and_district(db, pts, tmp_path):
    path = roads_file(tmp_path, lines(pts), 道路名称=["长安路", "东五路", None],
                      道路等级=["主干路", "支路", None], 单行=["否", "是", None])
    report = run(db, path, "roads")
    assert report.rows_loaded == 3
    got = rows(db, "SELECT code, name, class, speed_kmh, oneway, district_code, synthetic, "
                   "source FROM roads ORDER BY code")
    assert got == [
        ("R-0", "长安路", "primary", ROAD_SPEEDS_KMH["primary"], False, "610113", False, None),
        ("R-1", "东五路", "tertiary", ROAD_SPEEDS_KMH["tertiary"], True, "610102", False, None),
        ("R-2", None, "other", ROAD_SPEEDS_KMH["other"], False, "610103", False, None),
    ]


def test_a_given_speed_wins_over_the_class_and_reimporting_updates(db, pts, tmp_path):
    run(db, roads_file(tmp_path, lines(pts, 2), **{"class": ["motorway", "trunk"],
                                                 "speed_kmh": [100, None]}), "roads")
    assert rows(db, "SELECT speed_kmh FROM roads ORDER BY code") == [(100.0,), (60.0,)]
    run(db, roads_file(tmp_path, lines(pts, 2), **{"class": ["motorway", "trunk"],
                                                 "speed_kmh": [90, 45]}), "roads")
    assert rows(db, "SELECT speed_kmh FROM roads ORDER BY code") == [(90.0,), (45.0,)]


def test_a_multilinestring_joined_end_to_end_is_one_road(db, pts, tmp_path):
    x, y = pts["610113"][1]
    joined = MultiLineString([[(x, y), (x + 0.001, y)], [(x + 0.001, y), (x + 0.002, y + 0.001)]])
    run(db, roads_file(tmp_path, [joined]), "roads")
    (kind, points), = rows(db, "SELECT GeometryType(geom), ST_NPoints(geom) FROM roads")
    assert (kind, points) == ("LINESTRING", 3)


@pytest.mark.parametrize("columns, geometry, expected", [
    ({"class": "highway9"}, None,
     ("class 'highway9' is not one of motorway, trunk, primary, secondary, tertiary, "
     "residential, service, other")),
    ({"speed_kmh": -30}, None, "speed_kmh '-30.0' is not above zero"),
    ({"speed_kmh": 400}, None, "speed_kmh '400.0' is above 150"),
    ({"oneway": "sometimes"}, None, "oneway 'sometimes' is not yes/no (true/false, 1/0, 是/否)"),
    ({}, "point", "geometry is a Point; roads takes lines"),
    ({}, "polygon", "geometry is a Polygon; roads takes lines"),
    ({}, "parts", ("geometry is a MultiLineString of 2 lines that do not join end to end; "
                  "roads takes single lines: give each part a row (and a code) of its own")),
    ({}, "reversed", ("geometry is a MultiLineString of 2 lines that do not join end to end; "
                     "roads takes single lines: give each part a row (and a code) of its own")),
], ids=["class", "negative speed", "speed too high", "oneway", "point", "polygon",
        "separate parts", "parts against each other"])
def test_bad_roads_are_refused_and_nothing_changes(db, pts, tmp_path, columns, geometry, expected):
    run(db, roads_file(tmp_path, lines(pts), name="good.geojson"), "roads")  # something to keep
    geoms = lines(pts)
    x, y = pts["610113"][2]
    geoms[1] = {
        None: geoms[1],
        "point": Point(x, y),
        "polygon": Polygon([(x, y), (x + 0.001, y), (x, y + 0.001)]),
        "parts": MultiLineString([[(x, y), (x + 0.001, y)], [(x, y + 0.001), (x + 0.001, y + 0.001)]]),
        "reversed": MultiLineString([[(x, y), (x + 0.001, y)], [(x + 0.002, y), (x + 0.001, y)]]),
    }[geometry]
    values = {name: [value if i == 1 else default for i in range(3)]
              for name, value in columns.items()
              for default in [{"class": "primary", "speed_kmh": 40, "oneway": "no"}[name]]}
    exc = rejected(db, roads_file(tmp_path, geoms, **values), "roads")
    assert isinstance(exc, RowsRejected) and exc.row_label == "feature"
    assert exc.problems == [(2, expected)]


def test_onemap_import_builds_the_network_with_the_roads(db, pts, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", db)
    x, y = pts["610113"][0]
    chain = [LineString([(x, y), (x + 0.002, y)]), LineString([(x + 0.002, y), (x + 0.004, y)])]
    result = CliRunner().invoke(app, ["import", str(roads_file(tmp_path, chain)), "--layer",
                                      "roads"])
    assert result.exit_code == 0, result.output
    assert "loaded 2 roads from roads.geojson (WGS84)" in result.stdout
    assert ("road network: 2 roads (0.4 km, 0 one-way), 3 nodes, 2 dead ends; routed with "
            "pgRouting") in result.stdout
    (a_target, b_source), = rows(db, "SELECT (SELECT target FROM roads WHERE code = 'R-0'), "
                                     "(SELECT source FROM roads WHERE code = 'R-1')")
    assert a_target == b_source is not None
