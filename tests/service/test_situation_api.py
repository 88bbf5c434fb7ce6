"""`GET /analysis/situation`: the hand-made city through HTTP (figures, shelters' places
left against the shelter analysis, the nearest help against `/analysis/resources/nearest`),
the printable brief, and refusals of bad coordinates and radii."""

from __future__ import annotations

import re

import psycopg
import pytest
from fastapi.testclient import TestClient
from situation_city import OUTSIDE_DISTRICTS, C, within

from layers.shelters.analysis import analyse, capacities
from layers.shelters.inputs import load_shelters, load_surface
from layers.shelters.standards import load_standards
from service.app import create_app

LON, LAT = C


@pytest.fixture(scope="module")
def city(admin, base_url):
    from situation_city import city_database

    with city_database(admin, base_url) as url:
        yield url


@pytest.fixture(scope="module")
def client(city, settings_for):
    with TestClient(create_app(settings_for(city))) as test_client:
        yield test_client


def _get(client, **query):
    return client.get("/analysis/situation", params=query)


def test_the_answer_has_the_figures_of_the_circle(client):
    answer = _get(client, lon=LON, lat=LAT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    expected = within(1000)
    assert body["radius_m"] == 1000 and body["district"]["name"] == "甲区"
    assert body["risk_units"]["total"] == len(expected["units"])
    assert [u["code"] for u in body["risk_units"]["red"]["items"]] == ["U-RED-300", "U-RED-999"]
    alarms = body["monitoring_points"]["open_alarms"]
    assert alarms["count"] == 3 and alarms["by_state"] == {"open": 2, "acknowledged": 1}
    assert alarms["items"][0]["point_code"] == "P-100" and alarms["items"][0]["grade"] == "red"
    assert body["hidden_dangers"]["major"]["items"][0]["code"] == "D-MAJOR-200"
    assert body["hidden_dangers"]["major"]["items"][0]["overdue"] is True
    assert [r["to_m"] for r in body["population"]["rings"]] == [500, 1000]
    assert body["population"]["total"] == body["population"]["rings"][-1]["cumulative"] > 0
    assert set(body["nearest"]) == {"fire_station", "rescue_team", "medical", "storage",
                                    "broadcast", "supply_enterprise"}


def test_places_left_are_capacity_less_the_residents_the_shelter_analysis_counts(client, city):
    body = _get(client, lon=LON, lat=LAT, radius_m=2000).json()
    standards = load_standards()
    with psycopg.connect(city) as conn:
        surface, shelters = load_surface(conn), load_shelters(conn)
    report = analyse(surface, shelters, standards)
    capacity, _ = capacities(shelters, standards)
    by_id = {int(i): (c, load) for i, c, load in zip(shelters.id, capacity,
                                                       report.coverage.together.load)}
    items = body["shelters"]["items"]
    assert {s["code"] for s in items} == within(2000)["shelters"]
    for s in items:
        cap, load = by_id[s["id"]]
        assert s["capacity"] == round(cap) and s["load"] == round(load)
        assert s["remaining"] == round(max(0.0, cap - load))
    assert body["shelters"]["remaining"] == round(sum(max(0.0, by_id[s["id"]][0]
                                                          - by_id[s["id"]][1]) for s in items))
    # the emergency shelter of 100 m² (100 places) has more residents within 500 m than that
    small = next(s for s in items if s["code"] == "S-1200")
    assert (small["capacity"], small["remaining"]) == (100, 0)


def test_the_nearest_help_is_the_nearest_endpoints(client):
    body = _get(client, lon=LON, lat=LAT).json()
    for rtype, helpers in body["nearest"].items():
        other = client.get("/analysis/resources/nearest",
                           params={"lon": LON, "lat": LAT, "type": rtype, "k": len(helpers)})
        assert other.status_code == 200, other.text
        assert [h["id"] for h in other.json()["items"]] == [h["id"] for h in helpers]
    assert [h["code"] for h in body["nearest"]["fire_station"]] == ["F-700", "F-2500", "F-4500"]


@pytest.mark.parametrize(("query", "parameter", "words"), [
    ({"lat": LAT}, "lon", "lon"),
    ({"lon": "abc", "lat": LAT}, "lon", "not a number"),
    ({"lon": LON, "lat": "NaN"}, "lat", "finite"),
    ({"lon": "inf", "lat": LAT}, "lon", "finite"),
    ({"lon": LON, "lat": 95}, "lat", "90"),
    ({"lon": 120.0, "lat": LAT}, "lon", "outside the city"),
    ({"lon": OUTSIDE_DISTRICTS[0], "lat": OUTSIDE_DISTRICTS[1]}, "lon,lat", "no district"),
    ({"lon": LON, "lat": LAT, "radius_m": 0}, "radius_m", "above 0"),
    ({"lon": LON, "lat": LAT, "radius_m": -50}, "radius_m", "above 0"),
    ({"lon": LON, "lat": LAT, "radius_m": 5000.5}, "radius_m", "5000 m"),
    ({"lon": LON, "lat": LAT, "radius_m": "far"}, "radius_m", "not a number"),
    ({"lon": LON, "lat": LAT, "radius_m": "nan"}, "radius_m", "finite"),
    ({"lon": LON, "lat": LAT, "format": "pdf"}, "format", "json, html"),
])
def test_bad_parameters_answer_422_naming_them(client, query, parameter, words):
    answer = client.get("/analysis/situation", params=query)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["parameter"] == parameter and words in body["description"], body


def test_the_cap_is_stated_with_where_it_is_set(client):
    body = _get(client, lon=LON, lat=LAT, radius_m=8000).json()
    assert "the cap is 5000 m" in body["description"]
    assert "layers/rules/situation.toml" in body["description"]
    assert _get(client, lon=LON, lat=LAT, radius_m=5000).status_code == 200


def test_the_printable_brief_has_the_map_and_the_figures(client):
    answer = _get(client, lon=LON, lat=LAT, radius_m=2000, format="html")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    page = answer.text
    body = _get(client, lon=LON, lat=LAT, radius_m=2000).json()
    svg = re.search(r"<svg class=\"situation-map\".*?</svg>", page, re.DOTALL)
    assert svg, "an inline SVG map"
    drawn = svg.group(0)
    assert drawn.count("<circle cx=\"0\" cy=\"0\" r=\"") >= 3  # the rings and the circle
    assert 'r="2000"' in drawn and 'r="1000"' in drawn and 'r="500"' in drawn
    assert "N 北" in drawn and "1 km" in drawn  # north arrow, scale bar
    assert drawn.count("<rect") >= 3 + len(body["shelters"]["items"])  # shelters drawn
    assert "#E02020" in drawn  # red units in the palette's red
    for words in ("态势简报", "Situation", "甲区", "U-RED-300", "P-100", "D-MAJOR-200",
                  "避难场所S-150", "资源F-700", f"{body['population']['total']:,}",
                  "@page", "A4"):
        assert words in page, words
    assert "<script" not in page and "src=" not in page and "http" not in page
    assert "@import" not in page and "url(" not in page


def test_the_brief_reports_an_empty_circle_plainly(client):
    lon, lat = OUTSIDE_DISTRICTS
    # 11.9 km east of the west edge: inside district B, far from everything
    answer = _get(client, lon=lon - 0.006, lat=lat, radius_m=300, format="html")
    assert answer.status_code == 200, answer.text
    assert "无" in answer.text and "none" in answer.text


def test_without_population_surface_or_data_the_answer_says_so(base_client):
    # the base database: Xi'an's districts, nothing else (no population surface)
    answer = base_client.get("/analysis/situation", params={"lon": 108.94, "lat": 34.26})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["district"]["code"] == "610103" and body["population"] is None
    assert body["risk_units"]["total"] == 0 and body["shelters"]["count"] == 0
    assert body["shelters"]["remaining"] is None
    assert all(items == [] for items in body["nearest"].values())
    page = base_client.get("/analysis/situation",
                           params={"lon": 108.94, "lat": 34.26, "format": "html"})
    assert page.status_code == 200 and "no population surface" in page.text
