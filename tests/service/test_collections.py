"""/collections, the layer catalogue (with and without HTTP) and the error answers."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest
from fastapi import Query
from fastapi.testclient import TestClient

import layers.catalogue as catalogue_module
from geodata.errors import CRSNameError, DatabaseSetupError, ImportRejected, UnknownLayerError
from layers.catalogue import LAYERS, Catalogue, build_catalogue
from service.app import create_app
from service.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
LAYER_LIST = ("districts, subdistricts, risk_units, monitoring_points, shelters, resources, "
              "hidden_dangers")


def _build(url: str) -> Catalogue:
    async def build() -> Catalogue:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await build_catalogue(conn)
    return asyncio.run(build())


# -- /collections -----------------------------------------------------------------------

def test_collections_lists_exactly_the_published_layers(base_client, published):
    response = base_client.get("/collections")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["links"] == [{"href": "http://testserver/collections", "rel": "self",
                              "type": "application/json", "title": "Collections"}]
    assert [c["id"] for c in body["collections"]] == published
    for collection in body["collections"]:
        name = collection["id"]
        assert collection["itemType"] == "feature"
        assert collection["crs"] == [CRS84]
        assert collection["title"] == catalogue_module.LAYERS[published.index(name)].title
        assert [(link["rel"], link["href"], link["type"]) for link in collection["links"]] == [
            ("self", f"http://testserver/collections/{name}", "application/json"),
            ("items", f"http://testserver/collections/{name}/items", "application/geo+json"),
        ]


def test_districts_extent_is_around_xian(base_client):
    body = base_client.get("/collections").json()
    districts = next(c for c in body["collections"] if c["id"] == "districts")

    assert districts["title"] == "区县"
    assert districts["extent"]["spatial"]["crs"] == CRS84
    [[west, south, east, north]] = districts["extent"]["spatial"]["bbox"]
    assert 107.6 <= west < 108.0 and 109.5 < east <= 109.9
    assert 33.6 <= south < 34.0 and 34.5 < north <= 34.8


def test_empty_layers_state_no_extent(base_client):
    body = base_client.get("/collections").json()
    assert [c["id"] for c in body["collections"] if "extent" not in c] == [
        "subdistricts", "risk_units", "monitoring_points", "shelters", "resources",
        "hidden_dangers"]


def test_one_collection_is_the_same_document_as_in_the_list(base_client):
    response = base_client.get("/collections/districts")

    assert response.status_code == 200
    listed = base_client.get("/collections").json()["collections"][0]
    assert response.json() == listed


def test_unknown_collection_answers_404_naming_the_valid_layers(base_client):
    response = base_client.get("/collections/nope")

    assert response.status_code == 404
    assert response.json() == {"code": "NotFound",
                               "description": f"unknown layer 'nope'; layers: {LAYER_LIST}"}


def test_declared_layer_without_table_answers_404(base_client):
    response = base_client.get("/collections/alarms")

    assert response.status_code == 404
    assert response.json()["description"] == (
        f"layer 'alarms' is not available in this database; layers: {LAYER_LIST}")


def test_links_use_the_public_base_url(base_url, settings_for):
    app = create_app(settings_for(base_url, api={"public_base_url": "https://map.example/onemap/"}))
    with TestClient(app) as client:
        body = client.get("/collections/shelters").json()
    assert body["links"][1]["href"] == "https://map.example/onemap/collections/shelters/items"


def test_cors_origins_are_allowed_when_configured(base_url, settings_for):
    app = create_app(settings_for(base_url, api={"cors_origins": ["https://map.example"]}))
    with TestClient(app) as client:
        allowed = client.get("/collections/nope", headers={"Origin": "https://map.example"})
        other = client.get("/collections", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 404  # error answers carry the header too
    assert allowed.headers["access-control-allow-origin"] == "https://map.example"
    assert "access-control-allow-origin" not in other.headers


_ALARMS_TABLE = (
    "CREATE TABLE alarms (id bigint PRIMARY KEY, monitoring_point_id bigint, grade text,"
    " value double precision, raised_at timestamptz, state text, district_code text,"
    " synthetic boolean, geom geometry(Point, 4326))")


def test_the_catalogue_is_refreshed_while_the_app_runs(scratch_base_url, settings_for, published):
    app = create_app(settings_for(scratch_base_url, api={"catalogue_refresh_seconds": 0.2}))
    with TestClient(app) as client:
        assert [c["id"] for c in client.get("/collections").json()["collections"]] == published
        with psycopg.connect(scratch_base_url) as conn:
            conn.execute(_ALARMS_TABLE)
        deadline = time.monotonic() + 5
        while "alarms" not in (ids := [c["id"] for c in
                                       client.get("/collections").json()["collections"]]):
            assert time.monotonic() < deadline, "the new layer never showed up"
            time.sleep(0.1)
        assert ids == [*published, "alarms"]
        assert client.get("/collections/alarms").status_code == 200


# -- the catalogue without HTTP -----------------------------------------------------------

def test_catalogue_get_and_refusal():
    catalogue = Catalogue(LAYERS[:2], unavailable=["alarms"])

    assert catalogue.get("districts") is LAYERS[0]
    assert catalogue.names == ("districts", "subdistricts")
    assert "subdistricts" in catalogue and "shelters" not in catalogue
    assert len(catalogue) == 2
    with pytest.raises(UnknownLayerError) as refused:
        catalogue.get("x")
    assert str(refused.value) == "unknown layer 'x'; layers: districts, subdistricts"
    assert isinstance(refused.value, LookupError)
    with pytest.raises(UnknownLayerError, match="'alarms' is not available in this database"):
        catalogue.get("alarms")


def test_declarations_are_consistent():
    names = [layer.name for layer in LAYERS]
    assert len(set(names)) == len(names)
    assert names == ["districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
                     "resources", "hidden_dangers", "alarms"]
    for layer in LAYERS:
        attributes = [a.name for a in layer.attributes]
        assert len(set(attributes)) == len(attributes), layer.name
        assert 0 <= layer.minzoom <= layer.maxzoom <= 22, layer.name
        assert layer.time_column is None or layer.time_column in attributes, layer.name
        assert layer.geometry_types and layer.title and layer.title_en and layer.description
    assert LAYERS[2].geometry_types == ("Point", "LineString", "Polygon", "MultiPoint",
                                        "MultiLineString", "MultiPolygon")


_PG_TYPES = {"text": "string", "integer": "integer", "smallint": "integer", "bigint": "integer",
             "double precision": "number", "numeric": "number", "boolean": "boolean",
             "date": "date", "timestamp with time zone": "datetime", "jsonb": "object"}


def test_declared_attributes_match_the_schema(base_url):
    """Every declared column exists with the declared type (fails when the schema drifts)."""
    with psycopg.connect(base_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()").fetchall()
    types = {(table, column): _PG_TYPES.get(data_type, data_type) for table, column, data_type in rows}
    for layer in LAYERS:
        if layer.name == "alarms":
            continue  # its table comes with a later migration
        for attribute in layer.attributes:
            assert types.get((layer.table, attribute.name)) == attribute.type, (
                f"{layer.name}.{attribute.name}")
        assert (layer.table, layer.id_column) in types


def test_build_catalogue_reads_counts_and_extents(base_url, published):
    catalogue = _build(base_url)

    assert list(catalogue.names) == published
    districts = catalogue.get("districts")
    assert districts.row_count == 13
    west, south, east, north = districts.extent
    assert 107.6 <= west < east <= 109.9 and 33.6 <= south < north <= 34.8
    assert catalogue.get("shelters").row_count == 0
    assert catalogue.get("shelters").extent is None


def test_build_catalogue_uses_estimates_for_large_tables(scratch_base_url, monkeypatch):
    exact = _build(scratch_base_url).get("districts").extent
    with psycopg.connect(scratch_base_url, autocommit=True) as conn:
        conn.execute("ANALYZE districts")
    monkeypatch.setattr(catalogue_module, "EXACT_BELOW_ROWS", 1)

    estimated = _build(scratch_base_url).get("districts")

    assert estimated.row_count == 13  # reltuples after ANALYZE
    assert estimated.extent == pytest.approx(exact, abs=0.01)


def test_a_new_table_publishes_its_declared_layer(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn:
        conn.execute(_ALARMS_TABLE)

    catalogue = _build(scratch_base_url)

    assert catalogue.names[-1] == "alarms"
    assert catalogue.get("alarms").row_count == 0


def test_a_table_missing_declared_columns_is_left_out(scratch_base_url, caplog):
    with psycopg.connect(scratch_base_url) as conn:
        conn.execute("CREATE TABLE alarms (id bigint PRIMARY KEY, geom geometry(Point, 4326))")

    with caplog.at_level(logging.WARNING, logger="layers.catalogue"):
        catalogue = _build(scratch_base_url)

    assert "alarms" not in catalogue
    assert "layer 'alarms' left out: table 'alarms' has no column monitoring_point_id" in caplog.text
    with pytest.raises(UnknownLayerError, match="not available"):
        catalogue.get("alarms")


# -- error answers -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def error_client(base_url, settings_for):
    """An app with routes that fail in each of the ways the error table knows."""
    app = create_app(settings_for(base_url))

    @app.get("/test/crash")
    async def crash():
        raise RuntimeError("password=hunter2 host=10.0.0.9")

    @app.get("/test/database")
    async def database_error():
        raise psycopg.OperationalError('server at "10.0.0.9" closed the connection')

    @app.get("/test/setup")
    async def setup_error():
        raise DatabaseSetupError("PostGIS is not installed in this database")

    @app.get("/test/crs")
    async def crs_error():
        raise CRSNameError("unknown coordinate system 'EPSG:99999'")

    @app.get("/test/parameter")
    async def parameter_error():
        raise InvalidParameter("bbox", "expected 4 numbers")

    @app.get("/test/import")
    async def import_error():
        raise ImportRejected("2 rows refused", [(3, "no geometry"), (None, "no code column")])

    @app.get("/test/limit")
    async def limited(limit: int = Query(10, ge=1)):
        return {"limit": limit}

    with TestClient(app) as client:
        yield client


def test_unhandled_error_answers_500_with_generic_text(error_client, caplog):
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = error_client.get("/test/crash")

    assert response.status_code == 500
    assert response.json() == {"code": "ServerError", "description": "internal server error"}
    assert "hunter2" not in response.text
    [record] = [r for r in caplog.records if r.name == "service.errors"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "GET /test/crash" in record.getMessage()


def test_database_errors_answer_503_without_the_database_text(error_client):
    response = error_client.get("/test/database")

    assert response.status_code == 503
    assert response.json() == {"code": "ServiceUnavailable",
                               "description": "the database is not available; try again later"}
    assert "10.0.0.9" not in response.text


@pytest.mark.parametrize("path, status, body", [
    ("/test/setup", 503, {"code": "ServiceUnavailable",
                          "description": "PostGIS is not installed in this database"}),
    ("/test/crs", 400, {"code": "InvalidParameterValue",
                        "description": "unknown coordinate system 'EPSG:99999'"}),
    ("/test/parameter", 400, {"code": "InvalidParameterValue",
                              "description": "parameter 'bbox': expected 4 numbers",
                              "parameter": "bbox"}),
    ("/test/import", 422, {"code": "ImportRejected", "description": "2 rows refused",
                           "problems": [{"row": 3, "reason": "no geometry"},
                                        {"row": None, "reason": "no code column"}]}),
    ("/no/such/path", 404, {"code": "NotFound", "description": "Not Found"}),
])
def test_errors_of_ours_answer_their_status(error_client, path, status, body):
    response = error_client.get(path)

    assert response.status_code == status
    assert response.json() == body


def test_bad_query_parameter_answers_400_naming_it(error_client):
    response = error_client.get("/test/limit", params={"limit": "many"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert body["parameter"] == "limit"
    assert body["description"].startswith("invalid parameter 'limit': ")
    assert error_client.get("/test/limit", params={"limit": "5"}).json() == {"limit": 5}
