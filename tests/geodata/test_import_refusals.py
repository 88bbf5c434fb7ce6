"""`onemap import` refuses bad input: every bad row named with its number and reason, nothing changed."""

from __future__ import annotations

import geopandas as gpd
import pytest
from importing_helpers import (
    SHELTER_HEADER,
    bad_shelters,
    features,
    rejected,
    rows,
    run,
    shelters_csv,
    write_csv,
)
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, Polygon

from geodata.importers import RowsRejected


# -- bad input: a clear message, and nothing changes -----------------------------------
@pytest.mark.parametrize("edits, expected", [
    ({1: {"name": ""}}, [(3, "name is empty; it is required")]),
    ({0: {"class": "huge"}}, [(2, "class 'huge' is not one of emergency, fixed, central")]),
    ({2: {"capacity": "many"}}, [(4, "capacity 'many' is not a whole number")]),
    ({1: {"effective_area_m2": "-5"}}, [(3, "effective_area_m2 '-5.0' is not above zero")]),
    ({0: {"code": "S-2"}}, [(2, "code 'S-2' is not unique: it is on lines 2, 4"),
                            (4, "code 'S-2' is not unique: it is on lines 2, 4")]),
    ({0: {"lon": "east"}, 2: {"lat": ""}}, [(2, "lon 'east' is not a number"), (4, "lat is empty")]),
    ({1: {"lon": 116.397, "lat": 39.909}},
     [(3, "outside the city: (116.397000, 39.909000) is more than 1 km beyond the city's districts")]),
], ids=["missing", "vocabulary", "number", "negative", "duplicates", "coordinates", "outside"])
def test_bad_csv_rows_are_named_with_their_line_and_reason(db, pts, tmp_path, edits, expected):
    exc = rejected(db, bad_shelters(tmp_path, pts, edits), "shelters")
    assert isinstance(exc, RowsRejected) and exc.row_label == "line"
    assert exc.problems == expected
    assert "numbered by line in the file, header = line 1" in str(exc)


def test_every_bad_row_is_reported_not_just_the_first(db, pts, tmp_path):
    exc = rejected(db, bad_shelters(tmp_path, pts, {0: {"class": "x"}, 1: {"capacity": "1.5"},
                                                     2: {"name": "", "class": "y"}}), "shelters")
    assert [n for n, _ in exc.problems] == [2, 3, 4, 4]
    assert "3 bad rows" in str(exc)


def test_projected_coordinates_without_crs_get_a_helpful_hint(db, pts, tmp_path):
    to_gk = Transformer.from_crs(4326, 4545, always_xy=True)
    x, y = to_gk.transform(*pts["610113"][0])
    path = write_csv(tmp_path / "gk.csv", SHELTER_HEADER, [["S", "s", "fixed", 10, 1, x, y]])
    (number, reason), = rejected(db, path, "shelters").problems
    assert number == 2 and reason.startswith(f"outside the city: ({x:.1f}, {y:.1f})")
    assert reason.endswith("are these coordinates in EPSG:4545 "
                           "(CGCS2000 / 3-degree Gauss-Kruger CM 108E)? pass --crs 4545")
    # and the other way round: degrees said to be Gauss-Krüger metres
    degrees = write_csv(tmp_path / "deg.csv", SHELTER_HEADER, [["S", "s", "fixed", 10, 1,
                                                                *pts["610113"][0]]])
    (_, reason), = rejected(db, degrees, "shelters", crs="4545").problems
    assert reason.endswith("these look like longitude/latitude, not EPSG:4545: "
                           "pass --crs 4326 (or gcj02, bd09)")


def test_swapped_longitude_and_latitude_are_pointed_out(db, pts, tmp_path):
    x, y = pts["610113"][0]
    path = write_csv(tmp_path / "swap.csv", SHELTER_HEADER, [["S", "s", "fixed", 10, 1, y, x]])
    (_, reason), = rejected(db, path, "shelters").problems
    assert reason.endswith("longitude and latitude look swapped: check the columns")


def test_invalid_and_wrong_type_geometries_are_refused(db, pts, tmp_path):
    (ax, ay), (bx, by), _ = pts["610113"]
    bowtie = Polygon([(ax, ay), (bx, by), (bx, ay), (ax, by)])
    path = features(tmp_path, pts, [Point(ax, ay), bowtie, MultiPoint([(ax, ay), (bx, by)]),
                                     MultiPoint([(bx, by)]), None],
                     layer="risk_units", category=["bridge"] * 5, likelihood=[1] * 5,
                     severity=[1] * 5)
    exc = rejected(db, path, "risk_units")
    assert exc.row_label == "feature"
    assert "numbered by feature, from 1" in str(exc)
    problems = dict(exc.problems)
    assert problems[2].startswith("geometry is not valid: Self-intersection[")
    assert problems[5] == "no geometry"
    assert set(problems) == {2, 5}        # multipoints are fine for risk units
    shelters = features(tmp_path, pts, [Point(ax, ay), bowtie.convex_hull,
                                         MultiPoint([(ax, ay), (bx, by)]), MultiPoint([(bx, by)])])
    assert rejected(db, shelters, "shelters").problems == [
        (2, "geometry is a Polygon; shelters takes points"),
        (3, "geometry is a MultiPoint of 2 points; shelters takes single points")]


def test_unknown_codes_and_broken_constraints_are_refused(db, pts, tmp_path):
    p = pts["610104"]
    path = write_csv(tmp_path / "units.csv",
                     ["code", "name", "domain", "category", "district_code", "likelihood",
                      "severity", "lec_l", "lec_e", "lec_c", "lon", "lat"],
                     [["U1", "a", "", "volcano", "", 1, 1, "", "", "", *p[0]],
                      ["U2", "b", "public_safety", "bridge", "999999", 1, 1, "", "", "", *p[1]],
                      ["U3", "c", "", "gas_station", "610104", 3, "", 6, 6, 15, *p[2]],
                      ["U4", "d", "", "gas_station", "莲湖区", "", "", 5, 6, 15, *p[2]],
                      ["U5", "e", "", "gas_station", "610104", "", "", "", "", "", *p[2]]])
    exc = rejected(db, path, "risk_units")
    problems = exc.problems
    assert (2, ("category 'volcano' is not a risk category in the database (known: bridge, construction_site, "
               "crowded_place, drainage, gas_pipeline, gas_station, hazardous_chemicals, "
               "heating_pipeline, high_rise, industrial_trade, non_coal_mine, rail_transit, "
               "water_pipeline)")) in problems
    assert (3, ("district_code '999999' is not a district in the database (known: 610102, "
               "610103, 610104, 610111, 610112, 610113, 610114, 610115, 610116, 610117, 610118, "
               "610122, 610124)")) in problems
    assert (3, "category bridge belongs to domain lifeline, not public_safety") in problems
    assert (4, "likelihood and severity go together: give both") in problems
    assert (5, "lec_l '5.0' is not one of 10, 6, 3, 1, 0.5, 0.2, 0.1") in problems
    assert (6, ("no grading inputs: give likelihood and severity (risk matrix) "
               "or lec_l, lec_e and lec_c (LEC)")) in problems
    assert len(problems) == 6


def test_monitoring_and_hidden_danger_rules(db, pts, tmp_path):
    p = pts["610112"]
    points = write_csv(tmp_path / "mp.csv", ["code", "name", "kind", "unit", "risk_unit_code", "x", "y"],
                       [["M1", "a", "radiation", "", "", *p[0]],
                        ["M2", "b", "water_supply", "kPa", "", *p[1]],
                        ["M3", "c", "gas", "%lel", "NOPE", *p[2]]])
    assert rejected(db, points, "monitoring_points").problems == [
        (2, ("kind 'radiation' is not a monitoring kind in the database (known: bridge, drainage, gas, heating, "
            "power, water_supply)")),
        (3, "unit 'kPa' is not the unit of water_supply (MPa); thresholds and readings must be in MPa"),
        (4, "risk_unit_code 'NOPE' is not a risk unit in the database")]
    dangers = write_csv(tmp_path / "hd.csv", ["code", "title", "level", "status", "found_on",
                                              "rectified_on", "lon", "lat"],
                        [["H1", "a", "major", "rectified", "2024-01-05", "", *p[0]],
                         ["H2", "b", "major", "open", "2024-01-05", "2024-02-01", *p[1]],
                         ["H3", "c", "general", "rectified", "2024-01-05", "2023-12-01", *p[2]],
                         ["H4", "d", "general", "open", "2024-02-30", "", *p[2]]])
    assert rejected(db, dangers, "hidden_dangers").problems == [
        (2, "status is rectified but rectified_on is empty"),
        (3, "status is open but rectified_on is given"),
        (4, "rectified_on (2023-12-01) is before found_on (2024-01-05)"),
        (5, "found_on '2024-02-30' is not a date that exists")]


def test_two_columns_for_one_field_use_the_field_name_and_say_so(db, pts, tmp_path):
    path = write_csv(tmp_path / "two.csv", ["名称", "code", "name", "class", "effective_area_m2",
                                            "lon", "lat"],
                     [["中文名", "S", "English name", "fixed", 10, *pts["610104"][0]]])
    report = run(db, path, "shelters")
    assert "columns 'name', '名称' all give name: used 'name'" in report.notes
    assert rows(db, "SELECT name FROM shelters") == [("English name",)]


def test_missing_required_column_is_one_message(db, pts, tmp_path):
    path = write_csv(tmp_path / "nocls.csv", ["code", "name", "effective_area_m2", "lon", "lat"],
                     [["S", "s", 10, *pts["610104"][0]]])
    assert rejected(db, path, "shelters").problems == [
        (None, ("no column for class, which is required (accepted names: class, 类别, 场所类别, "
               "避难场所类别)"))]


@pytest.mark.parametrize("name, content, kwargs, message", [
    ("garbage.gpkg", b"this is not a geopackage", {}, "cannot read garbage.gpkg as GeoPackage: "),
    ("empty.csv", b"", {}, "cannot read empty.csv as CSV: the file is empty"),
    ("nocoords.csv", b"code,name\nA,b\n", {}, "nocoords.csv has no coordinate columns"),
    ("units.xlsx", b"PK", {}, "cannot import units.xlsx: the file must be a GeoPackage"),
    ("ok.csv", b"code,lon,lat\n", {"crs": "EPSG:999999"}, "--crs: unknown coordinate system 'EPSG:999999'"),
    ("ok.csv", b"code,lon,lat\n", {"layer": "railways"},
     ("unknown layer 'railways' (--layer): use one of districts, subdistricts, risk_units, "
     "monitoring_points, shelters, resources, hidden_dangers, candidate_sites, roads, "
     "population")),
    ("rows.csv", b"code,name,lon,lat\n", {}, "rows.csv: the file is not usable; nothing was loaded"),
])
def test_unusable_files_and_parameters(db, tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    path.write_bytes(content)
    layer = kwargs.pop("layer", "shelters")
    exc = rejected(db, path, layer, **kwargs)
    assert str(exc).startswith(message)


def test_a_geopackage_of_several_layers_is_read_by_the_layer_name(db, pts, tmp_path):
    path = tmp_path / "many.gpkg"
    for name in ("resources", "roads"):
        gpd.GeoDataFrame({"code": [name], "name": ["n"], "class": ["fixed"],
                          "effective_area_m2": [5.0]},
                         geometry=[Point(pts["610104"][0])], crs=4326).to_file(path, layer=name)
    assert str(rejected(db, path, "shelters")) == (
        "many.gpkg holds several layers (resources, roads) and none is named 'shelters': "
        "keep one layer in the file or name it 'shelters'")
    gpd.GeoDataFrame({"code": ["S"], "name": ["n"], "class": ["fixed"], "effective_area_m2": [5.0]},
                     geometry=[Point(pts["610104"][0])], crs=4326).to_file(path, layer="shelters")
    report = run(db, path, "shelters")
    assert "many.gpkg holds 3 layers; read the one named 'shelters'" in report.notes
    assert rows(db, "SELECT code FROM shelters") == [("S",)]


def test_missing_file_is_named(db, tmp_path):
    assert str(rejected(db, tmp_path / "nowhere.gpkg", "shelters")) == \
        "cannot import nowhere.gpkg: no such file"


def test_a_database_refusal_becomes_an_import_rejection(db, pts, tmp_path, monkeypatch):
    from geodata import importers

    real_check = importers.check_rows

    def sneak_a_bad_row(*args):
        checked = real_check(*args)
        checked.rows[0]["capacity"] = -1      # past the checks, into a CHECK constraint
        return checked

    monkeypatch.setattr(importers, "check_rows", sneak_a_bad_row)
    exc = rejected(db, shelters_csv(tmp_path / "s.csv", pts), "shelters")
    assert str(exc).startswith("the database refused the rows of s.csv: new row for relation "
                               "\"shelters\" violates check constraint")
