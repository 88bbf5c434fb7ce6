"""The landing page (JSON and HTML), /conformance, /api and /api.html."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.features.negotiation import preferred
from service.features.openapi import _nullable_to_30

OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture(scope="module")
def client(base_url, settings_for):
    app = create_app(settings_for(base_url, api={"max_limit": 5000, "default_limit": 25}))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("headers, params", [
    ({"Accept": "application/json"}, {}),                       # QGIS, GDAL
    ({"Accept": "application/geo+json, application/json;q=0.9"}, {}),
    ({"Accept": BROWSER}, {"f": "json"}),
])
def test_landing_page_as_json(client, headers, params):
    response = client.get("/", headers=headers, params=params)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    body = response.json()
    assert body["title"] and body["description"]
    links = {each["rel"]: (each["href"], each["type"]) for each in body["links"]}
    assert links["service-desc"] == ("http://testserver/api", OPENAPI)  # QGIS 3.22 needs it
    assert links["service-doc"] == ("http://testserver/api.html", "text/html")
    assert links["conformance"] == ("http://testserver/conformance", "application/json")
    assert links["data"] == ("http://testserver/collections", "application/json")
    assert links["self"][1] == "application/json"


@pytest.mark.parametrize("headers, params", [
    ({"Accept": BROWSER}, {"f": "html"}), ({"Accept": "application/json"}, {"f": "html"}),
])
def test_landing_page_as_html_lists_the_collections(client, published, headers, params):
    response = client.get("/", headers=headers, params=params)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    for name in published:
        assert f'href="http://testserver/collections/{name}"' in page
    assert "区县" in page and "<script" not in page
    assert not re.search(r'(src|href)="https?://(?!testserver)', page), "nothing from elsewhere"


@pytest.mark.parametrize("headers", [{"Accept": BROWSER}, {"Accept": "*/*"}, {}])
def test_browsers_get_the_map_page(client, headers):
    response = client.get("/", headers=headers)
    assert response.status_code == 200 and response.headers["vary"] == "Accept"
    assert 'src="web/app.js"' in response.text
    assert not re.search(r'(src|href)="https?://', response.text), "nothing from elsewhere"


def test_a_bad_format_is_refused(client):
    response = client.get("/?f=xml")
    assert response.status_code == 400 and response.json()["parameter"] == "f"
    assert client.get("/conformance?f=html").status_code == 400


def test_conformance_lists_the_part_1_classes(client):
    response = client.get("/conformance")
    assert response.status_code == 200
    assert response.json() == {"conformsTo": [
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    ]}


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict, ref: str):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_api_is_an_openapi_30_document(client, published):
    response = client.get("/api")

    assert response.status_code == 200
    assert response.headers["content-type"] == OPENAPI
    document = response.json()
    assert re.fullmatch(r"3\.0\.\d", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"] == [{"url": "http://testserver"}]
    paths = document["paths"]
    for path in ("/", "/conformance", "/api", "/collections", "/collections/{layer}",
                 "/collections/{layer}/items", "/collections/{layer}/items/{feature_id}",
                 "/stats/grades"):
        assert "get" in paths[path], path
    for name in published:
        assert f"/collections/{name}/items" in paths
    # QGIS takes its page size from here
    limit = document["components"]["parameters"]["limit"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 5000, "default": 25}
    for ref in set(_refs(document)):
        assert _resolve(document, ref), ref
    text = response.text
    assert '"422"' not in text and '{"type":"null"}' not in text.replace(" ", "")


def test_api_lists_each_collections_filters_with_their_values(client):
    paths = client.get("/api").json()["paths"]
    units = {p["name"]: p for p in paths["/collections/risk_units/items"]["get"]["parameters"]
             if "name" in p}
    assert units["grade"]["schema"] == {"type": "string",
                                        "enum": ["red", "orange", "yellow", "blue"]}
    assert units["district"]["schema"]["enum"][0] == "610102"
    assert (units["grade"]["style"], units["grade"]["explode"]) == ("form", False)
    shelters = paths["/collections/shelters/items"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/datetime"} not in shelters  # no time attribute


def test_api_page_and_no_cdn_docs(client):
    page = client.get("/api.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/collections/{layer}/items" in page.text and "<script" not in page.text
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("accept, expected", [
    ("application/json", "application/json"),
    ("text/html", "text/html"),
    (BROWSER, "text/html"),
    ("*/*", "text/html"),
    (None, "text/html"),
    ("text/html;q=0.5, application/json", "application/json"),
    ("application/*", "application/json"),
    ("text/*;q=0.9, application/json;q=0.1", "text/html"),
    ("application/json;q=oops, text/html;q=0.2", "text/html"),
])
def test_preferred_media_type(accept, expected):
    assert preferred(accept, ("text/html", "application/json")) == expected


def test_nullable_unions_become_openapi_30():
    schema = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
              "title": "Expires"}
    assert _nullable_to_30(schema) == {"type": "string", "format": "date-time",
                                       "title": "Expires", "nullable": True}
