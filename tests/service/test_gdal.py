"""GDAL's OGC API - Features driver (OAPIF, through pyogrio) reads the service over HTTP.

The app runs under uvicorn on a loopback port against the seeded test database; GDAL
finds the collections from the landing page, pages through the items by their next
links, and gets every feature exactly once.
"""

from __future__ import annotations

import warnings

import pyogrio
import pytest

ALL_LAYERS = ["districts", "subdistricts", "risk_units", "risk_units_point", "risk_units_line",
              "risk_units_polygon", "monitoring_points", "shelters", "resources",
              "hidden_dangers", "alarms"]


def test_pyogrio_gdal_has_the_oapif_driver():
    assert "OAPIF" in pyogrio.list_drivers(), (
        f"GDAL {pyogrio.__gdal_version_string__} of pyogrio has no OAPIF driver")


@pytest.fixture(scope="module")
def dataset(live_seeded) -> str:
    return f"OAPIF:{live_seeded.url}"


def test_gdal_lists_every_collection_with_its_geometry_type(dataset):
    layers = {name: kind for name, kind in pyogrio.list_layers(dataset)}

    assert list(layers) == ALL_LAYERS
    assert layers["districts"] == "MultiPolygon"
    assert layers["risk_units_point"] == "Point"
    assert layers["risk_units_line"] == "LineString"
    assert layers["risk_units_polygon"] == "Polygon"
    assert layers["shelters"] == "Point"


@pytest.mark.parametrize("layer, table", [
    ("districts", "districts"), ("shelters", "shelters"), ("risk_units", "risk_units"),
])
def test_gdal_reads_every_feature(dataset, seeded_sql, layer, table):
    [(count,)] = seeded_sql(f"SELECT count(*) FROM {table}")

    frame = pyogrio.read_dataframe(dataset, layer=layer)

    assert len(frame) == count
    assert frame["code"].is_unique
    assert frame.crs.to_epsg() == 4326


def test_gdal_reads_the_22067_monitoring_points_page_by_page(dataset, seeded_sql):
    codes = {r[0] for r in seeded_sql("SELECT code FROM monitoring_points")}

    frame = pyogrio.read_dataframe(dataset, layer="monitoring_points", columns=["code", "kind"])

    assert len(frame) == len(codes) == 22067
    assert set(frame["code"]) == codes


def test_gdal_reads_one_kind_of_unit_with_the_grade_explanation(dataset, seeded_sql):
    [(count,)] = seeded_sql("SELECT count(*) FROM risk_units WHERE ST_Dimension(geom) = 2")
    with warnings.catch_warnings():
        # GDAL guesses field types from the first features; the service is not at fault
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = pyogrio.read_dataframe(dataset, layer="risk_units_polygon")

    assert len(frame) == count
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    explained = frame.dropna(subset=["grade"]).iloc[0]
    assert explained["grade_explanation"]["grade"] == explained["grade"]
