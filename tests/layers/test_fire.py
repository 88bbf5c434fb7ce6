"""The fire stations' reach (layers/commander/fire.py, fire_layer.py): the hand-made city of
tests/fire_city.py, whose docstring works the figures out by hand (S1 on core land reaches
its own cell and the four next to it, 64,000 residents; S2 on rural land reaches 13 cells,
9,200 residents, but not the urban cell 2 km north of it, where it would drive at urban
speed), the layer and when it is rebuilt, then the demonstration city.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import psycopg
import pytest
from fire_city import MODEL, OUTSIDE_A, OUTSIDE_B, RULES, S1_CELLS, S2_CELLS, make_city

from layers.commander.fire import analyse, load_fire_rules, speeds
from layers.commander.fire_layer import (
    coverage_rows,
    is_stale,
    rebuild_coverage,
    refresh_if_stale,
)
from layers.commander.travel import TravelRulesError, load_travel
from layers.shelters.inputs import MissingPopulationError


def _cells(mask: np.ndarray, r0: int = 0, c0: int = 0) -> set[tuple[int, int]]:
    return {(int(r) + r0, int(c) + c0) for r, c in zip(*np.nonzero(mask))}


@pytest.fixture
def city(scratch_base_url):
    ids = make_city(scratch_base_url)
    return scratch_base_url, ids


def test_the_hand_made_city_reach_cell_by_cell(city):
    url, _ = city
    with psycopg.connect(url) as conn:
        cover = analyse(conn, MODEL, RULES)
    found = cover.reach
    assert list(found.station_type) == ["core", "rural"]
    (r1, c1, m1), (r2, c2, m2) = found.windows
    assert _cells(m1, r1, c1) == S1_CELLS
    assert _cells(m2, r2, c2) == S2_CELLS
    assert _cells(found.reached) == S1_CELLS | S2_CELLS
    assert _cells(found.first == 0) == S1_CELLS and _cells(found.first == 1) == S2_CELLS


def test_the_hand_made_city_figures(city):
    url, ids = city
    with psycopg.connect(url) as conn:
        result = analyse(conn, MODEL, RULES).report
    a, b = result.districts
    assert (a["district_code"], a["stations"], b["stations"]) == ("610102", 1, 1)
    assert (a["residents"], a["covered_residents"], a["residents_outside_reach"]) == (
        87_800, 66_400, 21_400)
    assert a["share_covered"] == round(66_400 / 87_800, 4)
    assert (a["built_up_km2"], a["built_up_outside_km2"], a["built_up_outside_residents"]) == (
        11.0, 5.0, 20_000)
    assert a["share_built_up_covered"] == round(6 / 11, 4)
    assert (b["residents"], b["covered_residents"], b["share_covered"]) == (
        12_800, 6_800, round(6_800 / 12_800, 4))
    assert (b["built_up_km2"], b["built_up_outside_km2"], b["built_up_outside_residents"]) == (
        3.0, 1.0, 6_000)
    city_ = result.city
    assert (city_["stations"], city_["residents"], city_["covered_residents"]) == (
        2, 100_600, 73_200)
    assert (city_["built_up_km2"], city_["built_up_outside_km2"],
            city_["built_up_outside_residents"], city_["stations_over_area_limit"]) == (
        14.0, 6.0, 26_000, 0)
    s1, s2 = result.stations
    assert (s1["id"], s1["code"], s1["area_type"], s1["reach_km2"], s1["reach_residents"]) == (
        ids["S1"], "S1", "core", 5.0, 64_000)
    assert (s1["first_due_km2"], s1["area_limit_km2"], s1["over_area_limit"]) == (5.0, 7.0, False)
    assert (s2["area_type"], s2["reach_km2"], s2["reach_residents"], s2["first_due_km2"]) == (
        "rural", 13.0, 9_200, 13.0)
    assert (s2["area_limit_km2"], s2["over_area_limit"]) == (15.0, False)
    params = result.parameters
    assert (params["response_s"], params["turnout_s"], params["driving_s"]) == (300, 60, 240)
    assert params["standard"] == "GB 51080-2015 §4.1.3"
    assert params["reach_m"] == {"core": 1026, "urban": 1538, "suburban": 2051, "rural": 2564}
    assert params["travel"]["detour_factor"] == 1.3


def test_a_tighter_edge_limit_puts_the_rural_station_over_it(city):
    url, _ = city
    with psycopg.connect(url) as conn:
        result = analyse(conn, MODEL, dataclasses.replace(RULES, edge_area_limit_km2=12.0)).report
    assert [s["over_area_limit"] for s in result.stations] == [False, True]
    assert result.city["stations_over_area_limit"] == 1


def test_the_hand_made_city_layer(city):
    url, ids = city
    with psycopg.connect(url) as conn:
        with conn.transaction():
            assert rebuild_coverage(conn, MODEL, RULES) == 5
        rows = conn.execute(
            "SELECT kind, station_id, district_code, residents, area_km2, method, response_s, "
            "synthetic, ST_NumGeometries(geom), ST_Area(ST_Transform(geom, 4545)) / 1e6, "
            "ST_IsValid(geom) FROM fire_coverage ORDER BY kind, station_id, district_code"
        ).fetchall()
    assert [r[:8] for r in rows] == [
        ("outside", None, "610102", 20_000, 5.0, "estimate", 300.0, False),
        ("outside", None, "610103", 6_000, 1.0, "estimate", 300.0, False),
        ("station", ids["S1"], "610102", 64_000, 5.0, "estimate", 300.0, False),
        ("station", ids["S2"], "610103", 9_200, 13.0, "estimate", 300.0, False),
        ("union", None, None, 73_200, 18.0, "estimate", 300.0, False),
    ]
    # five separate squares in A; the union in two parts (S1's and S2's reach do not meet)
    assert [r[8] for r in rows] == [5, 1, 1, 1, 2]
    for row in rows:
        assert row[9] == pytest.approx(row[4], rel=1e-6) and row[10]


def test_the_layer_is_rebuilt_when_its_inputs_change(city):
    url, ids = city
    with psycopg.connect(url) as conn:
        assert is_stale(conn)  # never built
        built, seconds = refresh_if_stale(conn)
        assert built == 5 and seconds >= 0
        assert not is_stale(conn, MODEL.fire_response_s)
        assert refresh_if_stale(conn) is None
        assert is_stale(conn, 600.0)  # built with another response time
        # S2 moves to the centre of (3, 6): stations changed
        conn.execute("UPDATE resources SET geom = ST_Translate(geom, 0.0105, -0.009) "
                     "WHERE id = %s", [ids["S2"]])
        conn.commit()
        assert is_stale(conn)
        assert refresh_if_stale(conn) is not None
        conn.execute("DELETE FROM resources WHERE type = 'fire_station'")
        conn.commit()
        # no station: no reach, every built-up cell outside it (A 86,000, B 8,700)
        assert refresh_if_stale(conn)[0] == 2
        outside = conn.execute("SELECT sum(residents), sum(area_km2) FROM fire_coverage "
                               "WHERE kind = 'outside'").fetchone()
    assert outside == (94_700, 14.0)


def test_the_outside_cells_are_the_hand_worked_ones(city):
    url, _ = city
    with psycopg.connect(url) as conn:
        cover = analyse(conn, MODEL, RULES)
    rows = coverage_rows(cover, RULES)
    outside = [r for r in rows if r["kind"] == "outside"]
    assert [(r["district_code"], r["residents"], r["area_km2"]) for r in outside] == [
        ("610102", 20_000, 5.0), ("610103", 6_000, 1.0)]
    # each square's centre is an outside cell's centre
    transform = cover.inputs.raster.transform
    for row, expected in zip(outside, (OUTSIDE_A, OUTSIDE_B)):
        centres = {(int(r), int(c)) for c, r in (
            ~transform @ (g.centroid.x, g.centroid.y) for g in row["geom"].geoms)}
        assert centres == expected


def test_without_a_population_surface_nothing_is_built(scratch_base_url):
    with psycopg.connect(scratch_base_url) as conn:
        with pytest.raises(MissingPopulationError, match="onemap seed"):
            analyse(conn, MODEL, RULES)
        assert refresh_if_stale(conn) is None


def test_speeds_follow_the_travel_models_area_types():
    model = load_travel()
    density = np.array([0, 999, 1000, 4999, 5000, 14_999, 15_000, 80_000], dtype=float)
    expected = [model.speeds_kmh[t] for t in model.area_type(density)]
    assert list(speeds(model, density)) == expected


def test_the_fire_rules_are_read_and_checked(tmp_path):
    rules = load_fire_rules()
    assert rules.built_up_per_km2 > 0 and rules.area_limit_km2 == 7
    assert rules.edge_area_limit_km2 == 15 and rules.limit_km2("rural") == 15
    assert rules.limit_km2("core") == 7 and "51080" in rules.standard
    bad = tmp_path / "travel.toml"
    bad.write_text("[fire]\nbuilt_up_per_km2 = -1\narea_limit_km2 = 7\n"
                   "edge_area_limit_km2 = 15\n", encoding="utf-8")
    with pytest.raises(TravelRulesError, match="fire.built_up_per_km2"):
        load_fire_rules(bad)
    bad.write_text("[fire]\nbuilt_up_per_km2 = 1000\narea_limit_km2 = 7\n"
                   "edge_area_limit_km2 = 15\nedge_area_types = ['exurb']\n", encoding="utf-8")
    with pytest.raises(TravelRulesError, match="edge_area_types"):
        load_fire_rules(bad)


# -- the demonstration city -------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        cover = analyse(conn)
        census = dict(conn.execute("SELECT code, population FROM districts").fetchall())
        stations = conn.execute("SELECT count(*) FROM resources WHERE type = 'fire_station'"
                                ).fetchone()[0]
    return cover, census, stations


def test_every_demonstration_district_has_figures(demo):
    cover, census, stations = demo
    result = cover.report
    assert [d["district_code"] for d in result.districts] == sorted(census)
    for d in result.districts:
        assert d["residents"] == census[d["district_code"]]
        assert 0 <= d["covered_residents"] <= d["residents"]
        assert 0 <= d["share_covered"] <= 1 and 0 <= d["share_built_up_covered"] <= 1
        assert 0 <= d["built_up_outside_km2"] <= d["built_up_km2"]
        assert d["built_up_outside_residents"] <= d["residents_outside_reach"]
    assert sum(d["stations"] for d in result.districts) == result.city["stations"] == stations
    assert result.city["residents"] == sum(census.values())
    assert 0 < result.city["share_covered"] < 1
    # the dense core is better covered than the outer counties
    share = {d["district_code"]: d["share_covered"] for d in result.districts}
    assert share["610113"] > share["610124"]


def test_the_union_holds_the_covered_residents_of_every_district(demo):
    cover, _, stations = demo
    rows = coverage_rows(cover, load_fire_rules())
    [union] = [r for r in rows if r["kind"] == "union"]
    assert union["residents"] == sum(d["covered_residents"] for d in cover.report.districts)
    assert union["residents"] == cover.report.city["covered_residents"]
    station_rows = [r for r in rows if r["kind"] == "station"]
    assert len(station_rows) == stations
    assert union["area_km2"] <= sum(r["area_km2"] for r in station_rows) + 1e-6
    outside = [r for r in rows if r["kind"] == "outside"]
    assert sum(r["residents"] for r in outside) == cover.report.city["built_up_outside_residents"]
    assert sum(r["area_km2"] for r in outside) == pytest.approx(
        cover.report.city["built_up_outside_km2"], abs=0.01)
