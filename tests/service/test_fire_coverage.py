"""`GET /analysis/fire-coverage` and `onemap fire-coverage`: the hand-made city of
tests/fire_city.py (figures worked out by hand in its docstring: A 66,400 of 87,800 residents
within 5 minutes and 5 km² of built-up land outside the reach, B 6,800 of 12,800 and 1 km²),
then the demonstration city, the formats, refusals, and the `fire_coverage` layer in the
collections and the tiles.
"""

from __future__ import annotations

import csv
import io

import mapbox_vector_tile
import psycopg
import pytest
from fastapi.testclient import TestClient
from fire_city import MODEL, RULES, make_city
from typer.testing import CliRunner

from geodata.db import ENV_URL
from layers.commander.fire_layer import refresh_if_stale
from layers.commander.fire_style import OUTSIDE, REACHED
from layers.style import PALETTE
from service.app import create_app
from service.cli import app as cli
from service.commander import CommanderContext
from service.routers.fire import FireAnalysis
from service.tiles.grid import tile_of


@pytest.fixture
def small_city(scratch_base_url, settings_for):
    make_city(scratch_base_url)
    app = create_app(settings_for(scratch_base_url))
    with TestClient(app) as client:
        # the hand-worked parameters, whatever travel.toml says
        backend = app.state.backend
        context = CommanderContext(backend.conninfo, backend.connect_kwargs, travel=MODEL)
        app.state.fire_analysis = FireAnalysis(context, RULES)
        yield client


def test_the_hand_made_city_figures(small_city):
    answer = small_city.get("/analysis/fire-coverage")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    a, b = body["districts"]
    assert (a["district_code"], a["name"], a["stations"]) == ("610102", "甲区", 1)
    assert (a["residents"], a["covered_residents"], a["share_covered"]) == (
        87_800, 66_400, round(66_400 / 87_800, 4))
    assert (a["built_up_km2"], a["built_up_outside_km2"], a["built_up_outside_residents"]) == (
        11.0, 5.0, 20_000)
    assert (b["residents"], b["covered_residents"], b["built_up_outside_km2"]) == (
        12_800, 6_800, 1.0)
    assert (body["city"]["residents"], body["city"]["covered_residents"]) == (100_600, 73_200)
    assert [(s["code"], s["reach_km2"], s["area_type"]) for s in body["stations"]] == [
        ("S1", 5.0, "core"), ("S2", 13.0, "rural")]
    params = body["parameters"]
    assert (params["response_s"], params["turnout_s"], params["standard"]) == (
        300, 60, "GB 51080-2015 §4.1.3")
    assert params["travel"]["method"] == "estimate" and params["built_up_per_km2"] == 1000

    one = small_city.get("/analysis/fire-coverage?district=610103").json()
    assert [d["district_code"] for d in one["districts"]] == ["610103"]
    assert [s["code"] for s in one["stations"]] == ["S2"]
    assert one["city"] == body["city"]


def test_the_hand_made_city_as_csv_and_geojson(small_city):
    answer = small_city.get("/analysis/fire-coverage?format=csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "fire_coverage.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["level"], r["district_code"], r["covered_residents"]) for r in rows] == [
        ("district", "610102", "66400"), ("district", "610103", "6800"), ("city", "", "73200")]

    geo = small_city.get("/analysis/fire-coverage?format=geojson")
    assert geo.headers["content-type"] == "application/geo+json"
    features = geo.json()["features"]
    assert [f["id"] for f in features] == ["610102", "610103"]
    a, b = (f["properties"] for f in features)
    assert (a["kind"], a["residents_in_polygon"], a["area_km2"], a["covered_residents"]) == (
        "outside", 20_000, 5.0, 66_400)
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    assert len(features[0]["geometry"]["coordinates"]) == 5  # five separate squares
    assert (b["residents_in_polygon"], b["area_km2"]) == (6_000, 1.0)
    only_b = small_city.get("/analysis/fire-coverage?format=geojson&district=610103").json()
    assert [f["id"] for f in only_b["features"]] == ["610103"]


# -- the demonstration city -------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(seeded_client):
    answer = seeded_client.get("/analysis/fire-coverage")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_demonstration_district_has_figures(demo, seeded_sql):
    census = dict(seeded_sql("SELECT code, population FROM districts"))
    districts = {d["district_code"]: d for d in demo["districts"]}
    assert set(districts) == set(census)
    for code, d in districts.items():
        assert d["residents"] == census[code]
        assert 0 <= d["covered_residents"] <= d["residents"]
        assert 0 <= d["share_covered"] <= 1
        assert 0 <= d["built_up_outside_km2"] <= d["built_up_km2"]
    city = demo["city"]
    assert city["covered_residents"] == sum(d["covered_residents"] for d in districts.values())
    assert city["stations"] == seeded_sql(
        "SELECT count(*) FROM resources WHERE type = 'fire_station'")[0][0] == len(demo["stations"])
    assert demo["parameters"]["standard"] == "GB 51080-2015 §4.1.3"
    assert demo["parameters"]["driving_s"] == 240
    assert demo["population_surface"]["source"] == "model"
    for station in demo["stations"]:
        assert station["area_limit_km2"] in (7.0, 15.0)
        assert station["over_area_limit"] == (station["first_due_km2"] > station["area_limit_km2"])


def test_one_demonstration_district_and_the_formats(seeded_client, demo):
    one = seeded_client.get("/analysis/fire-coverage?district=610113").json()
    [yanta] = one["districts"]
    assert yanta == next(d for d in demo["districts"] if d["district_code"] == "610113")
    assert one["stations"] and all(s["district_code"] == "610113" for s in one["stations"])

    rows = list(csv.DictReader(io.StringIO(seeded_client.get(
        "/analysis/fire-coverage?format=csv").content.decode("utf-8-sig"))))
    assert len(rows) == 14 and rows[-1]["level"] == "city"
    assert {"share_covered", "built_up_outside_km2", "stations"} <= set(rows[0])

    geo = seeded_client.get("/analysis/fire-coverage?format=geojson").json()
    assert geo["type"] == "FeatureCollection" and geo["features"]
    for feature in geo["features"]:
        p = feature["properties"]
        assert p["kind"] == "outside" and p["residents_in_polygon"] == p[
            "built_up_outside_residents"]
        assert feature["geometry"]["type"] == "MultiPolygon"
        lon, lat = feature["geometry"]["coordinates"][0][0][0]
        assert 107.5 < lon < 110 and 33.5 < lat < 35


@pytest.mark.parametrize("query, status, words", [
    ("format=xlsx", 422, "'format'"),
    ("district=abc", 422, "'district': 'abc' is not a 6-digit district code"),
    ("district=61011", 422, "'district'"),
    ("district=999999", 404, "no district with code '999999'"),
    ("district=999999&format=csv", 404, "no district"),
])
def test_bad_requests(seeded_client, query, status, words):
    answer = seeded_client.get(f"/analysis/fire-coverage?{query}")
    assert answer.status_code == status, answer.text
    assert words in answer.json()["description"]


def test_without_a_population_surface_the_answer_says_what_to_do(scratch_url, settings_for):
    with psycopg.connect(scratch_url) as conn:
        conn.execute("DELETE FROM rasters WHERE name = 'population'")
        conn.execute("SELECT bump_layer_versions('population')")
        conn.commit()
    with TestClient(create_app(settings_for(scratch_url))) as client:
        answer = client.get("/analysis/fire-coverage")
    assert answer.status_code == 503
    assert "onemap import" in answer.json()["description"]


# -- the layer -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(module_scratch_url, settings_for):
    with psycopg.connect(module_scratch_url) as conn:
        rows, _ = refresh_if_stale(conn)
        counts = dict(conn.execute("SELECT kind, count(*) FROM fire_coverage GROUP BY kind"
                                   ).fetchall())
    assert sum(counts.values()) == rows
    with TestClient(create_app(settings_for(module_scratch_url))) as client:
        yield client, counts


def test_the_layer_is_a_collection(built, demo):
    client, counts = built
    assert "fire_coverage" in [c["id"] for c in client.get("/collections").json()["collections"]]
    items = client.get("/collections/fire_coverage/items?limit=1000").json()
    assert items["numberMatched"] == sum(counts.values())
    assert counts["union"] == 1 and counts["station"] == len(demo["stations"])
    outside = client.get("/collections/fire_coverage/items?kind=outside&limit=100").json()
    assert len(outside["features"]) == counts["outside"]
    assert sum(f["properties"]["residents"] for f in outside["features"]) == \
        demo["city"]["built_up_outside_residents"]
    [union] = client.get("/collections/fire_coverage/items?kind=union").json()["features"]
    assert union["properties"]["residents"] == demo["city"]["covered_residents"]
    assert union["properties"]["method"] == "estimate"


def test_the_layer_has_tiles_that_decode(built):
    client, _ = built
    doc = client.get("/tiles/fire_coverage.json").json()
    assert {"kind", "residents", "district_code"} <= set(doc["vector_layers"][0]["fields"])
    tile = tile_of(108.94, 34.26, 10)  # the city centre (钟楼)
    answer = client.get(f"/tiles/fire_coverage/10/{tile.x}/{tile.y}.mvt")
    assert answer.status_code == 200, answer.text
    features = mapbox_vector_tile.decode(answer.content)["fire_coverage"]["features"]
    kinds = {f["properties"]["kind"] for f in features}
    assert {"union", "station"} <= kinds
    style = client.get("/styles/onemap.json").json()
    drawn = [layer for layer in style["layers"] if layer.get("source") == "fire_coverage"]
    assert {layer["id"] for layer in drawn} >= {"fire-coverage-union-fill",
                                               "fire-coverage-outside-fill"}
    assert all(layer["layout"]["visibility"] == "none" for layer in drawn)


def test_the_command_prints_every_district(built, module_scratch_url):
    result = CliRunner().invoke(cli, ["fire-coverage", "--stations"],
                                env={ENV_URL: module_scratch_url, "COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    for words in ("新城区", "周至县", "全市", "GB 51080-2015 §4.1.3", "first-due"):
        assert words in result.output
    wrong = CliRunner().invoke(cli, ["fire-coverage", "999999"],
                               env={ENV_URL: module_scratch_url})
    assert wrong.exit_code == 2 and "no district with code '999999'" in wrong.output


def test_the_fire_colours_cannot_pass_for_grades():
    def rgb(colour):
        return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]

    for colour in (REACHED, OUTSIDE):
        distance = min(sum(abs(a - b) for a, b in zip(rgb(colour), rgb(g.colour)))
                       for g in PALETTE)
        assert distance > 90, colour
