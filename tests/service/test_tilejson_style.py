"""TileJSON of every tiled layer, and the MapLibre style: structure, sources, source layers,
the palette, the planners' layers and their colours; checked by MapLibre's own validator
when the page's npm packages are there."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from layers.style import (
    GRADE_ORDER,
    PALETTE,
    SHELTER_CLASSES,
    SHELTER_GAP,
    SHELTER_PROVISION,
    legend,
)
from service.app import create_app
from service.settings import GradingSettings

VALIDATOR = (Path(__file__).resolve().parents[2] / "service" / "web" / "node_modules" / ".bin"
             / "gl-style-validate")
FIELD_TYPES = {"String", "Number", "Boolean"}
TILED = ["districts", "subdistricts", "risk_units", "monitoring_points", "shelters", "resources",
         "hidden_dangers", "alarms", "shelter_gaps", "candidate_sites"]
PROVISION_SOURCES = {"shelter_provision_districts": 13, "shelter_provision_subdistricts": 204}


def _client(url: str, settings_for, **api) -> TestClient:
    settings = settings_for(url, api=api or None)
    settings.grading = GradingSettings(interval_seconds=0)
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(seeded_url, settings_for):
    with _client(seeded_url, settings_for) as client:
        yield client


@pytest.fixture(scope="module")
def style(client) -> dict:
    answer = client.get("/styles/onemap.json")
    assert answer.status_code == 200
    return answer.json()


def test_every_tiled_layer_is_listed(client):
    listed = [t["id"] for t in client.get("/tiles").json()["tilesets"]]
    assert set(TILED) <= set(listed)
    assert not [name for name in listed if name.startswith("risk_units_")]  # parts have none


@pytest.mark.parametrize("name", TILED)
def test_tilejson(client, seeded_sql, name):
    doc = client.get(f"/tiles/{name}.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"http://testserver/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt"]
    assert doc["description"] and doc["name"] == name
    assert 0 <= doc["minzoom"] <= doc["maxzoom"] <= 22
    west, south, east, north = doc["bounds"]
    extent = seeded_sql(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                        f"(SELECT ST_Extent(geom) AS e FROM {name}) s")[0]
    if extent[0] is not None:  # the layer's own extent, rounded outwards
        assert west <= extent[0] < extent[2] <= east and south <= extent[1] < extent[3] <= north
    lon, lat, zoom = doc["center"]
    assert west <= lon <= east and south <= lat <= north
    assert doc["minzoom"] <= zoom <= doc["maxzoom"]
    layers = doc["vector_layers"]
    assert layers[0]["id"] == name
    for layer in layers:
        assert layer["description"] and layer["fields"]
        assert set(layer["fields"].values()) <= FIELD_TYPES
        assert doc["minzoom"] <= layer["minzoom"] <= layer["maxzoom"] <= doc["maxzoom"]
    if name in ("risk_units", "monitoring_points"):
        cells = layers[1]
        assert cells["id"] == f"{name}_cells"
        assert set(cells["fields"]) == {"red", "orange", "yellow", "blue", "total", "worst_grade"}
        assert cells["maxzoom"] == doc["individual_from"] - 1
        assert layers[0]["minzoom"] == doc["individual_from"] == {"risk_units": 11,
                                                                  "monitoring_points": 13}[name]
    else:
        assert len(layers) == 1 and doc["individual_from"] == 0


def test_tile_properties_are_the_tilejson_fields(client):
    doc = client.get("/tiles/monitoring_points.json").json()
    fields = {layer["id"]: set(layer["fields"]) for layer in doc["vector_layers"]}
    for z, x, y in ((8, 205, 102), (14, 13149, 6530)):
        decoded = mapbox_vector_tile.decode(client.get(f"/tiles/monitoring_points/{z}/{x}/{y}.mvt")
                                            .content)
        for layer, content in decoded.items():
            for feature in content["features"]:
                assert set(feature["properties"]) <= fields[layer]


def test_urls_follow_the_public_base_url(seeded_url, settings_for):
    base = "https://map.example.org/onemap"
    with _client(seeded_url, settings_for, public_base_url=base) as client:
        doc = client.get("/tiles/risk_units.json").json()
        assert doc["tiles"] == [f"{base}/tiles/risk_units/{{z}}/{{x}}/{{y}}.mvt"]
        sources = client.get("/styles/onemap.json").json()["sources"]
        assert sources["risk_units"]["url"] == f"{base}/tiles/risk_units.json"


@pytest.mark.parametrize("path", ["/tiles/no_such_layer.json", "/tiles/risk_units_line.json"])
def test_tilejson_of_a_layer_without_tiles_is_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404 and answer.json()["description"]


def test_the_style_is_maplibre_version_8_without_text(style):
    assert style["version"] == 8
    assert "glyphs" not in style and "sprite" not in style
    ids = [layer["id"] for layer in style["layers"]]
    assert len(ids) == len(set(ids))
    assert style["layers"][0]["type"] == "background"
    assert {layer["type"] for layer in style["layers"]} <= {"background", "fill", "line", "circle"}
    for layer in style["layers"]:
        assert "text-field" not in layer.get("layout", {})


def test_every_style_layer_has_its_source_and_source_layer(client, style):
    vector_layers = {}
    for name, source in style["sources"].items():
        if name in PROVISION_SOURCES:  # the shelter analysis as GeoJSON (see below)
            assert source["type"] == "geojson"
            continue
        assert source["type"] == "vector"
        assert source["url"] == f"http://testserver/tiles/{name}.json"
        doc = client.get(source["url"]).json()  # the TileJSON the style points at
        vector_layers[name] = {layer["id"]: layer for layer in doc["vector_layers"]}
    used = set()
    for layer in style["layers"][1:]:
        assert layer["source"] in style["sources"], layer["id"]
        if layer["source"] in vector_layers:
            assert layer["source-layer"] in vector_layers[layer["source"]], layer["id"]
        used.add(layer["source"])
    assert used == set(style["sources"])  # no source left unused


def test_the_style_draws_what_a_map_needs(style):
    ids = {layer["id"]: layer for layer in style["layers"]}
    for wanted in ("districts-fill", "districts-line", "subdistricts-line", "risk-units-cells",
                   "risk-units-fill", "risk-units-line", "risk-units-point",
                   "monitoring-points-cells", "monitoring-points", "shelters", "resources",
                   "shelter-provision-districts", "shelter-provision-subdistricts",
                   "shelter-gaps-fill", "shelter-gaps-line"):
        assert wanted in ids
    assert ids["subdistricts-line"]["minzoom"] >= 8
    # cells give way to single features at the zoom the TileJSON states
    assert ids["risk-units-cells"]["maxzoom"] == ids["risk-units-fill"]["minzoom"] == 11
    assert ids["monitoring-points-cells"]["maxzoom"] == ids["monitoring-points"]["minzoom"] == 13
    # coloured by grade with the palette
    text = json.dumps(ids["risk-units-fill"]["paint"])
    assert all(entry.colour in text for entry in PALETTE)


def test_one_palette_with_chinese_and_english_names(style, client):
    assert GRADE_ORDER == ("red", "orange", "yellow", "blue")
    assert PALETTE[0].colour.upper() == "#E02020"
    entries = style["metadata"]["onemap:legend"]
    assert entries == legend() == client.get("/styles/legend.json").json()
    assert [e["grade"] for e in entries[:4]] == list(GRADE_ORDER)
    assert [e["level_zh"] for e in entries[:4]] == ["重大风险", "较大风险", "一般风险", "低风险"]
    assert all(e["name_en"] and e["label_zh"] and e["label_en"] for e in entries)


@pytest.mark.skipif(not VALIDATOR.exists() or not shutil.which("node"),
                    reason="MapLibre's gl-style-validate comes with the page's npm packages "
                           "(make web)")
def test_maplibre_validator_accepts_the_style(style, tmp_path):
    path = tmp_path / "onemap.json"
    path.write_text(json.dumps(style), encoding="utf-8")
    result = subprocess.run([str(VALIDATOR), str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shelter_choropleth_reads_the_analysis_and_starts_hidden(client, style):
    ids = {layer["id"]: layer for layer in style["layers"]}
    for name, count in PROVISION_SOURCES.items():
        address = style["sources"][name]["data"]
        assert address.startswith("http://testserver/analysis/shelters?")
        answer = client.get(address)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["features"]) == count
    layers = [layer for layer in style["layers"] if layer.get("source") in PROVISION_SOURCES]
    assert len(layers) == 4
    for layer in layers:
        assert layer["layout"]["visibility"] == "none"  # the page shows it on request
        assert layer["metadata"]["onemap:layer"] == "shelter_provision"
    # districts until zoom 10, sub-districts from there; over the districts, under the rest
    assert (ids["shelter-provision-districts"]["maxzoom"]
            == ids["shelter-provision-subdistricts"]["minzoom"] == 10)
    order = [layer["id"] for layer in style["layers"]]
    assert order.index("districts-line") < order.index("shelter-provision-districts") \
        < order.index("subdistricts-line") < order.index("shelter-gaps-fill") \
        < order.index("shelters")


def test_the_planners_colours_cannot_pass_for_grades(style):
    def rgb(colour):
        return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]

    grades = [rgb(entry.colour) for entry in PALETTE]
    planners = ([b.colour for b in SHELTER_PROVISION] + [c.colour for c in SHELTER_CLASSES]
                + [SHELTER_GAP])
    for colour in planners:
        distance = min(sum(abs(a - b) for a, b in zip(rgb(colour), g)) for g in grades)
        assert distance > 90, colour
    # pass and fail: three shades each, in the choropleth's expression
    text = json.dumps(style["layers"])
    assert [b.meets for b in SHELTER_PROVISION].count(False) == 3
    assert all(b.colour in text for b in SHELTER_PROVISION)
    assert "meets_standard" in text and "standard_m2" in text


def test_the_planners_legends_are_in_the_metadata(style):
    legends = style["metadata"]["onemap:legends"]
    assert [c["value"] for c in legends["shelters"]] == ["emergency", "fixed", "central"]
    shelters = next(layer for layer in style["layers"] if layer["id"] == "shelters")
    assert "class" in json.dumps(shelters["paint"]["circle-color"])
    assert "effective_area_m2" in json.dumps(shelters["paint"]["circle-radius"])
    provision = legends["shelter_provision"]
    assert provision["label_zh"] and provision["label_en"] and len(provision["bins"]) == 6
    gaps = next(layer for layer in style["layers"] if layer["id"] == "shelter-gaps-fill")
    assert gaps["paint"]["fill-pattern"] in style["metadata"]["onemap:patterns"]
    assert gaps["layout"]["visibility"] == "none"
