"""`onemap import`: real files of every format into the layers, all rows or none."""

from __future__ import annotations

import json
import time
import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from importing_helpers import (
    SHELTER_HEADER,
    insert_risk_unit,
    insert_synthetic_shelters,
    metres,
    rejected,
    rows,
    run,
    shelters_csv,
    snapshot,
    write_csv,
)
from pyproj import Transformer
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

from geodata import datums


# -- good files of every format --------------------------------------------------------
def test_csv_shelters_load_with_fields_geometry_and_derived_districts(db, pts, tmp_path):
    path = shelters_csv(tmp_path / "shelters.csv", pts)
    report = run(db, path, "shelters")
    assert (report.layer, report.rows_loaded, report.synthetic_replaced, report.real_updated) == \
        ("shelters", 3, 0, 0)
    assert report.source_crs == "EPSG:4326"
    assert any("taken as WGS84" in n for n in report.notes)
    assert any("district_code worked out from the location for 3 rows" in n for n in report.notes)
    got = rows(db, "SELECT code, name, class, site_type, effective_area_m2, capacity, district_code,"
                   " synthetic, ST_X(geom), ST_Y(geom) FROM shelters ORDER BY code")
    expected_districts = sorted(pts)[:3]
    assert [r[:8] for r in got] == [
        (f"SH-{i + 1}", f"避难场所{i + 1}", "emergency", "other", 1500.0 + i, 300 + i,
         expected_districts[i], False) for i in range(3)]
    for (x, y), r in zip([pts[c][0] for c in expected_districts], got):
        assert (r[8], r[9]) == pytest.approx((x, y), abs=1e-12)
    assert rows(db, "SELECT layer, source, source_crs, rows, replaced, synthetic FROM imports") == \
        [("shelters", "shelters.csv", "EPSG:4326", 3, 0, False)]


def test_geopackage_risk_units_of_every_geometry_type(db, pts, tmp_path):
    (ax, ay), (bx, by), (cx, cy) = pts["610113"]
    frame = gpd.GeoDataFrame({
        "code": ["RU-1", "RU-2", "RU-3"],
        "name": ["bridge", "gas main", "chemical works"],
        "category": ["bridge", "燃气管网", "hazardous_chemicals"],  # a Chinese name is a value too
        "district_code": ["610113", "610113", "610113"],
        "likelihood": [2, 4, None], "severity": [3, 5, None],
        "lec_l": [None, None, 0.5], "lec_e": [None, None, 6], "lec_c": [None, None, 15],
        "major_hazard_source": [False, False, True],
    }, geometry=[Point(ax, ay), LineString([(ax, ay), (bx, by)]),
                 Point(cx, cy).buffer(0.001)], crs=4326)
    path = tmp_path / "units.gpkg"
    frame.to_file(path, layer="units")
    report = run(db, path, "risk_units")
    assert report.rows_loaded == 3
    got = rows(db, "SELECT code, domain, category, likelihood, severity, lec_l::float, lec_e::float,"
                   " lec_c::float, major_hazard_source, GeometryType(geom), synthetic "
                   "FROM risk_units ORDER BY code")
    assert got == [
        ("RU-1", "lifeline", "bridge", 2, 3, None, None, None, False, "POINT", False),
        ("RU-2", "lifeline", "gas_pipeline", 4, 5, None, None, None, False, "LINESTRING", False),
        ("RU-3", "production_safety", "hazardous_chemicals", None, None, 0.5, 6.0, 15.0, True,
         "POLYGON", False),
    ]
    area = rows(db, "SELECT ST_Area(geom) FROM risk_units WHERE code = 'RU-3'")[0][0]
    assert area == pytest.approx(Point(cx, cy).buffer(0.001).area, rel=1e-9)


def test_geojson_resources_with_json_attributes(db, pts, tmp_path):
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(pts["610104"][i])},
                 "properties": {"code": f"R-{i}", "name": f"depot {i}", "type": t, "level": "city",
                                "items": 120 * i, "attributes": {"tents": 40 + i}, "colour": "red"}}
                for i, t in enumerate(["storage", "储备库"])]
    path = tmp_path / "resources.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    report = run(db, path, "resources")
    assert report.rows_loaded == 2
    assert "columns not used (no such field in resources): colour" in report.notes
    assert rows(db, "SELECT code, type, level, district_code, items, attributes FROM resources "
                    "ORDER BY code") == [
        ("R-0", "storage", "city", "610104", 0, {"tents": 40}),
        ("R-1", "storage", "city", "610104", 120, {"tents": 41}),
    ]


def test_zipped_shapefile_hidden_dangers_linked_to_risk_units(db, pts, tmp_path):
    unit_id = insert_risk_unit(db, "RU-9", pts["610112"][0], "610112", synthetic=False)
    frame = gpd.GeoDataFrame({
        "code": ["HD-1", "HD-2"],
        "risk_unit_code": ["RU-9", None],   # cut to `risk_unit_` by the shapefile format
        "title": ["cracked pier", "blocked exit"],
        "level": ["重大", "general"],
        "status": ["rectified", "open"],
        "found_on": ["2024-03-01", "2024/05/20"],
        "rectified_on": ["2024-04-15", None],
        "supervised": [1, 0],
    }, geometry=[Point(pts["610112"][1]), Point(pts["610112"][2])], crs=4326)
    with warnings.catch_warnings():   # GDAL says it cuts the long names: that is the point
        warnings.simplefilter("ignore")
        frame.to_file(tmp_path / "dangers.shp")
    path = tmp_path / "dangers.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in tmp_path.glob("dangers.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    report = run(db, path, "hidden_dangers")
    assert report.rows_loaded == 2
    got = rows(db, "SELECT code, risk_unit_id, level, status, supervised, found_on::text, "
                   "rectified_on::text, district_code FROM hidden_dangers ORDER BY code")
    assert got == [("HD-1", unit_id, "major", "rectified", True, "2024-03-01", "2024-04-15", "610112"),
                   ("HD-2", None, "general", "open", False, "2024-05-20", None, "610112")]


@pytest.mark.parametrize("crs, label, obfuscate", [("gcj02", "GCJ-02", datums.wgs84_to_gcj02),
                                                    ("BD-09", "BD-09", datums.wgs84_to_bd09)])
def test_web_map_input_lands_within_half_a_metre_of_the_truth(db, pts, tmp_path, crs, label,
                                                               obfuscate):
    truth = [pts[c][0] for c in sorted(pts)]
    lon, lat = obfuscate(*np.array(truth).T)
    body = [[f"MP-{i}", f"gas sensor {i}", "gas", x, y] for i, (x, y) in enumerate(zip(lon, lat))]
    path = write_csv(tmp_path / "amap.csv", ["code", "name", "kind", "lng", "lat"], body)
    report = run(db, path, "monitoring_points", crs=crs)
    assert report.source_crs == label and report.rows_loaded == len(truth)
    assert f"({label} → WGS84)" in report.summary()
    got = rows(db, "SELECT ST_X(geom), ST_Y(geom), unit, district_code, status "
                   "FROM monitoring_points ORDER BY id")
    assert max(metres(t, g[:2]) for t, g in zip(truth, got)) < 0.5
    assert [g[2:] for g in got] == [("%LEL", c, "online") for c in sorted(pts)]


def test_gauss_kruger_epsg_4545_geopackage(db, pts, tmp_path):
    truth = [pts["610116"][0], pts["610102"][1]]
    to_gk = Transformer.from_crs(4326, 4545, always_xy=True)
    projected = [Point(*to_gk.transform(x, y)) for x, y in truth]
    assert projected[0].x > 500_000        # really metres
    frame = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["park", "square"],
                              "class": ["fixed", "central"], "term": ["long", None],
                              "effective_area_m2": [20000.0, 50000.0],
                              "total_area_m2": [30000.0, 80000.0]}, geometry=projected, crs=4545)
    frame.to_file(tmp_path / "gk.gpkg")
    report = run(db, tmp_path / "gk.gpkg", "shelters")
    assert report.source_crs == "EPSG:4545"
    assert report.summary() == "loaded 2 shelters from gk.gpkg (EPSG:4545 → WGS84)"
    got = rows(db, "SELECT ST_X(geom), ST_Y(geom), district_code, term, total_area_m2 "
                   "FROM shelters ORDER BY code")
    assert max(metres(t, g[:2]) for t, g in zip(truth, got)) < 0.01
    assert [g[2:] for g in got] == [("610116", "long", 30000.0), ("610102", None, 80000.0)]


def test_gbk_csv_with_chinese_columns_and_values(db, pts, tmp_path):
    header = ["编号", "名称", "类别", "有效面积", "容纳人数", "所属区县", "经度", "纬度"]
    body = [["GBK-1", "城墙公园", "紧急", "1,200", "300", "碑林区", *pts["610103"][0]],
            ["GBK-2", "曲江池", "固定", "56000", "", "610113", *pts["610113"][0]]]
    path = write_csv(tmp_path / "excel.csv", header, body, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")   # the test really feeds GBK
    report = run(db, path, "shelters")
    assert any("not UTF-8: read as GBK" in n for n in report.notes)
    assert rows(db, "SELECT code, name, class, effective_area_m2, capacity, district_code "
                    "FROM shelters ORDER BY code") == [
        ("GBK-1", "城墙公园", "emergency", 1200.0, 300, "610103"),
        ("GBK-2", "曲江池", "fixed", 56000.0, None, "610113")]


def test_utf8_bom_csv_with_wkt_column(db, pts, tmp_path):
    (ax, ay), (bx, by), _ = pts["610111"]
    path = tmp_path / "bom.csv"
    write_csv(path, ["code", "name", "category", "likelihood", "severity", "WKT"],
              [["L-1", "main", "water_pipeline", 1, 2, f"LINESTRING ({ax} {ay}, {bx} {by})"]],
              encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    run(db, path, "risk_units")
    assert rows(db, "SELECT code, district_code, ST_AsText(geom) = %s FROM risk_units",
                [f"LINESTRING({ax} {ay},{bx} {by})"]) == [("L-1", "610111", True)]


# -- boundaries ------------------------------------------------------------------------
def test_official_district_boundaries_replace_geometry_by_code(db, tmp_path):
    before = dict(rows(db, "SELECT code, population FROM districts"))
    old = {c: shapely.from_wkb(w) for c, w in rows(db, "SELECT code, ST_AsBinary(geom) FROM districts")}
    # an official boundary: the same area, traced differently (a polygon, not multi)
    new = {c: max(old[c].buffer(-0.002).geoms, key=lambda g: g.area)
           if old[c].buffer(-0.002).geom_type == "MultiPolygon" else old[c].buffer(-0.002)
           for c in ("610102", "610103")}
    frame = gpd.GeoDataFrame({"行政区划代码": list(new), "名称": ["新城区", "碑林区"],
                              "人口": [620000, None]}, geometry=list(new.values()), crs=4326)
    frame.to_file(tmp_path / "official.gpkg")
    report = run(db, tmp_path / "official.gpkg", "districts")
    assert (report.rows_loaded, report.real_updated, report.synthetic_replaced) == (2, 2, 0)
    got = {c: (shapely.from_wkb(w), pop, name_en, source, area) for c, w, pop, name_en, source, area
           in rows(db, "SELECT code, ST_AsBinary(geom), population, name_en, source, area_km2 "
                       "FROM districts")}
    assert len(got) == 13
    for code, geom in new.items():
        assert got[code][0].equals(shapely.MultiPolygon([geom]))
        assert got[code][3] == "official.gpkg"
        assert got[code][4] == pytest.approx(
            shapely.area(datums.project_to_local([geom])[0]) / 1e6, rel=1e-9)
    assert got["610102"][1:3] == (620000, "Xincheng District")
    assert got["610103"][1:3] == (None, "Beilin District")   # given empty: written empty
    assert got["610104"][0].equals(old["610104"]) and got["610104"][1] == before["610104"]


def test_districts_into_an_empty_table(db, tmp_path):
    rows(db, "DELETE FROM districts RETURNING code")
    square = shapely.box(108.90, 34.20, 108.95, 34.25)
    frame = gpd.GeoDataFrame({"adcode": [610199, 610103], "xzqmc": ["示范区", "碑林区"]},
                             geometry=[square, square.buffer(-0.01)], crs=4326)
    frame.to_file(tmp_path / "two.geojson")
    report = run(db, tmp_path / "two.geojson", "districts")
    assert (report.rows_loaded, report.real_updated) == (2, 0)
    assert rows(db, "SELECT code, name, name_en, source, GeometryType(geom) FROM districts "
                    "ORDER BY code") == [
        ("610103", "碑林区", "碑林区", "two.geojson", "MULTIPOLYGON"),
        ("610199", "示范区", "示范区", "two.geojson", "MULTIPOLYGON")]
    # with districts in place, new ones must lie near them
    far = gpd.GeoDataFrame({"code": ["610198"], "name": ["far"]},
                           geometry=[shapely.box(116.3, 39.8, 116.4, 39.9)], crs=4326)
    far.to_file(tmp_path / "far.geojson")
    (number, reason), = rejected(db, tmp_path / "far.geojson", "districts").problems
    assert number == 1 and reason.startswith("outside the city: (116.4")
    assert reason.endswith("is more than 0.5° from the city's districts")


def test_subdistricts_polygons_become_multipolygons_in_the_largest_overlap(db, tmp_path):
    centre = shapely.from_wkb(rows(db, "SELECT ST_AsBinary(ST_PointOnSurface(geom)) FROM districts "
                                       "WHERE code = '610116'")[0][0])
    mostly_in = centre.buffer(0.01)
    frame = gpd.GeoDataFrame({"code": ["610116001", "610116002001"], "name": ["A街道", "B镇"],
                              "kind": ["街道", "镇"]},
                             geometry=[mostly_in, shapely.MultiPolygon([centre.buffer(0.005)])],
                             crs=4326)
    frame.to_file(tmp_path / "streets.geojson")
    run(db, tmp_path / "streets.geojson", "subdistricts")
    assert rows(db, "SELECT code, kind, district_code, GeometryType(geom) FROM subdistricts "
                    "ORDER BY code") == [("610116001", "street", "610116", "MULTIPOLYGON"),
                                         ("610116002001", "town", "610116", "MULTIPOLYGON")]


# -- synthetic rows, re-imports, dry runs ----------------------------------------------
def test_imported_rows_replace_the_synthetic_rows_of_the_layer(db, pts, tmp_path):
    insert_synthetic_shelters(db, pts["610115"], "610115")
    path = shelters_csv(tmp_path / "shelters.csv", pts, n=2)
    report = run(db, path, "shelters")
    assert (report.rows_loaded, report.synthetic_replaced, report.real_updated) == (2, 3, 0)
    assert report.summary() == ("loaded 2 shelters from shelters.csv (WGS84); "
                                "replaced 3 synthetic rows")
    assert rows(db, "SELECT code, synthetic FROM shelters ORDER BY code") == \
        [("SH-1", False), ("SH-2", False)]
    assert rows(db, "SELECT rows, replaced FROM imports") == [(2, 3)]


def test_reimporting_the_same_file_is_idempotent(db, pts, tmp_path):
    path = shelters_csv(tmp_path / "shelters.csv", pts)
    run(db, path, "shelters")
    first = rows(db, "SELECT * FROM shelters ORDER BY code")
    report = run(db, path, "shelters")
    assert (report.rows_loaded, report.synthetic_replaced, report.real_updated) == (3, 0, 3)
    assert rows(db, "SELECT * FROM shelters ORDER BY code") == first
    assert rows(db, "SELECT count(*) FROM imports") == [(2,)]


def test_dry_run_checks_and_reports_but_writes_nothing(db, pts, tmp_path):
    insert_synthetic_shelters(db, pts["610115"][:1], "610115")
    before = snapshot(db)
    report = run(db, shelters_csv(tmp_path / "s.csv", pts), "shelters", dry_run=True)
    assert snapshot(db) == before
    assert report.summary() == ("would load 3 shelters from s.csv (WGS84); "
                                "would replace 1 synthetic row")


def test_risk_units_that_imported_rows_point_at_are_not_removed(db, pts, tmp_path):
    insert_risk_unit(db, "SYN-RU", pts["610112"][0], "610112", synthetic=True)
    link = write_csv(tmp_path / "points.csv", ["code", "name", "kind", "risk_unit_code", "lon", "lat"],
                     [["MP-1", "pier tilt", "bridge", "SYN-RU", *pts["610112"][1]]])
    note = ("rows pointing at synthetic risk units: 1; import real risk units with the same "
            "codes, or those cannot replace the synthetic ones")
    assert note in run(db, link, "monitoring_points").notes
    units = write_csv(tmp_path / "units.csv", ["code", "name", "category", "likelihood",
                                               "severity", "lon", "lat"],
                      [["RU-1", "bridge", "bridge", 1, 1, *pts["610112"][2]]])
    exc = rejected(db, units, "risk_units")
    assert str(exc).startswith("1 imported monitoring_points (e.g. MP-1) point at synthetic "
                               "risk_units that this import would remove")


def test_synthetic_rows_of_replaced_synthetic_units_go_with_them_and_are_noted(db, pts, tmp_path):
    unit = insert_risk_unit(db, "SYN-RU", pts["610112"][0], "610112", synthetic=True)
    rows(db, "INSERT INTO hidden_dangers (code, risk_unit_id, title, level, status, found_on, "
             "district_code, synthetic, geom) SELECT 'SYN-HD', %s, 't', 'general', 'open', "
             "'2024-01-01', '610112', true, geom FROM risk_units WHERE id = %s RETURNING id",
         [unit, unit])
    units = write_csv(tmp_path / "units.csv", ["code", "name", "category", "likelihood",
                                               "severity", "lon", "lat"],
                      [["RU-1", "bridge", "bridge", 1, 1, *pts["610112"][2]]])
    report = run(db, units, "risk_units")
    assert report.synthetic_replaced == 1
    assert ("rows of hidden_dangers deleted with the synthetic risk_units that were replaced: 1"
            in report.notes)
    assert rows(db, "SELECT count(*) FROM hidden_dangers") == [(0,)]


# -- size, and the command line --------------------------------------------------------
def test_twenty_thousand_points_load_quickly(db, tmp_path):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(108.90, 109.00, 20_000), rng.uniform(34.22, 34.28, 20_000)
    body = [[f"MP-{i:05d}", f"sensor {i}", "gas", f"{x:.6f}", f"{y:.6f}", "2023-06-01"]
            for i, (x, y) in enumerate(zip(lon, lat))]
    path = write_csv(tmp_path / "big.csv", ["code", "name", "kind", "lon", "lat", "installed_on"], body)
    started = time.perf_counter()
    report = run(db, path, "monitoring_points")
    assert time.perf_counter() - started < 30
    assert report.rows_loaded == 20_000
    assert rows(db, "SELECT count(*), min(installed_on)::text, "
                    "count(*) FILTER (WHERE ST_Intersects(d.geom, m.geom)) FROM monitoring_points m "
                    "JOIN districts d ON d.code = m.district_code") == [(20_000, "2023-06-01", 20_000)]


def test_cli_prints_what_it_loaded(db, pts, tmp_path, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", db)
    insert_synthetic_shelters(db, pts["610115"][:2], "610115")
    path = shelters_csv(tmp_path / "shelters.csv", pts)
    result = CliRunner().invoke(app, ["import", str(path), "--layer", "shelters"])
    assert result.exit_code == 0, result.output
    assert "loaded 3 shelters from shelters.csv (WGS84); replaced 2 synthetic rows" in result.stdout
    assert "note: district_code worked out from the location for 3 rows" in result.stdout
    assert rows(db, "SELECT count(*) FROM shelters WHERE NOT synthetic") == [(3,)]


def test_cli_lists_bad_rows_and_loads_nothing(db, pts, tmp_path, monkeypatch):
    from service.cli import app

    monkeypatch.setenv("ONEMAP_DATABASE_URL", db)
    before = snapshot(db)
    header = SHELTER_HEADER
    body = [[f"S-{i}", "", "fixed", 10, 1, *pts["610104"][0]] for i in range(60)]
    path = write_csv(tmp_path / "bad.csv", header, body)
    result = CliRunner().invoke(app, ["import", str(path), "--layer", "shelters", "--crs", "4326"])
    assert result.exit_code == 1
    assert "line 2: name is empty; it is required" in result.stderr
    assert "line 51: name is empty; it is required" in result.stderr
    assert "line 52:" not in result.stderr
    assert "… and 10 more" in result.stderr
    assert "bad.csv: 60 bad rows (numbered by line in the file, header = line 1); nothing was loaded" \
        in result.stderr
    assert snapshot(db) == before
    unknown = CliRunner().invoke(app, ["import", str(path), "--layer", "railways"])
    assert unknown.exit_code == 1 and "unknown layer 'railways'" in unknown.stderr


def test_candidate_sites_for_new_shelters_load_from_csv(db, pts, tmp_path):
    path = tmp_path / "sites.csv"
    (x0, y0), (x1, y1), _ = pts["610103"]
    write_csv(path, ["编码", "名称", "场地类型", "可用面积", "lon", "lat"],
              [["CS-1", "环城公园", "公园", "12000", x0, y0],
               ["CS-2", "某中学操场", "学校", "", x1, y1]])
    report = run(db, path, "candidate_sites")
    assert (report.layer, report.rows_loaded) == ("candidate_sites", 2)
    assert rows(db, "SELECT code, site_type, area_m2, district_code, synthetic FROM candidate_sites "
                    "ORDER BY code") == [("CS-1", "park", 12000.0, "610103", False),
                                         ("CS-2", "school", None, "610103", False)]
    bad = tmp_path / "bad.csv"
    write_csv(bad, ["code", "name", "site_type", "area_m2", "lon", "lat"],
              [["CS-3", "x", "airport", "-1", x0, y0]])
    problems = " ".join(reason for _, reason in rejected(db, bad, "candidate_sites").problems)
    assert "site_type" in problems and "area_m2" in problems
