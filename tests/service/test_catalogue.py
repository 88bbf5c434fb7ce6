"""The layer catalogue: the declarations, what build_catalogue publishes from a database,
and how a declared layer comes and goes with its table.

The coming and going is shown with `INCIDENTS`, a layer declared here only, on a table
(or materialized view) that the tests make in a scratch database: the real layers all
have their tables in every migrated database.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

import layers.catalogue as catalogue_module
import service.deps
from geodata.errors import UnknownLayerError
from layers.catalogue import (
    LAYERS,
    Attribute,
    Catalogue,
    Layer,
    build_catalogue,
    with_geometry_parts,
)
from layers.declarations import GRADES
from service.app import create_app

LAYER = {layer.name: layer for layer in with_geometry_parts(LAYERS)}

INCIDENTS = Layer(
    name="test_incidents", table="test_incidents", title="测试事件", title_en="Test incidents",
    description="仅供测试。Declared by the tests only.", id_column="id",
    geometry_types=("Point", "LineString", "MultiPoint"), minzoom=0, maxzoom=22,
    geometry_parts=True,
    attributes=(Attribute("kind", "string", "类型", "Kind", values=("fire", "flood"),
                          labels=(("fire", "火灾", "fire"), ("flood", "洪涝", "flood"))),
                Attribute("note", "string", "说明", "Note")),
)
INCIDENTS_PUBLISHED = ["test_incidents", "test_incidents_point", "test_incidents_line"]
_INCIDENTS_COLUMNS = "(id bigint PRIMARY KEY, kind text, note text, geom geometry(Geometry, 4326))"
_INCIDENTS_ROWS = ("VALUES (1, 'fire', NULL, 'SRID=4326;POINT(108.90 34.20)'::geometry), "
                   "(2, 'flood', 'river', 'SRID=4326;LINESTRING(108.90 34.20, 109.00 34.30)'), "
                   "(3, 'fire', NULL, 'SRID=4326;MULTIPOINT((108.95 34.25))')")


def _build(url: str, declarations=LAYERS) -> Catalogue:
    async def build() -> Catalogue:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await build_catalogue(conn, declarations)
    return asyncio.run(build())


@pytest.fixture
def declare_incidents(monkeypatch):
    """Apps made in the test build their catalogue with INCIDENTS declared after the others."""
    async def build(conn, declarations=LAYERS):
        return await build_catalogue(conn, [*declarations, INCIDENTS])
    monkeypatch.setattr(service.deps, "build_catalogue", build)


# -- the declarations ------------------------------------------------------------------------

def test_declarations_are_consistent():
    names = [layer.name for layer in LAYERS]
    assert names == ["districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
                     "resources", "hidden_dangers", "shelter_gaps", "candidate_sites",
                     "fire_coverage", "alarms",
                     "area_risk_districts", "area_risk_subdistricts", "area_risk_grid"]
    published = [layer.name for layer in with_geometry_parts(LAYERS)]
    assert len(set(published)) == len(published)
    for layer in LAYERS:
        attributes = [a.name for a in layer.attributes]
        assert len(set(attributes)) == len(attributes), layer.name
        assert 0 <= layer.minzoom <= layer.maxzoom <= 22, layer.name
        assert layer.time_column is None or layer.time_column in attributes, layer.name
        assert layer.geometry_types and layer.title and layer.title_en and layer.description
        assert layer.id_type in ("integer", "string"), layer.name
        assert layer.parent is None and layer.geometry_kind is None, layer.name
    assert LAYER["risk_units"].geometry_types == ("Point", "LineString", "Polygon", "MultiPoint",
                                                  "MultiLineString", "MultiPolygon")


@pytest.mark.parametrize("name, title, title_en, id_column, id_type", [
    ("area_risk_districts", "区县风险汇总", "District risk summary", "code", "string"),
    ("area_risk_subdistricts", "街镇风险汇总", "Sub-district risk summary", "code", "string"),
    ("area_risk_grid", "网格风险汇总", "Grid risk summary", "id", "string"),
])
def test_area_risk_views_are_declared(name, title, title_en, id_column, id_type):
    layer = LAYER[name]

    assert (layer.table, layer.title, layer.title_en) == (name, title, title_en)
    assert (layer.id_column, layer.id_type) == (id_column, id_type)
    attributes = [a.name for a in layer.attributes]
    assert attributes[-9:] == ["red", "orange", "yellow", "blue", "total", "worst_grade",
                               "weighted_score", "area_km2", "risk_index"]
    assert [a.name for a in layer.queryables][-1] == "worst_grade"
    assert layer.attribute("worst_grade").values == tuple(v for v, _, _ in GRADES)
    assert layer.attribute("worst_grade").label("red") == ("红（重大风险）", "red (major)")


# PostgreSQL's names of column types (format_type, without a type modifier) -> ours
_PG_TYPES = {"text": "string", "character varying": "string", "integer": "integer",
             "smallint": "integer", "bigint": "integer", "double precision": "number",
             "numeric": "number", "real": "number", "boolean": "boolean", "date": "date",
             "timestamp with time zone": "datetime", "jsonb": "object"}


def test_declared_attributes_match_the_schema(base_url):
    """Every declared column exists with the declared type, in tables and materialized views
    alike (fails when the schema drifts)."""
    with psycopg.connect(base_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind IN ('r', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped").fetchall()
    types = {(table, column): type_name for table, column, type_name in rows}
    ours = {key: _PG_TYPES.get(name.split("(")[0], name) for key, name in types.items()}
    for layer in LAYERS:
        for attribute in layer.attributes:
            assert ours.get((layer.source, attribute.name)) == attribute.type, (
                f"{layer.name}.{attribute.name}")
        assert ours.get((layer.source, layer.id_column)) == layer.id_type, layer.name
        geometry = types[(layer.source, layer.geometry_column)]  # e.g. geometry(Point,4326)
        assert geometry.startswith("geometry(") and geometry.endswith(",4326)"), layer.name
        kind = geometry[len("geometry("):].split(",")[0]
        if kind != "Geometry":  # a column of one type: the layer declares that type only
            assert layer.geometry_types == (kind,), layer.name


# -- the catalogue class ---------------------------------------------------------------------

def test_catalogue_get_and_refusal():
    catalogue = Catalogue(LAYERS[:2], unavailable=["test_incidents"])

    assert catalogue.get("districts") is LAYERS[0]
    assert catalogue.names == ("districts", "subdistricts")
    assert "subdistricts" in catalogue and "shelters" not in catalogue
    assert len(catalogue) == 2
    with pytest.raises(UnknownLayerError) as refused:
        catalogue.get("x")
    assert str(refused.value) == "unknown layer 'x'; layers: districts, subdistricts"
    assert isinstance(refused.value, LookupError)
    with pytest.raises(UnknownLayerError, match="'test_incidents' is not available in this data"):
        catalogue.get("test_incidents")


# -- build_catalogue on a database -------------------------------------------------------------

def test_build_catalogue_reads_counts_and_extents(base_url, published):
    catalogue = _build(base_url)

    assert list(catalogue.names) == published
    districts = catalogue.get("districts")
    assert districts.row_count == 13
    west, south, east, north = districts.extent
    assert 107.6 <= west < east <= 109.9 and 33.6 <= south < north <= 34.8
    # the base has no units, and its area-risk views were made before the districts
    assert {layer.name: (layer.row_count, layer.extent) for layer in catalogue
            if layer.name != "districts"} == {name: (0, None) for name in published[1:]}


def test_build_catalogue_uses_estimates_for_large_tables(scratch_base_url, monkeypatch):
    exact = _build(scratch_base_url).get("districts").extent
    with psycopg.connect(scratch_base_url, autocommit=True) as conn:
        conn.execute("ANALYZE districts")
    monkeypatch.setattr(catalogue_module, "EXACT_BELOW_ROWS", 1)

    estimated = _build(scratch_base_url).get("districts")

    assert estimated.row_count == 13  # reltuples after ANALYZE
    assert estimated.extent == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize("relation", ["TABLE", "MATERIALIZED VIEW"])
def test_a_new_relation_publishes_its_declared_layer(scratch_base_url, published, relation):
    with psycopg.connect(scratch_base_url) as conn:
        if relation == "TABLE":
            conn.execute(f"CREATE TABLE test_incidents {_INCIDENTS_COLUMNS}")
            conn.execute(f"INSERT INTO test_incidents {_INCIDENTS_ROWS}")
        else:  # information_schema.columns would not show its columns
            conn.execute(f"CREATE TABLE test_incidents_source {_INCIDENTS_COLUMNS}")
            conn.execute(f"INSERT INTO test_incidents_source {_INCIDENTS_ROWS}")
            conn.execute("CREATE MATERIALIZED VIEW test_incidents AS "
                         "SELECT * FROM test_incidents_source")

    catalogue = _build(scratch_base_url, [*LAYERS, INCIDENTS])

    assert list(catalogue.names) == [*published, *INCIDENTS_PUBLISHED]
    counts = {name: catalogue.get(name).row_count for name in INCIDENTS_PUBLISHED}
    assert counts == {"test_incidents": 3, "test_incidents_point": 2, "test_incidents_line": 1}
    assert catalogue.get("test_incidents_line").extent == pytest.approx((108.9, 34.2, 109.0, 34.3))
    assert catalogue.get("test_incidents").attribute("kind").label("flood") == ("洪涝", "flood")


def test_a_table_missing_declared_columns_is_left_out(scratch_base_url, caplog):
    with psycopg.connect(scratch_base_url) as conn:
        conn.execute("CREATE TABLE test_incidents (id bigint PRIMARY KEY, "
                     "geom geometry(Geometry, 4326))")

    with caplog.at_level(logging.WARNING, logger="layers.catalogue"):
        catalogue = _build(scratch_base_url, [*LAYERS, INCIDENTS])

    assert not set(INCIDENTS_PUBLISHED) & set(catalogue.names)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "layers.catalogue"]
    assert warning == ("layer 'test_incidents' left out: table 'test_incidents' has no column "
                       "kind, note")
    for name in INCIDENTS_PUBLISHED:
        with pytest.raises(UnknownLayerError, match="not available"):
            catalogue.get(name)


# -- the same, seen by an app ------------------------------------------------------------------

def test_declared_layer_without_table_answers_404(base_url, settings_for, declare_incidents,
                                                  published):
    with TestClient(create_app(settings_for(base_url))) as client:
        listed = [c["id"] for c in client.get("/collections").json()["collections"]]
        answers = {name: (client.get(f"/collections/{name}"),
                          client.get(f"/collections/{name}/items"))
                   for name in INCIDENTS_PUBLISHED}

    assert listed == published
    for name, (collection, items) in answers.items():
        assert collection.status_code == items.status_code == 404
        assert collection.json() == {
            "code": "NotFound", "description": f"layer {name!r} is not available in this "
                                               f"database; layers: {', '.join(published)}"}


def test_the_catalogue_is_refreshed_while_the_app_runs(scratch_base_url, settings_for,
                                                       declare_incidents, published):
    app = create_app(settings_for(scratch_base_url, api={"catalogue_refresh_seconds": 0.2}))
    with TestClient(app) as client:
        assert [c["id"] for c in client.get("/collections").json()["collections"]] == published
        with psycopg.connect(scratch_base_url) as conn:
            conn.execute(f"CREATE TABLE test_incidents {_INCIDENTS_COLUMNS}")
            conn.execute(f"INSERT INTO test_incidents {_INCIDENTS_ROWS}")
        deadline = time.monotonic() + 5
        while "test_incidents" not in (ids := [c["id"] for c in
                                               client.get("/collections").json()["collections"]]):
            assert time.monotonic() < deadline, "the new layer never showed up"
            time.sleep(0.1)
        assert ids == [*published, *INCIDENTS_PUBLISHED]
        assert client.get("/collections/test_incidents_point").json()["itemCount"] == 2
        features = client.get("/collections/test_incidents/items").json()["features"]
        assert [(f["id"], f["properties"]["kind"]) for f in features] == [
            (1, "fire"), (2, "flood"), (3, "fire")]
        assert client.get("/healthz").json()["layers"]["test_incidents"] == 3
