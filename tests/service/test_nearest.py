"""`GET /analysis/resources/nearest`: the k resources of a type that arrive first at a point.

Checked against a brute force over every row of the type: distances on the ellipsoid with
pyproj, the estimate's formula from the parameters file, sorted by time. (The kind of area
at each end is read from the same population surface: it is an input, not the search.)
"""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from shapely.geometry import LineString

from geodata.importers import import_file
from geodata.population import RASTER_NAME
from geodata.rasters import load_raster
from layers.commander.network import build_network
from layers.commander.travel import DensityLookup, load_travel
from service.app import create_app

URL = "/analysis/resources/nearest"
GEOD = Geod(ellps="WGS84")
TO_GK = Transformer.from_crs(4326, 4545, always_xy=True)
POINTS = {
    "钟楼 city centre": (108.9402, 34.2610),
    "雁塔 south": (108.9480, 34.2050),
    "临潼 east": (109.2140, 34.3670),
    "高陵 north": (109.0880, 34.5350),
    "周至 rural west": (108.2200, 34.1630),
}


@pytest.fixture(scope="module")
def brute(seeded_url):
    """The k fastest of a type by brute force: (id, distance_m, eta_s), fastest first."""
    model = load_travel()
    with psycopg.connect(seeded_url) as conn:
        raster = load_raster(conn, RASTER_NAME)
        everything = conn.execute("SELECT type, id, ST_X(geom), ST_Y(geom) FROM resources "
                                  "ORDER BY id").fetchall()
    density = DensityLookup(raster)

    def kind(lon, lat) -> str:
        return str(model.area_type(density(*TO_GK.transform([lon], [lat])))[0])

    kinds = {rid: kind(x, y) for _, rid, x, y in everything}

    def answer(lon, lat, rtype, k):
        here = model.speeds_kmh[kind(lon, lat)]
        out = []
        for t, rid, x, y in everything:
            if t != rtype:
                continue
            metres = GEOD.inv(lon, lat, x, y)[2]
            speed = min(here, model.speeds_kmh[kinds[rid]])
            out.append((metres * model.detour_factor / (speed / 3.6), metres, rid))
        return [(rid, metres, eta) for eta, metres, rid in sorted(out)[:k]]

    return answer


def get(client, **params):
    return client.get(URL, params=params)


@pytest.mark.parametrize("place", POINTS)
@pytest.mark.parametrize("rtype, k", [("fire_station", 5), ("storage", 10), ("broadcast", 1),
                                      ("rescue_team", 3), ("medical", 50),
                                      ("supply_enterprise", 20)])
def test_nearest_equals_the_brute_force_answer(seeded_client, brute, place, rtype, k):
    lon, lat = POINTS[place]
    answer = get(seeded_client, lon=lon, lat=lat, type=rtype, k=k)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = brute(lon, lat, rtype, k)
    assert [i["id"] for i in body["items"]] == [rid for rid, _, _ in expected]
    assert [i["distance_m"] for i in body["items"]] == pytest.approx(
        [m for _, m, _ in expected], abs=0.06)
    assert [i["eta_s"] for i in body["items"]] == pytest.approx(
        [s for _, _, s in expected], abs=0.06)
    assert all(i["type"] == rtype and i["method"] == "estimate" for i in body["items"])
    assert body["travel"] == load_travel().describe()
    assert body["point"]["lon"] == lon and body["point"]["area_type"] in (
        "core", "urban", "suburban", "rural")


def test_k_larger_than_the_resources_of_a_type_gives_them_all(seeded_client, seeded_sql):
    (count,), = seeded_sql("SELECT count(*) FROM resources WHERE type = 'supply_enterprise'")
    assert count < 50
    body = get(seeded_client, lon=108.94, lat=34.26, type="supply_enterprise", k=50).json()
    assert len(body["items"]) == count
    assert [i["eta_s"] for i in body["items"]] == sorted(i["eta_s"] for i in body["items"])


def test_items_carry_their_attributes(seeded_client):
    item, = get(seeded_client, lon=108.94, lat=34.26, type="fire_station", k=1).json()["items"]
    assert {"id", "code", "name", "type", "district_code", "distance_m", "eta_s", "method",
            "area_type", "lon", "lat", "people", "attributes"} <= set(item)
    assert get(seeded_client, lon=108.94, lat=34.26, type="fire_station").json()["items"][0] == item
    assert len(get(seeded_client, lon=108.94, lat=34.26, type="fire_station").json()["items"]) == 5


@pytest.mark.parametrize("params, parameter, words", [
    ({"lat": 34.26, "type": "medical"}, "lon", "missing: the longitude"),
    ({"lon": 108.94, "type": "medical"}, "lat", "missing: the latitude"),
    ({"lon": "east", "lat": 34.26, "type": "medical"}, "lon", "'east' is not a number"),
    ({"lon": 108.94, "lat": "34,26", "type": "medical"}, "lat", "'34,26' is not a number"),
    ({"lon": "nan", "lat": 34.26, "type": "medical"}, "lon", "'nan' is not a finite number"),
    ({"lon": 108.94, "lat": "inf", "type": "medical"}, "lat", "'inf' is not a finite number"),
    ({"lon": 116.397, "lat": 34.26, "type": "medical"}, "lon", "outside the city (the districts'"),
    ({"lon": 108.94, "lat": 39.909, "type": "medical"}, "lat", "outside the city (the districts'"),
    ({"lon": 34.26, "lat": 108.94, "type": "medical"}, "lat", "108.94 is outside -90 to 90"),
    ({"lon": 108.94, "lat": 34.26}, "type", "missing: one of storage, rescue_team, fire_station"),
    ({"lon": 108.94, "lat": 34.26, "type": "fire_truck"}, "type",
     ("'fire_truck' is not one of storage, rescue_team, fire_station, broadcast, "
     "supply_enterprise, medical")),
    ({"lon": 108.94, "lat": 34.26, "type": "medical,storage"}, "type", "is not one of"),
    ({"lon": 108.94, "lat": 34.26, "type": "medical", "k": 0}, "k", "0 is outside 1 to 50"),
    ({"lon": 108.94, "lat": 34.26, "type": "medical", "k": 51}, "k", "51 is outside 1 to 50"),
    ({"lon": 108.94, "lat": 34.26, "type": "medical", "k": "five"}, "k",
     "'five' is not a whole number"),
    ({"lon": 108.94, "lat": 34.26, "type": "medical", "k": 2.5}, "k",
     "'2.5' is not a whole number"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_parameters_answer_422_naming_the_parameter(seeded_client, params, parameter, words):
    answer = get(seeded_client, **params)
    assert answer.status_code == 422
    body = answer.json()
    assert body["parameter"] == parameter
    assert body["description"].startswith(f"parameter {parameter!r}: ") and words in body["description"]


def test_the_bounds_of_the_city_are_said(seeded_client, seeded_sql):
    (west, south, east, north), = seeded_sql(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(geom) AS e FROM districts) x")
    inside = get(seeded_client, lon=west + 0.01, lat=south + 0.01, type="medical", k=1)
    assert inside.status_code == 200
    text = get(seeded_client, lon=east + 0.05, lat=34.2, type="medical").json()["description"]
    assert f"longitude {west - 0.02:.4f} to {east + 0.02:.4f}" in text
    assert f"latitude {south - 0.02:.4f} to {north + 0.02:.4f}" in text


def test_with_roads_loaded_times_go_over_the_network(scratch_url, settings_for, tmp_path):
    """One road from beside the point to beside the nearest medical point: that one is routed,
    the others (more than 500 m from any road) keep the estimate."""
    lon, lat = POINTS["钟楼 city centre"]
    with TestClient(create_app(settings_for(scratch_url))) as client:
        before = get(client, lon=lon, lat=lat, type="medical", k=3).json()
        first = before["items"][0]
        line = LineString([(lon + 0.0005, lat), (first["lon"], first["lat"] + 0.0005)])
        path = tmp_path / "road.geojson"
        gpd.GeoDataFrame({"code": ["R-1"], "speed_kmh": [36.0]}, geometry=[line],
                         crs=4326).to_file(path)
        with psycopg.connect(scratch_url) as conn, conn.transaction():
            import_file(conn, path, "roads")
            build_network(conn)
        after = get(client, lon=lon, lat=lat, type="medical", k=3).json()
    assert before["travel"]["method"] == "estimate"
    assert after["travel"]["method"] == "network"
    assert after["travel"]["estimate"] == before["travel"]
    assert after["point"]["road"]["code"] == "R-1" and after["point"]["road"]["access_m"] < 60
    routed = {i["id"]: i for i in after["items"] if i["method"] == "network"}
    assert first["id"] in routed
    metres = GEOD.line_length(*zip(*line.coords))
    assert routed[first["id"]]["eta_s"] > metres / 10      # along the road at 36 km/h, at least
