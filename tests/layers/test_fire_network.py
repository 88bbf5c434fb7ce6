"""Fire-station reach over a road network (layers/commander/fire_network.py), on the
hand-made city of tests/fire_city.py with a few roads, in km of EPSG:4545 cell centres
(row, column), at 100 s per km (36 km/h):

    two-way  (2,3) - (2,4) - (2,5) - (2,6)   along row 2, nodes at the centres
    two-way  (2,6) - (1,6) - (0,6)           up column 6
    one-way  (0,5) → (1,5) → (2,5)           down column 5: no way north from (2,5)

S2 stands on the node at (2,5): 240 s take it west to (2,4) at 100 s and (2,3) at 200 s (the
road ends there), east to (2,6) at 100 s, north to (1,6) at 200 s and 400 m on towards
(0,6); not up the one-way road. Legs off the roads are straight at 10 km/h (2.8 m/s), at
most 500 m ([network] of travel.toml): every other centre is 1 km from the roads, and
(0,6)'s would need the road to 500 m short of it, at 250 s. Reached: the cells on the
roads reached in time, (2,3) (2,4) (2,5) (2,6) (1,6), residents 2000 + 700 + 500 + 1500 +
400 = 5,100. S1's nearest road end is (2,3), 2.2 km away (beyond 500 m): it keeps the
estimate, 64,000 residents in its five cells. The union: 69,100.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import shapely
from fire_city import (
    CELL,
    MODEL,
    RESIDENTS,
    RULES,
    S1_CELLS,
    X0,
    Y0,
    make_city,
    to_wgs84,
)

from layers.commander.fire import analyse
from layers.commander.fire_layer import rebuild_coverage
from layers.commander.fire_network import network_ready

S2_NETWORK_CELLS = {(2, 3), (2, 4), (2, 5), (2, 6), (1, 6)}


def _centre(row: int, col: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL, Y0 + (RESIDENTS.shape[0] - row - 0.5) * CELL


@pytest.fixture
def city_with_roads(scratch_base_url):
    ids = make_city(scratch_base_url)
    with psycopg.connect(scratch_base_url) as conn:
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM pg_available_extensions "
                            "WHERE name = 'pgrouting')").fetchone()[0]:
            pytest.skip("pgRouting is not installed on this server")
        assert not network_ready(conn)  # no extension yet: the estimate
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
        assert not network_ready(conn)  # no roads yet
        node = {cell: n for n, cell in enumerate(
            [(2, 3), (2, 4), (2, 5), (2, 6), (1, 6), (0, 6), (0, 5), (1, 5)], start=1)}
        edges = [((2, 3), (2, 4), False), ((2, 4), (2, 5), False), ((2, 5), (2, 6), False),
                 ((2, 6), (1, 6), False), ((1, 6), (0, 6), False),
                 ((0, 5), (1, 5), True), ((1, 5), (2, 5), True)]
        for k, (a, b, oneway) in enumerate(edges):
            line = to_wgs84(shapely.LineString([_centre(*a), _centre(*b)]))
            conn.execute(
                "INSERT INTO roads (code, class, speed_kmh, oneway, geom, source, target, "
                "cost_s, reverse_cost_s) VALUES (%s, 'primary', 36, %s, "
                "ST_GeomFromText(%s, 4326), %s, %s, 100, %s)",
                [f"R{k}", oneway, line.wkt, node[a], node[b], None if oneway else 100])
        conn.commit()
    return scratch_base_url, ids


def _cells(mask: np.ndarray, r0: int = 0, c0: int = 0) -> set[tuple[int, int]]:
    return {(int(r) + r0, int(c) + c0) for r, c in zip(*np.nonzero(mask))}


def test_the_reach_over_the_roads(city_with_roads):
    url, _ = city_with_roads
    with psycopg.connect(url) as conn:
        assert network_ready(conn)
        cover = analyse(conn, MODEL, RULES)
    found = cover.reach
    assert found.method == "network"
    (r1, c1, m1), (r2, c2, m2) = found.windows
    assert _cells(m1, r1, c1) == S1_CELLS  # too far from a road: the estimate
    assert _cells(m2, r2, c2) == S2_NETWORK_CELLS
    # on the node: the times of the nodes
    assert found.seconds[2, 4] == pytest.approx(100, abs=1) and \
        found.seconds[1, 6] == pytest.approx(200, abs=1)
    result = cover.report
    assert result.city["covered_residents"] == 69_100
    assert [s["reach_residents"] for s in result.stations] == [64_000, 5_100]
    params = result.parameters
    assert params["method"] == "network" and params["travel"]["stations_on_the_estimate"] == 1
    assert params["travel"]["edges"] == 7 and params["estimate"]["method"] == "estimate"


def test_the_layer_says_network(city_with_roads):
    url, _ = city_with_roads
    with psycopg.connect(url) as conn:
        with conn.transaction():
            rebuild_coverage(conn, MODEL, RULES)
        rows = conn.execute("SELECT DISTINCT method FROM fire_coverage").fetchall()
        union = conn.execute("SELECT residents, area_km2 FROM fire_coverage "
                             "WHERE kind = 'union'").fetchone()
    assert rows == [("network",)] and union == (69_100, 10.0)
