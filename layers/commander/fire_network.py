"""Fire-station reach over the road network, where one is loaded (`roads` with its nodes and
times: `source`, `target`, `cost_s`, `reverse_cost_s`, built by `layers.commander.network`)
and pgRouting is installed.

pgRouting's `pgr_drivingDistance` gives, from every station's node, the time to each node
within the driving time. As for other trips (`layers.commander.routing`), the legs off the
roads are straight at the access speed of `[network]` in `layers/rules/travel.toml`: a crew
joins the network at the road end nearest the station; from a reached node it drives on
along each road it may take (one-way roads one way) as far as the time left allows, part of
the way when the time runs out; a cell's time is that of the stretch of road reached near
it (sampled every `SAMPLE_M`) plus the straight leg to its centre, at most `max_access_m`.
A station farther than `max_access_m` from every road end keeps the estimate
(`layers.commander.fire`). Without roads or pgRouting, `network_ready` is false and the
estimate is used everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
import shapely
from psycopg import sql
from scipy.spatial import cKDTree

from geodata.datums import project_to_local
from geodata.population import cell_centres
from layers.commander.fire import (
    FireInputs,
    Reach,
    ReachBuilder,
    cell_window,
    estimate_station,
    speeds,
)
from layers.commander.routing import load_network_params
from layers.commander.travel import TravelModel

SAMPLE_M = 20.0    # spacing of the points taken along the roads reached
NEAREST = 8        # road points looked at around each cell (the quickest of them counts)

# The network as pgRouting reads it: a negative cost closes a direction.
EDGES = ("SELECT id, source, target, cost_s AS cost, coalesce(reverse_cost_s, "
         "CASE WHEN oneway THEN -1 ELSE cost_s END) AS reverse_cost FROM roads "
         "WHERE source IS NOT NULL AND target IS NOT NULL AND cost_s > 0")

def network_ready(conn: psycopg.Connection) -> bool:
    """Whether pgRouting is installed and a road network with its nodes is loaded."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgrouting') AND "
        "to_regclass('roads') IS NOT NULL").fetchone()
    if not row[0]:
        return False
    return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM roads WHERE source IS NOT NULL "
                             "AND target IS NOT NULL AND cost_s > 0)").fetchone()[0])


@dataclass
class Roads:
    source: np.ndarray          # index into `nodes` of each road's first end
    target: np.ndarray
    nodes: np.ndarray           # the node ids of the network
    cost: np.ndarray            # seconds from source to target; < 0: closed
    reverse: np.ndarray         # seconds from target to source; < 0: closed
    geoms: np.ndarray           # EPSG:4545
    length: np.ndarray          # metres


def _roads(conn: psycopg.Connection) -> Roads:
    rows = conn.execute(sql.SQL("SELECT e.source, e.target, e.cost, e.reverse_cost, "
                                "ST_AsBinary(r.geom) FROM ({}) e JOIN roads r USING (id) "
                                "ORDER BY e.id").format(sql.SQL(EDGES))).fetchall()
    cols = list(zip(*rows))
    geoms = project_to_local([shapely.from_wkb(bytes(g)) for g in cols[4]])
    ends = np.array(cols[0] + cols[1], dtype=np.int64)
    nodes, index = np.unique(ends, return_inverse=True)
    return Roads(index[:len(rows)], index[len(rows):], nodes,
                 np.array(cols[2], dtype=float), np.array(cols[3], dtype=float),
                 np.asarray(geoms, dtype=object), shapely.length(geoms))


def _joins(conn: psycopg.Connection, inputs: FireInputs) -> tuple[np.ndarray, np.ndarray]:
    """Per station, the node of the nearest road end and its distance (node -1: none)."""
    rows = conn.execute(
        """SELECT s.id, e.node, ST_Distance(e.pt::geography, s.geom::geography)
           FROM resources s CROSS JOIN LATERAL (
               SELECT end_.node, end_.pt FROM (
                   SELECT r.source, r.target, r.geom FROM roads r
                   WHERE r.source IS NOT NULL AND r.target IS NOT NULL AND r.cost_s > 0
                   ORDER BY r.geom <-> s.geom LIMIT 8) c
               CROSS JOIN LATERAL (VALUES (c.source, ST_StartPoint(c.geom)),
                                          (c.target, ST_EndPoint(c.geom))) AS end_(node, pt)
               ORDER BY end_.pt <-> s.geom LIMIT 1) e
           WHERE s.type = 'fire_station'""").fetchall()
    found = {r[0]: (r[1], r[2]) for r in rows}
    node = np.array([found.get(int(i), (-1, np.inf))[0] for i in inputs.station_id], np.int64)
    metres = np.array([found.get(int(i), (-1, np.inf))[1] for i in inputs.station_id], float)
    return node, metres


def _node_times(conn: psycopg.Connection, nodes: list[int], seconds: float) -> dict:
    """For each start node, {node: seconds} within `seconds` (pgr_drivingDistance)."""
    times: dict[int, dict[int, float]] = {n: {} for n in nodes}
    if not nodes:
        return times
    cur = conn.execute("SELECT * FROM pgr_drivingDistance(%s, %s::bigint[], %s, true)",
                       [EDGES, nodes, seconds])
    for row in cur:  # seq, start, node, edge, cost, agg_cost (the start's name varies)
        times[int(row[1])][int(row[2])] = float(row[5])
    return times


def _samples(roads: Roads, times: dict[int, float], budget: float):
    """Points along the roads reached within `budget` from nodes reached at `times`, with
    their times: (x, y, seconds)."""
    node_time = np.full(len(roads.nodes), np.inf)
    if times:
        ids = np.fromiter(times, dtype=np.int64, count=len(times))
        where = np.searchsorted(roads.nodes, ids)
        node_time[where] = np.fromiter(times.values(), dtype=float, count=len(times))
    pieces = []                                  # (roads, metres reached, t0, s per m, way)
    for ends, cost, forward in ((roads.source, roads.cost, True),
                                (roads.target, roads.reverse, False)):
        start = node_time[ends]
        ok = np.isfinite(start) & (cost > 0) & (start <= budget)
        k = np.nonzero(ok)[0]
        per_m = cost[k] / np.maximum(roads.length[k], 1e-9)
        reach_m = np.minimum(roads.length[k], (budget - start[k]) / per_m)
        pieces.append((k, reach_m, start[k], per_m, forward))
    xs, ys, ts = [], [], []
    for k, reach_m, t0, per_m, forward in pieces:
        count = np.floor(reach_m / SAMPLE_M).astype(int) + 2    # both ends and between
        along = np.concatenate([np.linspace(0, r, c) for r, c in zip(reach_m, count)]) \
            if len(k) else np.zeros(0)
        road = np.repeat(k, count)
        t = np.repeat(t0, count) + along * np.repeat(per_m, count)
        position = along if forward else roads.length[road] - along
        points = shapely.line_interpolate_point(roads.geoms[road], position)
        xs.append(shapely.get_x(points))
        ys.append(shapely.get_y(points))
        ts.append(t)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)


def network_reach(conn: psycopg.Connection, inputs: FireInputs, model: TravelModel) -> Reach:
    """Every station's reach within the driving time over the road network."""
    params = load_network_params()
    access = params.access_speed_kmh / 3.6                      # m/s off the roads
    builder = ReachBuilder(inputs, model)
    roads = _roads(conn)
    node, metres = _joins(conn, inputs)
    joined = (node >= 0) & (metres <= params.max_access_m)
    join_s = metres / access
    times = _node_times(conn, sorted({int(n) for n in node[joined]}), builder.driving)
    xs, ys = cell_centres(inputs.raster.transform, inputs.raster.shape)
    cell_speed = None
    reach_m = params.max_access_m
    for i in range(len(inputs.station_id)):
        budget = builder.driving - join_s[i]
        if not joined[i] or budget < 0:
            cell_speed = speeds(model, inputs.density.values) if cell_speed is None else cell_speed
            estimate_station(inputs, model, builder, i, cell_speed)
            continue
        sx, sy, st = _samples(roads, times[int(node[i])], budget)
        if not len(sx):
            continue
        r0, c0, h, w = cell_window(inputs, sx.min() - reach_m, sy.min() - reach_m,
                                   sx.max() + reach_m, sy.max() + reach_m)
        if not h or not w:
            continue
        gx, gy = np.meshgrid(xs[c0:c0 + w], ys[r0:r0 + h])
        k = min(NEAREST, len(sx))
        distance, nearest = cKDTree(np.column_stack([sx, sy])).query(
            np.column_stack([gx.ravel(), gy.ravel()]), k=k, distance_upper_bound=reach_m)
        distance, nearest = distance.reshape(-1, k), nearest.reshape(-1, k)
        near = np.isfinite(distance)
        leg = np.where(near, distance / access, np.inf)
        at = np.where(near, st[np.minimum(nearest, len(st) - 1)], np.inf)
        seconds = ((at + leg).min(axis=1) + join_s[i]).reshape(h, w)
        mask = (seconds <= builder.driving) & (inputs.zone[r0:r0 + h, c0:c0 + w] > 0)
        builder.add(i, r0, c0, seconds, mask)
    return builder.done("network", {
        "method": "network", "edges": len(roads.source),
        "access_speed_kmh": params.access_speed_kmh, "max_access_m": params.max_access_m,
        "stations_on_the_estimate": int((~joined).sum()),
        "note": "times over the road network (pgRouting pgr_drivingDistance), each road at "
                "its speed; straight legs between the roads and the station or the cell's "
                "centre at the access speed; a station farther than max_access_m from every "
                "road end keeps the estimate"})
