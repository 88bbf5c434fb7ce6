"""The situation in a circle: a hand-made city whose answers are known by construction
(things a metre inside and outside the circle included), residents by ring against a
brute-force sum over every cell, the demonstration city against distances worked out
independently (pyproj on every row), and the rules file's checks."""

from __future__ import annotations

import random

import numpy as np
import psycopg
import pytest
import shapely
from psycopg import sql
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from situation_city import (
    ALARMS,
    OUTSIDE_DISTRICTS,
    POINTS,
    UNITS,
    C,
    city_database,
    residents_raster,
    within,
)

from geodata.rasters import StoredRaster, load_raster
from layers.commander.nearest import nearest
from layers.commander.population_rings import residents_by_ring, ring_edges
from layers.commander.situation import (
    OutsideCityError,
    ShelterPlaces,
    SituationRulesError,
    load_rules,
    situation,
)
from layers.commander.travel import DensityLookup, load_travel

GEOD = Geod(ellps="WGS84")
RULES = load_rules()
MODEL = load_travel()


@pytest.fixture(scope="module")
def city(admin, base_url):
    """A private copy of the base database holding the hand-made city (module-wide)."""
    with city_database(admin, base_url) as url:
        yield url


def _answer(url, lon, lat, radius, places=None, population=True):
    with psycopg.connect(url) as conn:
        raster = load_raster(conn, "population") if population else None
        density = DensityLookup(raster) if raster is not None else None
        return situation(conn, lon, lat, radius, RULES, MODEL, density, raster, places)


def _codes(items, key="code"):
    return [i[key] for i in items]


@pytest.mark.parametrize("radius", [500, 1000, 2000, 5000])
def test_what_lies_in_the_circle_is_what_was_placed_there(city, radius):
    answer = _answer(city, *C, radius)
    expected = within(radius)
    units = answer["risk_units"]
    grades = [UNITS[c][0] or "ungraded" for c in expected["units"]]
    assert units["by_grade"] == {g: grades.count(g) for g in
                                 ("red", "orange", "yellow", "blue", "ungraded")}
    assert units["total"] == len(expected["units"])
    red = sorted((c for c in expected["units"] if UNITS[c][0] == "red"),
                 key=lambda c: UNITS[c][2])
    assert _codes(units["red"]["items"]) == red and units["red"]["count"] == len(red)
    for item in units["red"]["items"]:
        assert item["distance_m"] == pytest.approx(UNITS[item["code"]][2], abs=0.2)
    points = answer["monitoring_points"]
    assert points["total"] == len(expected["points"])
    point_grades = [POINTS[c][2] or "ungraded" for c in expected["points"]]
    assert points["by_grade"]["red"] == point_grades.count("red")
    assert points["by_grade"]["ungraded"] == point_grades.count("ungraded")
    dangers = answer["hidden_dangers"]
    assert dangers["open"] == len(expected["dangers"])
    assert {d["code"] for d in dangers["major"]["items"]} == {
        c for c in expected["dangers"] if c.startswith("D-MAJOR")}
    assert {s["code"] for s in answer["shelters"]["items"]} == expected["shelters"]
    assert answer["district"]["code"] == "610102"
    assert answer["subdistrict"]["code"] == "610102002"


def test_a_metre_inside_counts_and_a_metre_outside_does_not(city):
    answer = _answer(city, *C, 1000)
    red = _codes(answer["risk_units"]["red"]["items"])
    assert "U-RED-999" in red and "U-RED-1001" not in red
    # a line whose nearest spot is 999.5 m away is in; one at 1000.5 m is out
    assert answer["risk_units"]["by_grade"]["orange"] == 1
    assert answer["monitoring_points"]["total"] == 4  # P-999.5 in, P-1000.5 out


def test_alarms_not_closed_are_counted_and_listed_worst_first(city):
    alarms = _answer(city, *C, 1000)["monitoring_points"]
    listed = alarms["open_alarms"]
    # P-100: red open (its closed red is not counted); P-150: yellow open; P-600: orange
    # acknowledged; P-1000.5's red alarm is outside the circle
    assert listed["count"] == 3
    assert listed["by_grade"] == {"red": 1, "orange": 1, "yellow": 1, "blue": 0}
    assert listed["by_state"] == {"open": 2, "acknowledged": 1}
    assert [(a["point_code"], a["grade"], a["state"]) for a in listed["items"]] == [
        ("P-100", "red", "open"), ("P-600", "orange", "acknowledged"),
        ("P-150", "yellow", "open")]
    assert listed["items"][0]["distance_m"] == pytest.approx(100, abs=0.1)
    assert alarms["alarming"] == 3
    wider = _answer(city, *C, 5000)["monitoring_points"]["open_alarms"]
    expected = [a for a in ALARMS if a[2] != "closed"]
    assert wider["count"] == len(expected) == 5


def test_shelters_carry_capacity_load_and_places_left(city):
    # capacity and load as the coverage analysis would give them, by shelter id
    with psycopg.connect(city) as conn:
        ids = dict(conn.execute("SELECT code, id FROM shelters").fetchall())
    places = ShelterPlaces(np.array(sorted(ids.values())), np.array([300.0, 2000.0, 100.0]),
                           np.array([120.0, 2000.0, 100.0]))
    by_id = dict(zip(places.ids.tolist(), zip(places.capacity, places.load)))
    shelters = _answer(city, *C, 1000, places)["shelters"]
    assert shelters["count"] == 2
    for s in shelters["items"]:
        capacity, load = by_id[s["id"]]
        assert (s["capacity"], s["load"], s["remaining"]) == (capacity, load, capacity - load)
    assert shelters["capacity"] == sum(s["capacity"] for s in shelters["items"])
    assert shelters["remaining"] == sum(s["remaining"] for s in shelters["items"])
    assert "remaining = capacity - load" in shelters["meaning"]
    bare = _answer(city, *C, 1000)["shelters"]
    assert bare["remaining"] is None and bare["items"][0]["capacity"] is None


def test_the_nearest_help_is_what_nearest_finds(city):
    answer = _answer(city, *C, 1000)
    with psycopg.connect(city) as conn:
        raster = load_raster(conn, "population")
        for rtype, k in RULES.nearest_k.items():
            expected = [h.as_dict() for h in nearest(conn, *C, rtype, k, MODEL,
                                                     DensityLookup(raster))]
            assert answer["nearest"][rtype] == expected, rtype
    assert _codes(answer["nearest"]["fire_station"]) == ["F-700", "F-2500", "F-4500"]
    assert answer["travel"]["method"] == "estimate"


def test_residents_by_ring_match_a_sum_over_every_cell(city):
    answer = _answer(city, *C, 5000)
    raster = residents_raster()
    rows, cols = np.mgrid[0:raster.shape[0], 0:raster.shape[1]]
    x, y = raster.transform @ (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs(4545, 4326, always_xy=True).transform(x, y)
    _, _, d = GEOD.inv(np.full(lon.shape, C[0]), np.full(lat.shape, C[1]), lon, lat)
    edges = [500, 1000, 2000, 3000, 4000, 5000]
    got = answer["population"]["rings"]
    assert [(r["from_m"], r["to_m"]) for r in got] == list(zip([0] + edges[:-1], edges))
    for ring, edge in zip(got, edges):
        assert ring["cumulative"] == int(raster.values[d <= edge].sum())
    assert [r["residents"] for r in got] == [
        int(raster.values[(d > a) & (d <= b)].sum()) for a, b in zip([-1] + edges[:-1], edges)]
    assert answer["population"]["total"] == got[-1]["cumulative"]
    assert _answer(city, *C, 5000, population=False)["population"] is None


def test_a_point_in_no_district_is_refused(city):
    with pytest.raises(OutsideCityError, match="no district"):
        _answer(city, *OUTSIDE_DISTRICTS, 1000)


# --- residents by ring, on hand-placed cells ---------------------------------------------------

def test_rings_count_each_cell_whose_centre_is_inside_once():
    # 100 m cells in EPSG:4545, the point at a cell corner; residents 10 in the cell whose
    # centre is 250 m east, 20 at 750 m east, 40 at 1,451 m (50 m east, 1,450 m north), 80 at
    # 2,650 m east
    to_wgs = Transformer.from_crs(4545, 4326, always_xy=True)
    x0, y0 = 580_000.0, 3_790_000.0
    values = np.zeros((60, 60), dtype=np.float32)
    origin = from_origin(x0 - 3000, y0 + 3000, 100, 100)
    cell = lambda dx, dy: (int((3000 - dy) // 100), int((3000 + dx) // 100))
    for (dx, dy), people in (((200, 0), 10), ((700, 0), 20), ((0, 1500), 40), ((2600, 0), 80)):
        values[cell(dx, dy)] = people
    raster = StoredRaster("population", values, origin, "EPSG:4545", 100.0, 80.0)
    lon, lat = to_wgs.transform(x0, y0)
    rings = residents_by_ring(raster, lon, lat, ring_edges(2000, (500, 1000, 2000, 5000)))
    assert [(r.from_m, r.to_m, r.residents, r.cumulative) for r in rings] == [
        (0, 500, 10, 10), (500, 1000, 20, 30), (1000, 2000, 40, 70)]
    assert [r.to_m for r in residents_by_ring(raster, lon, lat, ring_edges(
        1500, (500, 1000, 2000)))] == [500, 1000, 1500]
    assert residents_by_ring(raster, lon, lat, [3000])[0].residents == 150


def test_ring_edges_stop_at_the_radius():
    assert ring_edges(1000, (500, 1000, 2000)) == [500, 1000]
    assert ring_edges(1500, (500, 1000, 2000)) == [500, 1000, 1500]
    assert ring_edges(300, (500, 1000)) == [300]


# --- the demonstration city against distances worked out independently --------------------------

def _independent(conn, table: str, lon: float, lat: float, where: str = "") -> list[tuple]:
    """(code, grade-or-level, distance m) of every row: distances from the point in an
    azimuthal equidistant projection centred on it (exact for distances from the centre),
    lines and outlines densified to ~30 m first so their edges follow the ellipsoid's."""
    column = {"hidden_dangers": "level", "shelters": "class"}.get(table, "grade")
    rows = conn.execute(sql.SQL("SELECT code, {}, ST_AsBinary(geom) FROM {} {}").format(
        sql.Identifier(column), sql.Identifier(table), sql.SQL(where))).fetchall()
    aeqd = Transformer.from_crs(4326, f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84",
                                always_xy=True)
    geoms = shapely.segmentize(shapely.from_wkb([bytes(r[2]) for r in rows]), 0.0003)
    local = shapely.transform(geoms, lambda c: np.column_stack(aeqd.transform(c[:, 0], c[:, 1])))
    distance = shapely.distance(local, shapely.Point(0, 0))
    return [(r[0], r[1], float(d)) for r, d in zip(rows, distance)]


@pytest.fixture(scope="module")
def demo_points(seeded_url):
    """Points spread over the populated part of the demonstration city, fixed."""
    rng = random.Random(20261123)
    with psycopg.connect(seeded_url) as conn:
        cells = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM risk_units "
                             "WHERE GeometryType(geom) = 'POINT' ORDER BY id").fetchall()
    return [(lon + rng.uniform(-0.01, 0.01), lat + rng.uniform(-0.01, 0.01))
            for lon, lat in rng.sample(cells, 6)]


@pytest.mark.parametrize("radius", [1000, 2500, 5000])
def test_counts_in_the_demonstration_city_match_independent_distances(seeded_url, demo_points,
                                                                       radius):
    checked = 0
    with psycopg.connect(seeded_url) as conn:
        for lon, lat in demo_points:
            try:
                answer = situation(conn, lon, lat, radius, RULES, MODEL, None, None, None,
                                   network=None)
            except OutsideCityError:
                continue
            units = _independent(conn, "risk_units", lon, lat)
            points = _independent(conn, "monitoring_points", lon, lat)
            dangers = _independent(conn, "hidden_dangers", lon, lat, "WHERE status = 'open'")
            shelters = _independent(conn, "shelters", lon, lat)
            for rows in (units, points, dangers, shelters):
                # nothing so near the edge that the two measures could disagree
                assert not [r for r in rows if abs(r[2] - radius) < 0.05]
            inside = lambda rows: [r for r in rows if r[2] <= radius]
            expected = {g: sum(1 for r in inside(units) if (r[1] or "ungraded") == g)
                        for g in ("red", "orange", "yellow", "blue", "ungraded")}
            assert answer["risk_units"]["by_grade"] == expected
            red = sorted((r for r in inside(units) if r[1] == "red"), key=lambda r: r[2])
            assert _codes(answer["risk_units"]["red"]["items"]) == [r[0] for r in red][:50]
            for item, row in zip(answer["risk_units"]["red"]["items"], red):
                assert item["distance_m"] == pytest.approx(row[2], abs=0.15)
            assert answer["monitoring_points"]["total"] == len(inside(points))
            assert answer["hidden_dangers"]["open"] == len(inside(dangers))
            assert answer["hidden_dangers"]["by_level"]["major"] == sum(
                1 for r in inside(dangers) if r[1] == "major")
            near = sorted(inside(shelters), key=lambda r: r[2])
            assert answer["shelters"]["count"] == len(near)
            assert _codes(answer["shelters"]["items"]) == [r[0] for r in near][:50]
            checked += 1
    assert checked >= 4


# --- the rules file ------------------------------------------------------------------------------

def test_the_rules_give_the_defaults_and_the_cap():
    assert (RULES.default_radius_m, RULES.max_radius_m) == (1000.0, 5000.0)
    assert RULES.ring_steps_m[:3] == (500.0, 1000.0, 2000.0)
    assert RULES.nearest_k["fire_station"] == 3 and RULES.max_items == 50


@pytest.mark.parametrize(("text", "words"), [
    ("[radius]\ndefault_m = 1000\nmax_m = -1\n", "radius.max_m"),
    (("[radius]\ndefault_m = 9000\nmax_m = 5000\n[population]\nrings_m = [500]\n"
     "[lists]\nmax_items = 5\n"), "default_m is above"),
    ("[radius]\ndefault_m = 1000\nmax_m = 5000\n[population]\nrings_m = 500\n", "rings_m"),
    (("[radius]\ndefault_m = 1000\nmax_m = 5000\n[population]\nrings_m = [500]\n"
     "[nearest]\ntanks = 2\n[lists]\nmax_items = 5\n"), "nearest.tanks"),
])
def test_bad_rules_are_refused_naming_the_key(tmp_path, text, words):
    path = tmp_path / "situation.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SituationRulesError, match=words):
        load_rules(path)
