"""Travel times over the imported road network, with pgRouting.

A trip from a resource to a point:

    resource ─(straight, access speed)─► its nearest road ─(roads, each at its speed)─►
    the point's nearest road ─(straight, access speed)─► point

Each end joins its nearest road at the closest spot along it, and leaves that road by one of
its two ends (only forwards on a one-way road: traffic goes the way the line is drawn).
Between road ends, `pgr_dijkstraCost` gives the quickest time over the roads in the box
around the trip's ends (widened by `search_margin_m`). The parameters are in
`layers/rules/travel.toml` ([network]); a trip whose end is farther than `max_access_m` from
every road, or that the network cannot make, falls back to the estimate of
`layers.commander.travel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from psycopg import sql

from geodata.datums import XIAN_GK
from layers.commander.plans import Plan
from layers.commander.travel import RULES_FILE, read_travel_rules, travel_number

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
LOCAL_SRID = XIAN_GK.to_epsg()   # metres along a road are measured in the city's own CRS

# What the state is read again after: the roads' data version (bumped by every change to
# them, migration 005) in this database; and whether pgRouting is installed, read each time.
_KEY = """
SELECT current_database(), v.version, v.changed_at,
       (SELECT extversion FROM pg_extension WHERE extname = 'pgrouting')
FROM (SELECT 1) one LEFT JOIN layer_versions v ON v.name = 'roads'
"""
_COUNTS = """
SELECT count(*),
       count(*) FILTER (WHERE source IS NOT NULL AND target IS NOT NULL AND cost_s IS NOT NULL),
       max(speed_kmh) FILTER (WHERE cost_s IS NOT NULL)
FROM roads
"""
_COUNTED: dict[tuple, tuple] = {}   # roads' version -> counts (a scan of roads, kept)

# The nearest routable road of each point (the few nearest by the index, then the nearest in
# metres) and where along it the point's closest spot is (0 at its start, 1 at its end).
_SNAP = """
SELECT u.i, s.id, s.code, s.name, s.source, s.target, s.cost_s, s.reverse_cost_s, s.fraction,
       s.access_m
FROM unnest(%(lon)s::float8[], %(lat)s::float8[]) WITH ORDINALITY AS u (lon, lat, i)
CROSS JOIN LATERAL (
    SELECT q.*,
           ST_LineLocatePoint(ST_Transform(q.geom, %(srid)s),
                              ST_Transform(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326),
                                           %(srid)s)) AS fraction,
           ST_Distance(q.geom::geography,
                       ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography) AS access_m
    FROM (SELECT id, code, name, source, target, cost_s, reverse_cost_s, geom FROM roads
          WHERE source IS NOT NULL AND target IS NOT NULL AND cost_s IS NOT NULL
          ORDER BY geom <-> ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)
          LIMIT 4) q
    ORDER BY access_m
    LIMIT 1) s
ORDER BY u.i
"""

# Searched backwards from the point's road ends (every road reversed: its two directions'
# times swapped): one search per end of the point's road instead of one per resource.
_EDGES = sql.SQL(
    "SELECT id, source, target, reverse_cost_s AS cost, cost_s AS reverse_cost FROM roads "
    "WHERE source IS NOT NULL AND target IS NOT NULL AND cost_s IS NOT NULL "
    "AND geom && ST_MakeEnvelope({}, {}, {}, {}, 4326)")

_ROUTE = ("SELECT start_vid, end_vid, agg_cost "
          "FROM pgr_dijkstraCost(%(edges)s, %(starts)s::bigint[], %(ends)s::bigint[], true)")


@dataclass(frozen=True)
class NetworkParams:
    access_speed_kmh: float
    max_access_m: float
    search_margin_m: float


@lru_cache(maxsize=4)
def load_network_params(path: Path = RULES_FILE) -> NetworkParams:
    """The [network] parameters of the travel rules."""
    doc = read_travel_rules(path).get("network", {})
    values = {key: travel_number(doc, key, "network")
              for key in ("access_speed_kmh", "max_access_m", "search_margin_m")}
    return NetworkParams(**values)


@dataclass(frozen=True)
class NetworkState:
    """What the database holds of a road network."""

    roads: int
    routable: int                   # roads with their end nodes and times (built)
    max_speed_kmh: float | None
    pgrouting: str | None           # the extension's version, when installed

    @property
    def usable(self) -> bool:
        return self.routable > 0 and self.pgrouting is not None

    def why_not(self) -> str:
        """Why times are estimated although roads are loaded ('' when none are)."""
        if not self.roads:
            return ""
        if not self.routable:
            return (f"{self.roads:,} roads are loaded but their network is not built "
                    "(import them again with `onemap import --layer roads`)")
        return (f"{self.roads:,} roads are loaded but the pgRouting extension is not "
                "installed in the database (postgresql-<version>-pgrouting; then import the "
                "roads again)")


@dataclass(frozen=True)
class Network:
    """A usable road network and the parameters of trips over it."""

    state: NetworkState
    params: NetworkParams

    def describe(self, estimate: dict) -> dict:
        return {"method": "network",
                "routing": f"pgRouting {self.state.pgrouting} (pgr_dijkstraCost)",
                "roads": self.state.routable,
                "access_speed_kmh": self.params.access_speed_kmh,
                "max_access_m": self.params.max_access_m,
                "search_margin_m": self.params.search_margin_m,
                "note": "time over the roads, each at its own speed, plus the straight legs "
                        "between each end and its nearest road at access_speed_kmh; an item "
                        "with \"method\": \"estimate\" could not be routed and uses the "
                        "estimate",
                "estimate": estimate}

    def fastest_m_per_s(self) -> float:
        """No part of a trip over the network is faster than this."""
        return max(self.state.max_speed_kmh or 0.0, self.params.access_speed_kmh) / 3.6


def network_state() -> Plan[NetworkState]:
    """Read what the database holds of a road network (the roads counted once per version)."""
    (database, version, changed_at, pgrouting), = yield _KEY, {}
    key = (database, version, changed_at)
    counts = _COUNTED.get(key) if version is not None else None
    if counts is None:
        (counts,) = yield _COUNTS, {}
        if version is not None:
            if len(_COUNTED) > 64:
                _COUNTED.clear()
            _COUNTED[key] = counts
    return NetworkState(*counts, pgrouting)


def road_network(params: NetworkParams | None = None) -> Plan[Network | None]:
    """The network when it can be routed, else None."""
    state = yield from network_state()
    return Network(state, params or load_network_params()) if state.usable else None


@dataclass(frozen=True)
class Snap:
    """Where a point joins the network: its nearest road and the spot along it."""

    road_id: int
    code: str
    name: str | None
    source: int
    target: int
    cost_s: float                   # source → target
    reverse_cost_s: float           # target → source; negative: one-way
    fraction: float                 # 0 at source, 1 at target
    access_m: float                 # straight from the point to the spot

    def leaving(self) -> list[tuple[int, float]]:
        """(node, seconds) from the spot to the ends of the road that traffic may take."""
        out = []
        if self.cost_s >= 0:
            out.append((self.target, (1 - self.fraction) * self.cost_s))
        if self.reverse_cost_s >= 0:
            out.append((self.source, self.fraction * self.reverse_cost_s))
        return out

    def arriving(self) -> list[tuple[int, float]]:
        """(node, seconds) from the ends of the road to the spot."""
        out = []
        if self.cost_s >= 0:
            out.append((self.source, self.fraction * self.cost_s))
        if self.reverse_cost_s >= 0:
            out.append((self.target, (1 - self.fraction) * self.reverse_cost_s))
        return out

    def along_to(self, other: Snap) -> float | None:
        """Seconds from this spot to another on the same road, where traffic may go."""
        if other.road_id != self.road_id:
            return None
        if other.fraction >= self.fraction and self.cost_s >= 0:
            return (other.fraction - self.fraction) * self.cost_s
        if other.fraction <= self.fraction and self.reverse_cost_s >= 0:
            return (self.fraction - other.fraction) * self.reverse_cost_s
        return None

    def as_dict(self) -> dict:
        return {"id": self.road_id, "code": self.code, "name": self.name,
                "access_m": round(self.access_m, 1)}


def snap(lons: list[float], lats: list[float]) -> Plan[list[Snap | None]]:
    """Each point's nearest road (None only when no road is routable)."""
    rows = yield _SNAP, {"lon": list(lons), "lat": list(lats), "srid": LOCAL_SRID}
    out: list[Snap | None] = [None] * len(lons)
    for i, *fields in rows:
        out[i - 1] = Snap(*fields)
    return out


def _box(lons: list[float], lats: list[float], margin_m: float) -> tuple[float, ...]:
    south, north = min(lats), max(lats)
    dlat = margin_m / M_PER_DEG_LAT
    widest = max(abs(south), abs(north)) + dlat
    dlon = margin_m / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(min(89.0, widest))))
    return min(lons) - dlon, south - dlat, max(lons) + dlon, north + dlat


def trip_seconds(network: Network, point: Snap, starts: list[Snap | None],
                 lons: list[float], lats: list[float]) -> Plan[list[float | None]]:
    """Seconds from each start to the point over the network (None: not over the network).

    `lons`/`lats`: the starts and the point, for the box the routes are searched in.
    """
    limit = network.params.max_access_m
    access_speed = network.params.access_speed_kmh / 3.6
    served = [s if s is not None and s.access_m <= limit else None for s in starts]
    arriving = point.arriving()
    leaving = sorted({node for s in served if s is not None for node, _ in s.leaving()})
    between: dict[tuple[int, int], float] = {}
    if arriving and leaving:
        edges = _EDGES.format(*map(sql.Literal, _box(lons, lats, network.params.search_margin_m)))
        rows = yield _ROUTE, {"edges": edges.as_string(None),
                              "starts": sorted({node for node, _ in arriving}), "ends": leaving}
        # searched backwards: start_vid is the point's road end, end_vid the resource's
        between = {(end, start): cost for start, end, cost in rows}
    out: list[float | None] = []
    for s in served:
        if s is None:
            out.append(None)
            continue
        best = s.along_to(point)
        for node_from, leave_s in s.leaving():
            for node_to, arrive_s in arriving:
                roads_s = 0.0 if node_from == node_to else between.get((node_from, node_to))
                if roads_s is not None:
                    total = leave_s + roads_s + arrive_s
                    best = total if best is None else min(best, total)
        out.append(None if best is None
                   else best + (s.access_m + point.access_m) / access_speed)
    return out


class Trips:
    """Times over the network from resources to one point, kept across a search's rounds.

    Resources are snapped once. A resource is routed only while it could still be among the
    k fastest: its lower bound (straight line at the fastest speed) must not exceed the k-th
    time known so far, so a widened search routes a few more, not all again.
    """

    def __init__(self, network: Network, point: Snap, lon: float, lat: float, least: float):
        """`least`: seconds per metre of straight line no trip beats, over the network or
        by the estimate (a resource that cannot be routed takes the estimate)."""
        self.network, self.point, self.lon, self.lat = network, point, lon, lat
        self.least = least
        self.snaps: dict[int, Snap | None] = {}
        self.times: dict[int, float | None] = {}     # None: not over the network

    def seconds(self, ids: list[int], lons: list[float], lats: list[float],
                distance_m, estimate, k: int) -> Plan[tuple[list[float], list[str]]]:
        """Each resource's time and method ('network', or 'estimate' when it is off the
        network or cannot be routed); inf for one that cannot be among the k fastest."""
        new = [i for i, rid in enumerate(ids) if rid not in self.snaps]
        if new:
            found = yield from snap([lons[i] for i in new], [lats[i] for i in new])
            limit = self.network.params.max_access_m
            for i, s in zip(new, found):
                self.snaps[ids[i]] = s if s is not None and s.access_m <= limit else None

        def known() -> list[float]:
            out = []
            for i, rid in enumerate(ids):
                routed = self.times.get(rid, math.inf) if self.snaps[rid] else None
                out.append(estimate[i] if routed is None else routed)
            return out

        kth = sorted(known())[k - 1] if len(ids) >= k else math.inf
        todo = [i for i, rid in enumerate(ids) if self.snaps[rid] is not None
                and rid not in self.times and distance_m[i] * self.least <= kth]
        if todo:
            routed = yield from trip_seconds(self.network, self.point,
                                             [self.snaps[ids[i]] for i in todo],
                                             [lons[i] for i in todo] + [self.lon],
                                             [lats[i] for i in todo] + [self.lat])
            self.times.update((ids[i], t) for i, t in zip(todo, routed))
        methods = ["network" if self.snaps[rid] is not None and self.times.get(rid, 0) is not None
                   else "estimate" for rid in ids]
        return known(), methods
