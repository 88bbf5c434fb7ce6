"""/collections/{layer}/items and /items/{id}: filters, paging, formats, errors, sub-collections.

Every expected number is counted straight in SQL on the same database; the seeded
database is graded by the test session (tests/conftest.py), and tests that need grades
or alarms of their own set them in a scratch copy.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient

from layers.catalogue import LAYERS, geometry_parts_of
from service.app import create_app
from service.errors import InvalidParameter
from service.features.encode import rewrite_query
from service.features.params import (
    BBox,
    Interval,
    as_bounds,
    parse_bbox,
    parse_datetime,
    parse_items,
)

LAYER = {layer.name: layer for layer in LAYERS}
CENTRE = "108.90,34.20,109.00,34.30"  # old city and high-tech zone: many features


def items(client, layer: str, **params) -> dict:
    response = client.get(f"/collections/{layer}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    return response.json()


def ids(collection: dict) -> list:
    return [feature["id"] for feature in collection["features"]]


def link(document: dict, rel: str) -> str | None:
    return next((each["href"] for each in document["links"] if each["rel"] == rel), None)


# -- attribute filters against SQL ---------------------------------------------------------

FILTERS = [
    ("risk_units", {"grade": "red"}, "grade = 'red'"),
    ("risk_units", {"grade": "red,orange"}, "grade IN ('red', 'orange')"),
    ("risk_units", {"district": "610113"}, "district_code = '610113'"),
    ("risk_units", {"district_code": "610104,610102"}, "district_code IN ('610104', '610102')"),
    ("risk_units", {"category": "bridge,gas_pipeline"}, "category IN ('bridge', 'gas_pipeline')"),
    ("risk_units", {"domain": "lifeline", "grade": "orange"},
     "domain = 'lifeline' AND grade = 'orange'"),
    ("risk_units", {"category": "crowded_place", "district": "610113", "grade": "yellow,blue"},
     "category = 'crowded_place' AND district_code = '610113' AND grade IN ('yellow', 'blue')"),
    ("monitoring_points", {"kind": "gas", "status": "offline,fault"},
     "kind = 'gas' AND status IN ('offline', 'fault')"),
    ("monitoring_points", {"district": "610102", "kind": "bridge"},
     "district_code = '610102' AND kind = 'bridge'"),
    ("resources", {"type": "storage", "level": "city"}, "type = 'storage' AND level = 'city'"),
    ("subdistricts", {"kind": "town"}, "kind = 'town'"),
    ("shelters", {"class": "fixed", "district": "610104"},
     "class = 'fixed' AND district_code = '610104'"),
    ("hidden_dangers", {"level": "major", "status": "open"}, "level = 'major' AND status = 'open'"),
]


@pytest.mark.parametrize("layer, params, where", FILTERS)
def test_filters_select_exactly_the_rows_sql_selects(seeded_client, seeded_sql, layer, params,
                                                     where):
    table = LAYER[layer].table
    id_column = LAYER[layer].id_column
    expected = [r[0] for r in seeded_sql(f"SELECT {id_column} FROM {table} WHERE {where} "
                                         f"ORDER BY {id_column}")]
    assert expected, "the filter must select something to test anything"

    body = items(seeded_client, layer, limit=10000, **params)

    assert body["numberMatched"] == len(expected)
    assert body["numberReturned"] == len(expected)
    assert ids(body) == expected
    for feature in body["features"]:
        for name, value in params.items():
            column = "district_code" if name == "district" else name
            assert feature["properties"][column] in value.split(",")


def test_grades_set_in_the_database_are_what_the_filter_sees(scratch_url, settings_for):
    with psycopg.connect(scratch_url) as conn:
        conn.execute("UPDATE risk_units SET grade = NULL")
        conn.execute("UPDATE risk_units SET grade = 'red' WHERE id IN (3, 5, 8)")
        conn.execute("UPDATE risk_units SET grade = 'orange' WHERE id IN (2, 13)")
    with TestClient(create_app(settings_for(scratch_url))) as client:
        red = items(client, "risk_units", grade="red")
        hot = items(client, "risk_units", grade="orange,red", limit=3)
        blue = items(client, "risk_units", grade="blue")
    assert ids(red) == [3, 5, 8] and red["numberMatched"] == 3
    assert ids(hot) == [2, 3, 5] and hot["numberMatched"] == 5
    assert blue["numberMatched"] == 0 and blue["features"] == []


# -- bbox ------------------------------------------------------------------------------

def _intersecting(seeded_sql, table: str, box: tuple, extra: str = "TRUE") -> list:
    return [r[0] for r in seeded_sql(
        f"SELECT id FROM {table} WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
        f" AND {extra} ORDER BY id", box)]


@pytest.mark.parametrize("layer", ["risk_units", "monitoring_points", "shelters"])
def test_bbox_selects_what_intersects_the_box(seeded_client, seeded_sql, layer):
    box = (108.95, 34.22, 108.99, 34.26)
    expected = _intersecting(seeded_sql, layer, box)
    assert 0 < len(expected) < 10000

    body = items(seeded_client, layer, bbox=",".join(map(str, box)), limit=10000)

    assert body["numberMatched"] == len(expected)
    assert ids(body) == expected


def test_bbox_counts_lines_that_cross_the_box_without_a_vertex_in_it(seeded_client, seeded_sql):
    box = (108.95, 34.22, 108.99, 34.26)
    crossing = [r[0] for r in seeded_sql(
        "SELECT id FROM risk_units WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
        " AND NOT EXISTS (SELECT 1 FROM ST_DumpPoints(geom) d WHERE ST_Intersects(d.geom, "
        "ST_MakeEnvelope(%s, %s, %s, %s, 4326)))", box + box)]
    found = set(ids(items(seeded_client, "risk_units_line", bbox=",".join(map(str, box)),
                          limit=10000)))
    assert crossing and set(crossing) <= found


def test_bbox_variants_mean_the_same_box(seeded_client, seeded_sql):
    expected = _intersecting(seeded_sql, "risk_units", (108.95, 34.22, 108.99, 34.26),
                             "grade IN ('red', 'orange')")
    plain = items(seeded_client, "risk_units", bbox="108.95,34.22,108.99,34.26",
                  grade="red,orange", limit=10000)
    heights = items(seeded_client, "risk_units", bbox="108.95,34.22,-10,108.99,34.26,100",
                    grade="red,orange", limit=10000)
    latitude_first = items(seeded_client, "risk_units", bbox="34.22,108.95,34.26,108.99",
                           **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
                           grade="red,orange", limit=10000)
    crs84 = items(seeded_client, "risk_units", bbox="108.95,34.22,108.99,34.26",
                  **{"bbox-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
                  grade="red,orange", limit=10000)
    assert expected
    assert ids(plain) == ids(heights) == ids(latitude_first) == ids(crs84) == expected


def test_a_bbox_around_the_world_is_everything(seeded_client, seeded_sql):
    [(count,)] = seeded_sql("SELECT count(*) FROM shelters")
    assert items(seeded_client, "shelters", bbox="-250,-100,250,100")["numberMatched"] == count


# -- datetime ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, where", [
    ("2025-06-01", "found_on = '2025-06-01'"),
    ("2025-06-01/2025-08-31", "found_on BETWEEN '2025-06-01' AND '2025-08-31'"),
    ("../2025-03-31", "found_on <= '2025-03-31'"),
    ("2026-01-01/..", "found_on >= '2026-01-01'"),
    ("2026-01-01/", "found_on >= '2026-01-01'"),
    ("2025-06-01T12:00:00Z/2025-06-30T00:00:00+08:00",
     "found_on BETWEEN '2025-06-01' AND '2025-06-29'"),
])
def test_datetime_on_a_date_column(seeded_client, seeded_sql, value, where):
    expected = [r[0] for r in
                seeded_sql(f"SELECT id FROM hidden_dangers WHERE {where} ORDER BY id")]
    body = items(seeded_client, "hidden_dangers", datetime=value, limit=10000)
    assert body["numberMatched"] == len(expected)
    assert ids(body) == expected
    if "/" in value:
        assert expected, f"{value} should select some hidden dangers"


def test_datetime_on_alarms(scratch_url, settings_for):
    base = datetime(2026, 3, 1, tzinfo=UTC)
    with psycopg.connect(scratch_url) as conn:
        for hours in (0, 5, 24, 47, 72):  # alarms at 1 Mar 00:00, 05:00, 2 Mar 00:00, 23:00, 4 Mar
            conn.execute(
                "INSERT INTO alarms (monitoring_point_id, grade, value, raised_at, district_code, "
                "synthetic, geom) SELECT id, 'yellow', 1.5, %s, district_code, true, geom "
                "FROM monitoring_points WHERE id = %s", [base + timedelta(hours=hours), 10 + hours])
        alarm_ids = [r[0] for r in conn.execute("SELECT id FROM alarms ORDER BY raised_at")]
    first, at_five, second_day, late_second, fourth = alarm_ids
    with TestClient(create_app(settings_for(scratch_url))) as client:
        def select(value):
            return ids(items(client, "alarms", datetime=value))
        assert select("2026-03-01T05:00:00Z") == [at_five]
        assert select("2026-03-01T13:00:00+08:00") == [at_five]
        assert select("2026-03-01") == [first, at_five]
        assert select("2026-03-02/2026-03-02") == [second_day, late_second]
        assert select("../2026-03-01T05:00:00Z") == [first, at_five]
        assert select("2026-03-02T23:00:00Z/..") == [late_second, fourth]
        assert select("2026-03-01T00:00:00.5Z/2026-03-02T00:00:00Z") == [at_five, second_day]
        alarm = client.get(f"/collections/alarms/items/{at_five}").json()
    assert alarm["properties"]["raised_at"] == "2026-03-01T05:00:00Z"
    assert alarm["properties"]["state"] == "open" and alarm["properties"]["grade"] == "yellow"


def test_parse_datetime_and_bounds_without_http():
    dangers = LAYER["hidden_dangers"]
    assert parse_datetime("2025-06-01", dangers) == Interval(date(2025, 6, 1), date(2025, 6, 1))
    moment = parse_datetime("2025-06-01T08:00:00.123456789+08:00", dangers).start
    assert moment == datetime(2025, 6, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert parse_datetime("../2025-06-01", dangers) == Interval(None, date(2025, 6, 1))
    day = Interval(date(2025, 6, 1), date(2025, 6, 1))
    assert as_bounds(day, "datetime") == (datetime(2025, 6, 1, tzinfo=UTC),
                                          datetime(2025, 6, 2, tzinfo=UTC), False)
    assert as_bounds(day, "date") == (date(2025, 6, 1), date(2025, 6, 1), True)


# -- paging ------------------------------------------------------------------------------

def _follow(client, url: str) -> tuple[list, list[str]]:
    seen, urls = [], []
    while url:
        urls.append(url)
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += ids(page)
        url = link(page, "next")
    return seen, urls


def test_paging_with_next_links_covers_every_monitoring_point_once(seeded_client, seeded_sql):
    expected = [r[0] for r in seeded_sql("SELECT id FROM monitoring_points ORDER BY id")]
    assert len(expected) == 22067

    seen, urls = _follow(seeded_client, "/collections/monitoring_points/items?limit=1000")

    assert seen == expected
    assert len(urls) == 23
    assert urls[1] == "http://testserver/collections/monitoring_points/items?limit=1000&offset=1000"


def test_next_links_keep_every_filter_exactly_as_given(seeded_client, seeded_sql):
    bbox = "108.90000000000001,34.200000000000003,109.00000000000001,34.299999999999997"
    box = tuple(float(v) for v in bbox.split(","))
    expected = _intersecting(seeded_sql, "risk_units", box, "grade IN ('yellow', 'blue')")
    query = f"bbox={bbox}&grade=yellow,blue&properties=name,grade&limit=100"

    seen, urls = _follow(seeded_client, f"/collections/risk_units/items?{query}")

    assert len(expected) > 200 and seen == expected
    for url in urls[1:]:
        assert f"bbox={bbox}&grade=yellow,blue&properties=name,grade&limit=100&offset=" in url


def test_prev_link_and_a_page_past_the_end(seeded_client, seeded_sql):
    [(count,)] = seeded_sql("SELECT count(*) FROM shelters")
    middle = items(seeded_client, "shelters", limit=10, offset=25)
    assert link(middle, "prev").endswith("/collections/shelters/items?limit=10&offset=15")
    assert link(middle, "next").endswith("/collections/shelters/items?limit=10&offset=35")
    beyond = items(seeded_client, "shelters", offset=count + 5)
    assert beyond["numberMatched"] == count and beyond["numberReturned"] == 0
    assert link(beyond, "next") is None and beyond["features"] == []
    last = items(seeded_client, "shelters", limit=10, offset=count - 3)
    assert last["numberReturned"] == 3 and last["numberMatched"] == count


def test_default_limit_and_a_limit_over_the_cap(seeded_url, settings_for, seeded_sql):
    [(count,)] = seeded_sql("SELECT count(*) FROM resources")
    app = create_app(settings_for(seeded_url, api={"max_limit": 100, "default_limit": 7}))
    with TestClient(app) as client:
        default = items(client, "resources")
        capped = items(client, "resources", limit=5000)
    assert default["numberReturned"] == 7 and default["numberMatched"] == count
    assert capped["numberReturned"] == 100
    assert link(capped, "next").endswith("/collections/resources/items?limit=100&offset=100")


def test_links_are_absolute_on_the_public_base_url(seeded_url, settings_for):
    app = create_app(settings_for(seeded_url, api={"public_base_url": "https://map.example/om/"}))
    with TestClient(app) as client:
        body = items(client, "shelters", limit=2, **{"class": "fixed"})
        feature = client.get(f"/collections/shelters/items/{body['features'][0]['id']}").json()
    assert link(body, "self") == "https://map.example/om/collections/shelters/items?limit=2&class=fixed"
    assert link(body, "next") == ("https://map.example/om/collections/shelters/items"
                                  "?class=fixed&limit=2&offset=2")
    assert link(body, "collection") == "https://map.example/om/collections/shelters"
    assert link(feature, "self").startswith("https://map.example/om/collections/shelters/items/")


def test_rewrite_query_keeps_the_other_parameters_byte_for_byte():
    raw = "bbox=108.1%2C34.2,109,35&limit=5&datetime=2025-01-01T00:00:00%2B08:00/..&offset=5"
    assert rewrite_query(raw, {"limit": "5", "offset": "10"}) == (
        "bbox=108.1%2C34.2,109,35&datetime=2025-01-01T00:00:00%2B08:00/..&limit=5&offset=10")
    assert rewrite_query("", {"f": "csv"}) == "f=csv"


# -- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("layer, params, parameter, words", [
    ("shelters", {"limit": "abc"}, "limit", "positive integer"),
    ("shelters", {"limit": "0"}, "limit", "positive integer"),
    ("shelters", {"limit": "-5"}, "limit", "positive integer"),
    ("shelters", {"limit": "2.5"}, "limit", "positive integer"),
    ("shelters", {"offset": "-1"}, "offset", "0 or more"),
    ("shelters", {"bbox": "1,2,3"}, "bbox", "4 numbers"),
    ("shelters", {"bbox": "a,b,c,d"}, "bbox", "numbers"),
    ("shelters", {"bbox": "1,2,3,nan"}, "bbox", "finite"),
    ("shelters", {"bbox": "108,35,109,34"}, "bbox", "latitude"),
    ("shelters", {"bbox": "108,34,109,35", "bbox-crs": "EPSG:3857"}, "bbox-crs", "unsupported"),
    ("risk_units", {"grade": "purple"}, "grade", "'purple'"),
    ("risk_units", {"grade": "red,,orange"}, "grade", "empty"),
    ("risk_units", {"district": "999999"}, "district", "'999999'"),
    ("risk_units", {"category": "volcano"}, "category", "'volcano'"),
    ("monitoring_points", {"kind": "seismic"}, "kind", "'seismic'"),
    ("shelters", {"grade": "red"}, "grade", "no attribute 'grade'"),
    ("shelters", {"properties": "nope"}, "properties", "'nope'"),
    ("hidden_dangers", {"datetime": "yesterday"}, "datetime", "'yesterday'"),
    ("hidden_dangers", {"datetime": "2025-06-01T08:00:00"}, "datetime", "time zone"),
    ("hidden_dangers", {"datetime": "2025-02-30"}, "datetime", "not a valid date"),
    ("hidden_dangers", {"datetime": "2025-06-01/2025-05-01"}, "datetime", "ends before"),
    ("hidden_dangers", {"datetime": "a/b/c"}, "datetime", "more than one"),
    ("shelters", {"datetime": "2025-06-01"}, "datetime", "no time attribute"),
    ("shelters", {"f": "xml"}, "f", "'xml'"),
    ("shelters", {"crs": "EPSG:3857"}, "crs", "unsupported"),
    ("shelters", {"colour": "red"}, "colour", "unknown parameter 'colour'"),
])
def test_bad_values_answer_400_naming_the_parameter(seeded_client, layer, params, parameter, words):
    response = seeded_client.get(f"/collections/{layer}/items", params=params)

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert body["parameter"] == parameter
    assert f"parameter {parameter!r}" in body["description"] and words in body["description"]


def test_several_unknown_parameters_are_all_named(seeded_client):
    response = seeded_client.get("/collections/shelters/items?limt=5&ofset=2")
    assert response.status_code == 400
    assert "'limt', 'ofset'" in response.json()["description"]


def test_a_parameter_given_twice_is_refused(seeded_client):
    response = seeded_client.get("/collections/risk_units/items?grade=red&grade=blue")
    assert response.status_code == 400 and "more than once" in response.json()["description"]


def test_parse_without_http():
    units = LAYER["risk_units"]
    parsed = parse_items([("limit", "99999"), ("grade", "red, orange"), ("district", "610113")],
                         units, 10, 10000)
    assert parsed.limit == 10000
    assert {f.column: f.values for f in parsed.filters} == {
        "district_code": ("610113",), "grade": ("red", "orange")}
    assert parse_items([("limit", "9" * 5000)], units, 10, 10000).limit == 10000
    with pytest.raises(InvalidParameter, match="offset.*too large"):
        parse_items([("offset", "9" * 5000)], units, 10, 10000)
    with pytest.raises(InvalidParameter, match="limit.*positive"):
        parse_items([("limit", "000")], units, 10, 10000)
    assert parse_bbox("170,-10,-170,10").envelopes() == ((170, -10, 180, 10), (-180, -10, -170, 10))
    assert parse_bbox("1,2,3,4,5,6") == BBox(1, 2, 4, 5)
    with pytest.raises(InvalidParameter, match="bbox-crs.*without bbox"):
        parse_bbox(None, "EPSG:4326")


# -- properties, CSV ------------------------------------------------------------------------

def test_properties_selects_and_orders_the_properties(seeded_client):
    body = items(seeded_client, "risk_units", limit=3, properties="grade,name")
    for feature in body["features"]:
        assert list(feature["properties"]) == ["grade", "name"]
    bare = items(seeded_client, "risk_units", limit=1, properties="")
    assert bare["features"][0]["properties"] == {}
    full = items(seeded_client, "risk_units", limit=1)
    declared = [a.name for a in LAYER["risk_units"].attributes]
    assert list(full["features"][0]["properties"]) == declared


def test_csv_has_one_row_per_feature_with_wkt(seeded_client, seeded_sql):
    expected = seeded_sql("SELECT id, name, capacity, ST_AsText(geom) FROM shelters "
                          "WHERE district_code = '610104' ORDER BY id")
    response = seeded_client.get("/collections/shelters/items",
                                 params={"district": "610104", "f": "csv", "limit": 10000})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="shelters.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == len(expected) > 0
    assert list(rows[0]) == ["id", *(a.name for a in LAYER["shelters"].attributes), "wkt"]
    for row, (id_, name, capacity, wkt) in zip(rows, expected):
        assert int(row["id"]) == id_ and row["name"] == name
        assert row["capacity"] == ("" if capacity is None else str(capacity))
        assert shapely.from_wkt(row["wkt"]).equals_exact(shapely.from_wkt(wkt), 1e-7)
        assert row["synthetic"] in ("true", "false")


def test_csv_pages_link_to_the_next_and_keep_objects_as_json(seeded_client):
    response = seeded_client.get("/collections/resources/items?f=csv&limit=5&type=storage"
                                 "&properties=name,attributes")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "name", "attributes", "wkt"] and len(rows) == 6
    assert "stock" in json.loads(rows[1][2])
    assert shapely.from_wkt(rows[1][3]).geom_type == "Point"
    assert 'rel="next"' in response.headers["link"]
    assert "type=storage&properties=name,attributes&limit=5&offset=5" in response.headers["link"]


# -- one feature ---------------------------------------------------------------------------

def test_one_risk_unit_with_its_grade_and_explanation(seeded_client, seeded_sql):
    [(unit_id, grade, explanation, code)] = seeded_sql(
        "SELECT id, grade, grade_explanation, code FROM risk_units "
        "WHERE grade = 'red' ORDER BY id LIMIT 1")
    response = seeded_client.get(f"/collections/risk_units/items/{unit_id}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == unit_id
    assert feature["properties"]["code"] == code and feature["properties"]["grade"] == grade
    assert feature["properties"]["grade_explanation"] == explanation
    assert feature["properties"]["graded_at"].endswith("Z")
    assert [(each["rel"], each["href"]) for each in feature["links"]] == [
        ("self", f"http://testserver/collections/risk_units/items/{unit_id}"),
        ("collection", "http://testserver/collections/risk_units")]


def test_a_district_by_its_code(seeded_client):
    feature = seeded_client.get("/collections/districts/items/610113").json()
    assert feature["id"] == "610113" and feature["properties"]["name"] == "雁塔区"
    assert feature["geometry"]["type"] == "MultiPolygon"


@pytest.mark.parametrize("path, words", [
    ("/collections/risk_units/items/99999999", "no feature '99999999'"),
    ("/collections/risk_units/items/abc", "ids are integers"),
    ("/collections/risk_units/items/1e5", "ids are integers"),
    ("/collections/risk_units/items/99999999999999999999999", "ids are integers"),
    ("/collections/districts/items/999999", "no feature '999999'"),
    ("/collections/nope/items/1", "unknown layer 'nope'"),
])
def test_missing_features_answer_404_with_a_message(seeded_client, path, words):
    response = seeded_client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound" and words in response.json()["description"]


def test_item_refuses_unknown_parameters(seeded_client):
    assert seeded_client.get("/collections/shelters/items/1?limit=3").status_code == 400
    assert seeded_client.get("/collections/shelters/items/1?f=csv").status_code == 400


# -- one geometry type per collection -----------------------------------------------------------

def test_sub_collections_hold_exactly_their_kind_of_unit(seeded_client, seeded_sql):
    parts = {"risk_units_point": ("POINT", "MULTIPOINT"),
             "risk_units_line": ("LINESTRING", "MULTILINESTRING"),
             "risk_units_polygon": ("POLYGON", "MULTIPOLYGON")}
    listed = {c["id"]: c for c in seeded_client.get("/collections").json()["collections"]}
    everything = set()
    for name, types in parts.items():
        expected = [r[0] for r in seeded_sql(
            "SELECT id FROM risk_units WHERE GeometryType(geom) = ANY(%s) ORDER BY id",
            [list(types)])]
        body = items(seeded_client, name, limit=10000)
        assert ids(body) == expected and body["numberMatched"] == len(expected) > 0
        assert {f["geometry"]["type"].upper() for f in body["features"]} <= set(types)
        [(west, south, east, north)] = seeded_sql(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
            "FROM risk_units WHERE GeometryType(geom) = ANY(%s)) s", [list(types)])
        [[w, s, e, n]] = listed[name]["extent"]["spatial"]["bbox"]
        assert w <= west < w + 1e-6 and e - 1e-6 < east <= e and s <= south and north <= n
        assert listed[name]["title"].startswith("风险单元（")
        everything |= set(expected)
    [(count,)] = seeded_sql("SELECT count(*) FROM risk_units")
    assert len(everything) == count


def test_a_unit_is_not_found_in_the_part_of_another_kind(seeded_client, seeded_sql):
    [(line_id,)] = seeded_sql(
        "SELECT min(id) FROM risk_units WHERE GeometryType(geom) = 'LINESTRING'")
    assert seeded_client.get(f"/collections/risk_units_line/items/{line_id}").status_code == 200
    assert seeded_client.get(f"/collections/risk_units_point/items/{line_id}").status_code == 404


def test_parts_are_derived_from_the_declaration():
    parts = geometry_parts_of(LAYER["risk_units"])
    assert [(p.name, p.geometry_kind, p.parent) for p in parts] == [
        ("risk_units_point", "point", "risk_units"), ("risk_units_line", "line", "risk_units"),
        ("risk_units_polygon", "polygon", "risk_units")]
    assert parts[2].geometry_types == ("Polygon", "MultiPolygon")
    assert geometry_parts_of(LAYER["shelters"]) == ()


def test_schema_gives_every_property_its_declared_type(seeded_client):
    response = seeded_client.get("/collections/risk_units_polygon/schema")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["$id"] == "http://testserver/collections/risk_units_polygon/schema"
    assert schema["properties"]["geometry"]["format"] == "geometry-any"  # Polygon, MultiPolygon
    properties = schema["properties"]["properties"]["properties"]
    assert list(properties) == [a.name for a in LAYER["risk_units"].attributes]
    assert properties["grade_score"]["type"] == "number"
    assert properties["likelihood"]["type"] == "integer"
    assert properties["graded_at"] == {"title": "评定时间", "description": "Graded at",
                                       "type": "string", "format": "date-time"}
    assert properties["grade"]["enum"] == ["red", "orange", "yellow", "blue"]
    assert properties["grade_explanation"]["type"] == "object"
    shelters = seeded_client.get("/collections/shelters/schema").json()
    assert shelters["properties"]["geometry"]["format"] == "geometry-point"


def test_numbers_are_written_with_a_decimal_point(seeded_client, seeded_sql):
    [(unit_id, score)] = seeded_sql("SELECT id, grade_score FROM risk_units "
                                    "WHERE grade_score = trunc(grade_score) ORDER BY id LIMIT 1")
    text = seeded_client.get(f"/collections/risk_units/items/{unit_id}").text
    assert f'"grade_score":{int(score)}.0' in text
