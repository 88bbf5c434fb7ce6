"""/collections and /collections/{layer} over HTTP, and the error answers.

The catalogue itself (declarations, what a database publishes) is tested in
test_catalogue; the area-risk collections' features in test_area_risk_layers.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from fastapi import Query
from fastapi.testclient import TestClient
from psycopg import sql

from geodata.errors import CRSNameError, DatabaseSetupError, ImportRejected
from layers.catalogue import GEOMETRY_DIMENSIONS, LAYERS, with_geometry_parts
from service.app import create_app
from service.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
LAYER = {layer.name: layer for layer in with_geometry_parts(LAYERS)}


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
        assert collection["title"] == LAYER[name].title
        href = f"http://testserver/collections/{name}"
        assert [(link["rel"], link["href"], link["type"]) for link in collection["links"]] == [
            ("self", href, "application/json"),
            ("items", f"{href}/items", "application/geo+json"),
            ("describedby", f"{href}/schema", "application/schema+json"),
        ]


def test_collections_state_their_item_count_and_extent_when_not_empty(base_client, published):
    body = base_client.get("/collections").json()

    stated = {c["id"]: (c["itemCount"], "extent" in c) for c in body["collections"]}
    # the base database holds the districts and nothing else
    assert stated == {name: (13, True) if name == "districts" else (0, False)
                      for name in published}


def test_districts_extent_is_around_xian(base_client):
    body = base_client.get("/collections").json()
    districts = next(c for c in body["collections"] if c["id"] == "districts")

    assert districts["title"] == "区县"
    assert districts["extent"]["spatial"]["crs"] == CRS84
    [[west, south, east, north]] = districts["extent"]["spatial"]["bbox"]
    assert 107.6 <= west < 108.0 and 109.5 < east <= 109.9
    assert 33.6 <= south < 34.0 and 34.5 < north <= 34.8


@pytest.mark.parametrize("name", ["districts", "risk_units_line", "area_risk_grid"])
def test_one_collection_is_the_same_document_as_in_the_list(seeded_client, name):
    response = seeded_client.get(f"/collections/{name}")

    assert response.status_code == 200
    listed = seeded_client.get("/collections").json()["collections"]
    assert response.json() == next(c for c in listed if c["id"] == name)


def _sql_count(seeded_sql, name: str) -> int:
    """Rows of a collection counted in SQL: its table, for a part only its kind."""
    layer = LAYER[name]
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(layer.table))
    if layer.geometry_kind is None:
        return seeded_sql(query)[0][0]
    query += sql.SQL(" WHERE ST_Dimension({}) = %s").format(sql.Identifier(layer.geometry_column))
    return seeded_sql(query, [GEOMETRY_DIMENSIONS[layer.geometry_kind]])[0][0]


def test_item_counts_are_those_of_sql(seeded_client, seeded_sql, published):
    listed = seeded_client.get("/collections").json()["collections"]

    counts = {c["id"]: c["itemCount"] for c in listed}
    assert counts == {name: _sql_count(seeded_sql, name) for name in published}
    parts = ["risk_units_point", "risk_units_line", "risk_units_polygon"]
    assert all(counts[part] > 0 for part in parts)
    assert sum(counts[part] for part in parts) == counts["risk_units"]
    assert counts["monitoring_points"] == 22067 and counts["area_risk_districts"] == 13


def test_each_collection_links_the_schema_of_its_features(seeded_client, published):
    for collection in seeded_client.get("/collections").json()["collections"]:
        [href] = [link["href"] for link in collection["links"] if link["rel"] == "describedby"]
        response = seeded_client.get(href)
        assert response.status_code == 200, collection["id"]
        assert response.headers["content-type"] == "application/schema+json"
        schema = response.json()
        assert schema["$id"] == href
        assert list(schema["properties"]["properties"]["properties"]) == [
            a.name for a in LAYER[collection["id"]].attributes]


def test_unknown_collection_answers_404_naming_the_valid_layers(base_client, published):
    response = base_client.get("/collections/nope")

    assert response.status_code == 404
    assert response.json() == {"code": "NotFound", "description":
                               f"unknown layer 'nope'; layers: {', '.join(published)}"}


def test_links_use_the_public_base_url(base_url, settings_for):
    app = create_app(settings_for(base_url, api={"public_base_url": "https://map.example/onemap/"}))
    with TestClient(app) as client:
        body = client.get("/collections/shelters").json()
    assert [link["href"] for link in body["links"]] == [
        "https://map.example/onemap/collections/shelters",
        "https://map.example/onemap/collections/shelters/items",
        "https://map.example/onemap/collections/shelters/schema"]


def test_cors_origins_are_allowed_when_configured(base_url, settings_for):
    app = create_app(settings_for(base_url, api={"cors_origins": ["https://map.example"]}))
    with TestClient(app) as client:
        allowed = client.get("/collections/nope", headers={"Origin": "https://map.example"})
        other = client.get("/collections", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 404  # error answers carry the header too
    assert allowed.headers["access-control-allow-origin"] == "https://map.example"
    assert "access-control-allow-origin" not in other.headers


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
