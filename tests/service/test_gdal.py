"""GDAL's OGC API - Features driver (OAPIF, through pyogrio) reads the service over HTTP.

The app runs under uvicorn on a loopback port against the seeded test database; GDAL
finds the collections from the landing page, pages through the items by their next
links, and gets every feature exactly once.
"""

from __future__ import annotations

import json
import warnings

import pyogrio
import pytest


def test_pyogrio_gdal_has_the_oapif_driver():
    assert "OAPIF" in pyogrio.list_drivers(), (
        f"GDAL {pyogrio.__gdal_version_string__} of pyogrio has no OAPIF driver")


@pytest.fixture(scope="module")
def dataset(live_seeded) -> str:
    return f"OAPIF:{live_seeded.url}"


def test_gdal_lists_every_collection_with_its_geometry_type(dataset, published):
    layers = {name: kind for name, kind in pyogrio.list_layers(dataset)}

    assert list(layers) == published
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
        # typed from the schema, GDAL has no field type to guess and nothing to warn about
        warnings.simplefilter("error", RuntimeWarning)
        frame = pyogrio.read_dataframe(dataset, layer="risk_units_polygon")

    assert len(frame) == count
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    explained = frame.dropna(subset=["grade"]).iloc[0]
    # typed from the schema ("object"), GDAL gives the explanation as JSON text
    assert json.loads(explained["grade_explanation"])["grade"] == explained["grade"]


def test_gdal_types_the_fields_from_the_schema(dataset):
    """The describedby link gives GDAL each field's declared type, where it would otherwise
    guess from the first page (a column empty there would become text)."""
    info = pyogrio.read_info(dataset, layer="risk_units")
    types = dict(zip(info["fields"], info["dtypes"]))
    assert types["lec_l"] == "float64" and types["likelihood"] == "int32"
    assert types["graded_at"].startswith("datetime64")
    grid = pyogrio.read_info(dataset, layer="area_risk_grid")
    assert dict(zip(grid["fields"], grid["dtypes"])) == {
        "id": "object", "red": "int32", "orange": "int32", "yellow": "int32", "blue": "int32",
        "total": "int32", "worst_grade": "object", "weighted_score": "float64",
        "area_km2": "float64", "risk_index": "float64"}
