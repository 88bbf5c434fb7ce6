"""The area-risk summaries as collections: materialized views, refreshed by every grading
run, served like any table (items, filters, one feature by its text id).

Every expected number is counted in SQL on the seeded database, which the test session
has graded (so the views hold the grades of its units).
"""

from __future__ import annotations

import pytest
from psycopg import sql

from layers.catalogue import LAYERS

LAYER = {layer.name: layer for layer in LAYERS}
VIEWS = ["area_risk_districts", "area_risk_subdistricts", "area_risk_grid"]
GRADE_COUNTS = ("red", "orange", "yellow", "blue")


def items(client, layer: str, **params) -> dict:
    response = client.get(f"/collections/{layer}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    return response.json()


def _rows(seeded_sql, name: str, where: str = "TRUE") -> list[tuple]:
    """(id, total, worst_grade) of the view's rows meeting `where`, in id order."""
    layer = LAYER[name]
    query = sql.SQL("SELECT {id}, total, worst_grade FROM {view} WHERE {where} ORDER BY {id}"
                    ).format(id=sql.Identifier(layer.id_column), view=sql.Identifier(layer.table),
                             where=sql.SQL(where))
    return [tuple(row) for row in seeded_sql(query)]


@pytest.mark.parametrize("name", VIEWS)
def test_every_row_of_the_view_is_a_feature(seeded_client, seeded_sql, name):
    expected = _rows(seeded_sql, name)

    body = items(seeded_client, name, limit=10000)

    assert body["numberMatched"] == body["numberReturned"] == len(expected) > 0
    assert [(f["id"], f["properties"]["total"], f["properties"]["worst_grade"])
            for f in body["features"]] == expected
    for feature in body["features"]:
        properties = feature["properties"]
        assert sum(properties[grade] for grade in GRADE_COUNTS) == properties["total"]
        assert feature["geometry"]["type"] in LAYER[name].geometry_types


@pytest.mark.parametrize("name", VIEWS)
def test_each_summary_counts_every_unit_once(seeded_client, seeded_sql, name):
    [(units,)] = seeded_sql("SELECT count(*) FROM risk_units")

    features = items(seeded_client, name, limit=10000)["features"]

    assert sum(f["properties"]["total"] for f in features) == units


@pytest.mark.parametrize("name, params, where", [
    ("area_risk_grid", {"worst_grade": "red"}, "worst_grade = 'red'"),
    ("area_risk_grid", {"worst_grade": "yellow,blue"}, "worst_grade IN ('yellow', 'blue')"),
    ("area_risk_subdistricts", {"worst_grade": "red,orange"}, "worst_grade IN ('red', 'orange')"),
    ("area_risk_subdistricts", {"district": "610113", "worst_grade": "orange"},
     "district_code = '610113' AND worst_grade = 'orange'"),
    ("area_risk_districts", {"worst_grade": "red"}, "worst_grade = 'red'"),
])
def test_worst_grade_filters_select_what_sql_selects(seeded_client, seeded_sql, name, params,
                                                     where):
    expected = _rows(seeded_sql, name, where)

    body = items(seeded_client, name, limit=10000, **params)

    assert body["numberMatched"] == len(expected)
    assert [f["id"] for f in body["features"]] == [row[0] for row in expected]
    if params == {"worst_grade": "red"} and name == "area_risk_grid":
        assert expected, "the seeded units should make some cell red"


def test_worst_grade_takes_the_grades_only(seeded_client):
    wrong = seeded_client.get("/collections/area_risk_grid/items", params={"worst_grade": "pink"})
    other = seeded_client.get("/collections/area_risk_grid/items", params={"grade": "red"})

    assert wrong.status_code == other.status_code == 400
    assert wrong.json()["parameter"] == "worst_grade"
    assert wrong.json()["description"].endswith("use one of red, orange, yellow, blue")
    assert other.json()["description"].endswith(
        "has no attribute 'grade' to filter on; its filters: worst_grade")


def test_a_grid_cell_is_found_by_its_text_id(seeded_client, seeded_sql):
    [(cell, total, red, worst)] = seeded_sql(
        "SELECT id, total, red, worst_grade FROM area_risk_grid ORDER BY total DESC, id LIMIT 1")

    response = seeded_client.get(f"/collections/area_risk_grid/items/{cell}")

    assert response.status_code == 200, response.text
    feature = response.json()
    assert feature["id"] == cell and isinstance(cell, str) and "_" in cell
    assert (feature["properties"]["total"], feature["properties"]["red"],
            feature["properties"]["worst_grade"]) == (total, red, worst)
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["links"][0]["href"] == (
        f"http://testserver/collections/area_risk_grid/items/{cell}")
    assert '"area_km2":4.0' in response.text  # numeric 4.0 stays a real number
    missing = seeded_client.get("/collections/area_risk_grid/items/0_0")
    assert missing.status_code == 404
    assert "no feature '0_0'" in missing.json()["description"]


def test_a_district_summary_is_found_by_its_code(seeded_client, seeded_sql):
    [(name, total)] = seeded_sql(
        "SELECT name, total FROM area_risk_districts WHERE code = '610113'")

    feature = seeded_client.get("/collections/area_risk_districts/items/610113").json()

    assert feature["id"] == "610113"
    assert (feature["properties"]["name"], feature["properties"]["total"]) == (name, total)


def test_the_schema_types_the_grid_id_as_text(seeded_client):
    collection = seeded_client.get("/collections/area_risk_grid").json()
    [href] = [link["href"] for link in collection["links"] if link["rel"] == "describedby"]

    schema = seeded_client.get(href).json()

    assert schema["properties"]["id"] == {"type": "string"}
    assert schema["properties"]["geometry"]["format"] == "geometry-polygon"
    properties = schema["properties"]["properties"]["properties"]
    assert properties["worst_grade"]["enum"] == ["red", "orange", "yellow", "blue"]
    assert properties["red"]["type"] == "integer"
    assert properties["risk_index"]["type"] == "number"
