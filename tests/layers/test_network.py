"""The road network: built from imported roads, routed with pgRouting, used by `nearest`.

A small hand-made network (metres east/north of an origin in 雁塔区, drawn in EPSG:4545 and
imported like any file), every road at 36 km/h (10 m/s):

            A (2000, 1530)
            ●━━━━━━━━━━━┓ R4 (from (3000, 0) north, then west to A)
                        ┃
    B ●                 ┃
    (0,30)━━━━R1━━━━━━━━┻━━━R2━━━━━━━━R3━━━━ (4000, 0)       ✕ incident (2000, 30)
    ┃                   ┃
    ┗━━━━━━━━R5━━━━━━━━━┛   the southern loop, 4000 m

Straight lines put A (1,500 m) before B (2,000 m); over the roads B needs 2,000 m and A
3,500 m. With R1 one-way towards the west, B must take the loop (4,000 m) and A comes first.
"""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString

from geodata.importers import import_file
from layers.commander.nearest import nearest_answer
from layers.commander.network import build_network
from layers.commander.plans import run
from layers.commander.routing import load_network_params, network_state
from layers.commander.travel import load_travel

ORIGIN = (108.95, 34.20)
SPEED_MS = 10.0
TO_GK = Transformer.from_crs(4326, 4545, always_xy=True)
TO_WGS = Transformer.from_crs(4545, 4326, always_xy=True)
OX, OY = TO_GK.transform(*ORIGIN)
INCIDENT = (2000, 30)
A, B = (2000, 1530), (0, 30)


def lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_WGS.transform(OX + x, OY + y)


def road(code, coords, oneway=False, speed=36.0, cls="primary"):
    return {"code": code, "name": f"路{code}", "class": cls, "speed_kmh": speed,
            "oneway": oneway,
            "geometry": LineString([(OX + x, OY + y) for x, y in coords])}


def network(r1_oneway: bool = False) -> list[dict]:
    # one-way R1 is drawn east to west: traffic goes the way the line is drawn
    r1 = road("R1", [(2000, 0), (0, 0)], oneway=True) if r1_oneway else road("R1", [(0, 0), (2000, 0)])
    return [r1, road("R2", [(2000, 0), (3000, 0)]), road("R3", [(3000, 0), (4000, 0)]),
            road("R4", [(3000, 0), (3000, 1500), (2000, 1500)]),
            road("R5", [(0, 0), (0, -1000), (2000, -1000), (2000, 0)])]


def write_roads(tmp_path, rows, name="roads.geojson"):
    path = tmp_path / name
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4545)
    frame.to_file(path)
    return path


def load(url, tmp_path, rows):
    """Import the roads and build their network in one transaction, as `onemap import` does."""
    with psycopg.connect(url) as conn, conn.transaction():
        import_file(conn, write_roads(tmp_path, rows), "roads")
        return build_network(conn)


@pytest.fixture
def db(scratch_base_url):
    """Districts only, plus the two rescue teams A and B."""
    with psycopg.connect(scratch_base_url) as conn:
        for code, (x, y) in (("A", A), ("B", B)):
            conn.execute("INSERT INTO resources (code, name, type, district_code, people, geom) "
                         "VALUES (%s, %s, 'rescue_team', '610113', 10, "
                         "ST_SetSRID(ST_MakePoint(%s, %s), 4326))", [code, f"队伍{code}",
                                                                      *lonlat(x, y)])
    return scratch_base_url


def ask(url, point=INCIDENT, network="auto"):
    with psycopg.connect(url) as conn:
        return nearest_answer(conn, *lonlat(*point), "rescue_team", 2, load_travel(), None,
                              network=network)


def access_s(*metres) -> float:
    return sum(metres) / (load_network_params().access_speed_kmh / 3.6)


def test_the_network_is_numbered_at_the_line_ends_and_timed_both_ways(db, tmp_path):
    rows = network(r1_oneway=True)
    # an end 0.5 m from R3's end still meets it (snapped within 1 m); 5 m does not
    rows.append(road("R6", [(4000.5, 0), (4000.5, 800)], cls="residential", speed=18))
    rows.append(road("R7", [(4005, 0), (4005, -800)]))
    report = load(db, tmp_path, rows)
    assert (report.roads, report.oneway, report.pgrouting is not None) == (7, 1, True)
    with psycopg.connect(db) as conn:
        got = {code: (s, t, c, r, m) for code, s, t, c, r, m in conn.execute(
            "SELECT code, source, target, cost_s, reverse_cost_s, ST_Length(geom::geography) "
            "FROM roads").fetchall()}
    assert got["R6"][0] == got["R3"][1]             # snapped together
    assert got["R7"][0] not in (got["R3"][1], got["R6"][0])
    assert got["R1"][1] == got["R5"][0] and got["R1"][0] == got["R2"][0] == got["R5"][1]
    nodes = {n for s, t, *_ in got.values() for n in (s, t)}
    # (0,0) (2000,0) (3000,0) (4000,0) A's end, R6's and R7's far ends, R7's near end
    assert report.nodes == len(nodes) == 8
    for code, (_, _, cost, reverse, metres) in got.items():
        speed = 18 / 3.6 if code == "R6" else SPEED_MS
        assert cost == pytest.approx(metres / speed)
        assert reverse == (-1 if code == "R1" else pytest.approx(metres / speed))
    assert got["R4"][2] == pytest.approx(250, rel=1e-3)    # 2,500 m of line at 10 m/s


def test_network_times_differ_from_the_estimate_and_reorder_the_answer(db, tmp_path):
    estimated = ask(db, network=None)
    assert [h.row[1] for h in estimated.helpers] == ["A", "B"]
    assert estimated.travel["method"] == "estimate"
    load(db, tmp_path, network())
    routed = ask(db)
    assert routed.travel["method"] == "network" and routed.road is not None
    assert [h.row[1] for h in routed.helpers] == ["B", "A"]
    b, a = routed.helpers
    assert {a.method, b.method} == {"network"}
    assert b.eta_s == pytest.approx(2000 / SPEED_MS + access_s(30, 30), rel=2e-3)
    assert a.eta_s == pytest.approx(3500 / SPEED_MS + access_s(30, 30), rel=2e-3)
    # straight-line distances are unchanged
    assert [h.distance_m for h in routed.helpers] == pytest.approx(
        [h.distance_m for h in reversed(estimated.helpers)])


def test_a_one_way_street_changes_the_answer(db, tmp_path):
    load(db, tmp_path, network(r1_oneway=True))
    a, b = ask(db).helpers
    assert (a.row[1], b.row[1]) == ("A", "B")
    assert b.eta_s == pytest.approx(4000 / SPEED_MS + access_s(30, 30), rel=2e-3)  # the loop


def test_a_point_off_the_network_and_a_server_without_pgrouting_fall_back_to_the_estimate(
        db, tmp_path):
    load(db, tmp_path, network())
    far = (2000, -1000 - load_network_params().max_access_m - 200)
    answer = ask(db, point=far)
    assert answer.travel["method"] == "estimate" and "from every road" in answer.travel["network"]
    assert {h.method for h in answer.helpers} == {"estimate"}
    with psycopg.connect(db) as conn:
        conn.execute("DROP EXTENSION pgrouting")
        conn.commit()
        state = run(conn, network_state())
    assert not state.usable and "pgRouting extension is not installed" in state.why_not()
    assert ask(db).travel["method"] == "estimate"


def test_roads_reimported_are_rebuilt_and_a_joined_multilinestring_is_one_road(db, tmp_path):
    load(db, tmp_path, network())
    rows = network()
    # R5 as two parts that join end to end, in the drawn direction: one line
    parts = [[(OX + x, OY + y) for x, y in part]
             for part in ([(0, 0), (0, -1000)], [(0, -1000), (2000, -1000), (2000, 0)])]
    rows[4]["geometry"] = MultiLineString(parts)
    rows[0]["geometry"] = LineString([(OX + x, OY + y) for x, y in ((0, 0), (0, 200), (2000, 0))])
    report = load(db, tmp_path, rows)
    assert report.roads == 5
    with psycopg.connect(db) as conn:
        kind, metres = conn.execute("SELECT GeometryType(geom), ST_Length(geom::geography) "
                                    "FROM roads WHERE code = 'R5'").fetchone()
        cost = conn.execute("SELECT cost_s FROM roads WHERE code = 'R1'").fetchone()[0]
    assert kind == "LINESTRING" and metres == pytest.approx(4000, rel=1e-3)
    assert cost == pytest.approx((200 + (2000 ** 2 + 200 ** 2) ** 0.5) / SPEED_MS, rel=1e-3)
