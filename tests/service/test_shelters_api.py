"""`/analysis/shelters`: a small hand-made city whose figures are worked out by hand below,
then the demonstration data (some districts fail), formats, refusals and the gaps layer.

The hand-made city, in EPSG:4545 metres from (X0, Y0), 100 m cells, two rows (north first):

    district A (610102): x 0-400            district B (610103): x 400-800
      sub-district A1: x 0-200, A2: x 200-400   sub-district B1: all of B
    residents  row 0 (y 100-200):  100 100   0  50 |  10   0   0  20
               row 1 (y   0-100):  100 200   0  50 |  10   0   0  20
    shelters   S1 emergency 300 m² at (50, 40)   in A1: 300 places, 500 m
               S2 fixed     200 m² at (340, 150) in A2: 100 places, 2 km
               S3 emergency  30 m² at (750, 50)  in B1:  30 places, 500 m

Round 1 of the assignment (each cell asks its nearest shelter with room, each shelter
serves the nearest first): S1 serves (0,1) 100 then (1,1) 200 and is full; S2 serves (3,0)
50 and (3,1) 50 and is full; S3 serves (7,1) 20 and 10 of (7,0), full. Nobody is left with
room: 400 of A's 600 residents have a place (A1 300 of 500, A2 100 of 100), 30 of B's 60.
"""

import csv
import io

import numpy as np
import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio.transform import from_origin

from geodata.rasters import StoredRaster, store_raster
from layers.shelters.gaps import refresh_if_stale
from service.app import create_app

X0, Y0 = 580_000.0, 3_790_000.0
TO_WGS = Transformer.from_crs(4545, 4326, always_xy=True)
RESIDENTS = np.array([[100, 100, 0, 50, 10, 0, 0, 20],
                      [100, 200, 0, 50, 10, 0, 0, 20]], dtype=np.float32)


def _box(x0, x1, y0=0.0, y1=200.0):
    poly = shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)
    return shapely.MultiPolygon([shapely.transform(poly, lambda c: np.column_stack(
        TO_WGS.transform(c[:, 0], c[:, 1])))])


def _point(x, y):
    return shapely.Point(*TO_WGS.transform(X0 + x, Y0 + y))


@pytest.fixture
def small_city(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn:
        conn.execute("DELETE FROM districts")
        for code, name, x0, x1, people in (("610102", "甲区", 0, 400, 600),
                                           ("610103", "乙区", 400, 800, 60)):
            conn.execute("INSERT INTO districts (code, name, name_en, population, source, geom) "
                         "VALUES (%s, %s, %s, %s, 'test', ST_GeomFromText(%s, 4326))",
                         [code, name, f"District {name}", people, _box(x0, x1).wkt])
        for code, district, x0, x1 in (("610102001", "610102", 0, 200),
                                       ("610102002", "610102", 200, 400),
                                       ("610103001", "610103", 400, 800)):
            conn.execute("INSERT INTO subdistricts (code, name, district_code, geom) "
                         "VALUES (%s, %s, %s, ST_GeomFromText(%s, 4326))",
                         [code, f"街道{code[-3:]}", district, _box(x0, x1).wkt])
        for code, cls, area, x, y, district in (("S1", "emergency", 300, 50, 40, "610102"),
                                                 ("S2", "fixed", 200, 340, 150, "610102"),
                                                 ("S3", "emergency", 30, 750, 50, "610103")):
            conn.execute("INSERT INTO shelters (code, name, class, effective_area_m2, "
                         "district_code, geom) VALUES (%s, %s, %s, %s, %s, "
                         "ST_GeomFromText(%s, 4326))",
                         [code, f"避难场所{code}", cls, area, district, _point(x, y).wkt])
        store_raster(conn, StoredRaster("population", RESIDENTS,
                                        from_origin(X0, Y0 + 200, 100, 100), "EPSG:4545",
                                        100.0, 200.0, {"source": "test"}))
        conn.commit()
    return scratch_base_url


def _client(url, settings_for):
    return TestClient(create_app(settings_for(url)))


def test_the_hand_made_city_figures(small_city, settings_for):
    with _client(small_city, settings_for) as client:
        answer = client.get("/analysis/shelters")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        a, b = body["districts"]
        detail = client.get("/analysis/shelters/610102").json()

    assert (a["district_code"], a["name"], b["district_code"]) == ("610102", "甲区", "610103")
    assert a["population"] == 600 and b["population"] == 60
    assert a["shelter_count"] == 2 and a["shelters_by_class"] == {
        "emergency": 1, "fixed": 1, "central": 0}
    assert (a["shelter_area_m2"], a["area_per_resident_m2"]) == (500.0, round(500 / 600, 4))
    assert (a["standard_m2"], a["meets_standard"], a["deficit_m2"]) == (1.5, False, 400.0)
    assert (b["shelter_area_m2"], b["area_per_resident_m2"], b["deficit_m2"]) == (30.0, 0.5, 60.0)
    assert a["covered_population"] == 400 and a["uncovered_population"] == 200
    assert a["coverage"] == {"all": round(400 / 600, 4), "emergency": 0.5,
                             "fixed": round(100 / 600, 4), "central": 0.0}
    assert b["coverage"] == {"all": 0.5, "emergency": 0.5, "fixed": 0.0, "central": 0.0}
    city = body["city"]
    assert (city["population"], city["shelter_area_m2"], city["deficit_m2"]) == (660, 530.0, 460.0)
    assert city["covered_population"] == 430 and city["coverage"]["all"] == round(430 / 660, 4)
    assert body["standards"]["per_resident_m2"] == 1.5
    assert "GB 50413-2007" in body["standards"]["classes"]["emergency"]["source"]

    a1, a2 = detail["subdistricts"]
    assert detail["district"]["code"] == "610102"
    assert (a1["code"], a1["population"], a1["shelter_area_m2"]) == ("610102001", 500, 300.0)
    assert (a1["area_per_resident_m2"], a1["meets_standard"], a1["deficit_m2"]) == (0.6, False, 450.0)
    assert (a2["population"], a2["area_per_resident_m2"], a2["meets_standard"]) == (100, 2.0, True)
    assert a1["coverage"]["all"] == 0.6 and a2["coverage"]["all"] == 1.0
    assert a1["coverage"]["emergency"] == 0.6 and a2["coverage"]["emergency"] == 0.0


def test_the_hand_made_city_gaps_and_proposals(small_city, settings_for):
    with psycopg.connect(small_city) as conn:
        assert refresh_if_stale(conn) == 2
        gaps = conn.execute("SELECT district_code, subdistrict_code, residents FROM shelter_gaps "
                            "ORDER BY district_code").fetchall()
        assert refresh_if_stale(conn) is None  # nothing changed since
        # a site 30 m from the 100 unsheltered at (150, 150) and 70 m from those at (50, 150)
        conn.execute("INSERT INTO candidate_sites (code, name, site_type, district_code, geom) "
                     "VALUES ('P', '公园P', 'park', '610102', ST_GeomFromText(%s, 4326)), "
                     "('Q', '远处Q', 'square', '610102', ST_GeomFromText(%s, 4326))",
                     [_point(120, 150).wkt, _point(5000, 5000).wkt])
        conn.commit()
    # the unsheltered: (0,0) 100 and (1,0) 100 in A1; 10 + 10 + 10 in B1; none left in A2
    assert gaps == [("610102", "610102001", 200), ("610103", "610103001", 30)]

    with _client(small_city, settings_for) as client:
        answer = client.get("/analysis/shelters/610102/candidates?n=3&area_m2=150")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        tiles = client.get("/collections/shelter_gaps/items").json()
    assert (body["sites_from"], body["sites_considered"], body["capacity"]) == (
        "candidate_sites", 2, 150.0)
    assert body["unsheltered_before"] == 200
    # P takes 150 (its capacity); Q reaches nobody, so the list ends there
    [p] = body["candidates"]
    assert (p["site"]["code"], p["gain"], p["cumulative_gain"], p["unsheltered_after"]) == (
        "P", 150, 150, 50)
    assert tiles["numberMatched"] == 2


@pytest.fixture(scope="module")
def demo(seeded_client):
    answer = seeded_client.get("/analysis/shelters")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_demonstration_city_has_failing_districts(demo, seeded_sql):
    districts = {d["district_code"]: d for d in demo["districts"]}
    assert len(districts) == 13
    census = dict(seeded_sql("SELECT code, population FROM districts"))
    assert {code: d["population"] for code, d in districts.items()} == census
    failing = {code for code, d in districts.items() if not d["meets_standard"]}
    assert {"610102", "610103", "610104"} <= failing and len(failing) < 13
    for d in districts.values():
        expected = round(max(0.0, 1.5 * d["population"] - d["shelter_area_m2"]), 1)
        assert d["deficit_m2"] == pytest.approx(expected, abs=0.1)
        assert 0 < d["coverage"]["all"] <= 1
    area = seeded_sql("SELECT sum(effective_area_m2) FROM shelters")[0][0]
    assert demo["city"]["shelter_area_m2"] == round(area, 1)
    assert demo["city"]["population"] == sum(census.values())


def test_subdistricts_add_up_to_their_district(seeded_client, demo):
    body = seeded_client.get("/analysis/shelters/610103").json()
    subs = body["subdistricts"]
    assert len(subs) == 8 and all(s["district_code"] == "610103" for s in subs)
    assert sum(s["population"] for s in subs) == body["district"]["population"]
    assert sum(s["shelter_count"] for s in subs) == body["district"]["shelter_count"]
    assert sum(s["covered_population"] for s in subs) == pytest.approx(
        body["district"]["covered_population"], abs=len(subs))


def test_csv_and_geojson(seeded_client):
    answer = seeded_client.get("/analysis/shelters?format=csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == 14 and rows[-1]["level"] == "city"
    assert rows[0]["code"] == "610102" and rows[0]["meets_standard"] == "False"
    assert {"deficit_m2", "coverage_all", "shelters_emergency"} <= set(rows[0])

    geo = seeded_client.get("/analysis/shelters?format=geojson").json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 13
    first = geo["features"][0]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert first["properties"]["area_per_resident_m2"] > 0
    subs = seeded_client.get("/analysis/shelters?level=subdistricts&format=geojson").json()
    assert len(subs["features"]) == 204
    district = seeded_client.get("/analysis/shelters/610104?format=geojson").json()
    levels = [f["properties"]["level"] for f in district["features"]]
    assert levels[0] == "district" and levels.count("subdistrict") == 9


@pytest.mark.parametrize("path, status, words", [
    ("/analysis/shelters/999999", 404, "no district with code '999999'"),
    ("/analysis/shelters/abc", 404, "no district"),
    ("/analysis/shelters/999999/candidates", 404, "no district"),
    ("/analysis/shelters?format=xlsx", 422, "'format'"),
    ("/analysis/shelters?level=towns", 422, "'level'"),
    ("/analysis/shelters/610102?format=pdf", 422, "'format'"),
    ("/analysis/shelters/610102/candidates?n=0", 422, "'n': 0 is outside 1 to 50"),
    ("/analysis/shelters/610102/candidates?n=2.5", 422, "not a whole number"),
    ("/analysis/shelters/610102/candidates?n=51", 422, "outside"),
    ("/analysis/shelters/610102/candidates?area_m2=-5", 422, "'area_m2'"),
    ("/analysis/shelters/610102/candidates?area_m2=nan", 422, "'area_m2'"),
    ("/analysis/shelters/610102/candidates?class=tent", 422, "'class'"),
])
def test_bad_requests(seeded_client, path, status, words):
    answer = seeded_client.get(path)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["description"]


def test_grid_proposals_in_a_failing_district(seeded_client):
    body = seeded_client.get("/analysis/shelters/610103/candidates?n=3").json()
    assert body["sites_from"] == "grid" and body["sites_considered"] > 100
    gains = [c["gain"] for c in body["candidates"]]
    assert len(gains) == 3 and gains == sorted(gains, reverse=True) and gains[0] > 0
    assert body["candidates"][-1]["unsheltered_after"] == body["unsheltered_before"] - sum(gains)
    assert all(108.8 < c["lon"] < 109.1 and 34.1 < c["lat"] < 34.4 for c in body["candidates"])


def test_without_a_population_surface_the_answer_says_what_to_do(scratch_url, settings_for):
    with psycopg.connect(scratch_url) as conn:
        conn.execute("DELETE FROM rasters WHERE name = 'population'")
        conn.execute("SELECT bump_layer_versions('population')")
        conn.commit()
    with _client(scratch_url, settings_for) as client:
        answer = client.get("/analysis/shelters")
    assert answer.status_code == 503
    assert "onemap import" in answer.json()["description"]
