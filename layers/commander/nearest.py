"""The nearest help: the k resources of a type that would arrive first at a point.

Candidates come from the spatial index (PostGIS KNN, `<->`, nearest first in degrees); each
gets its distance on the ellipsoid and a travel time, and the list is ordered by time. The
time is over the road network where one is loaded and routable (`layers.commander.routing`),
else the estimate (`layers.commander.travel`). A resource beyond the candidates could only
arrive sooner if it went faster than the fastest speed there is, so the candidates are
widened until the k-th time is below the time any resource further out would need at that
speed: the answer is exact.

The search is a plan (`layers.commander.plans`): `nearest` runs it on a connection,
`nearest_async` on an async one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import psycopg

from geodata.datums import WGS84, XIAN_GK, transformer
from layers.commander.plans import Plan, run, run_async
from layers.commander.routing import Network, Snap, Trips, road_network, snap
from layers.commander.travel import DensityLookup, TravelModel, slower

# metres per degree of latitude (WGS 84, mid-latitudes): with cos(latitude) the least a
# degree of planar lon/lat distance can be on the ground near the point
M_PER_DEG_LAT = 110_574.0
RESOURCE_TYPES = ("storage", "rescue_team", "fire_station", "broadcast", "supply_enterprise",
                  "medical")
AUTO = "auto"  # `nearest(network=AUTO)`: look in the database for a routable network

_CANDIDATES = """
SELECT id, code, name, type, district_code, level, items, people, attributes,
       ST_X(geom), ST_Y(geom),
       ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography),
       geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
FROM resources
WHERE type = %(type)s
ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
LIMIT %(limit)s
"""


@dataclass
class Helper:
    """A resource with its distance and time to the point."""

    row: tuple
    distance_m: float
    eta_s: float
    area_type: str
    method: str = "estimate"        # or "network"

    def as_dict(self) -> dict:
        (rid, code, name, rtype, district, level, items, people, attributes, lon, lat) = \
            self.row[:11]
        return {"id": rid, "code": code, "name": name, "type": rtype, "district_code": district,
                "distance_m": round(self.distance_m, 1), "eta_s": round(self.eta_s, 1),
                "method": self.method, "area_type": self.area_type, "lon": lon, "lat": lat,
                "level": level, "items": items, "people": people,
                "attributes": attributes or {}}


@dataclass
class Nearest:
    """The answer: helpers fastest first, and how their times were worked out."""

    helpers: list[Helper]
    area_type: str                  # at the point
    travel: dict                    # the method and its parameters
    road: Snap | None = None        # the road the point joins, when routed


def area_types(model: TravelModel, density: DensityLookup | None, lon, lat) -> np.ndarray:
    """The kind of area at points (urban everywhere when there is no population surface)."""
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    if density is None:
        return np.full(len(lon), "urban", dtype=object)
    x, y = transformer(WGS84, XIAN_GK).transform(lon, lat)
    return model.area_type(density(x, y)).astype(object)


def search(lon: float, lat: float, rtype: str, k: int, model: TravelModel,
           density: DensityLookup | None, network: Network | None) -> Plan[Nearest]:
    """The plan of the search (see the module's docstring)."""
    here = str(area_types(model, density, lon, lat)[0])
    travel = model.describe()
    point = None
    if network is not None:
        (point,) = yield from snap([lon], [lat])
        if point is not None and point.access_m <= network.params.max_access_m:
            travel = network.describe(travel)
        else:
            travel = {**travel, "network": (
                f"the point is more than {network.params.max_access_m:g} m from every road: "
                "times are estimated")}
            network = None
    # seconds per metre of straight line, at the least, for anything not yet seen
    least = model.detour_factor / (max(model.speeds_kmh.values()) / 3.6)
    trips = None
    if network is not None:
        least = min(least, 1 / network.fastest_m_per_s())
        trips = Trips(network, point, lon, lat, least)
    m_per_deg = M_PER_DEG_LAT * math.cos(math.radians(min(89.0, abs(lat) + 1.0)))
    limit = max(4 * k, k + 16)
    while True:
        rows = yield _CANDIDATES, {"lon": lon, "lat": lat, "type": rtype, "limit": limit}
        if not rows:
            return Nearest([], here, travel, point)
        lons, lats = [r[9] for r in rows], [r[10] for r in rows]
        distance = np.array([r[11] for r in rows], dtype=float)
        there = area_types(model, density, lons, lats)
        kinds = slower(model, there, np.full(len(rows), here, dtype=object))
        eta = model.seconds(distance, kinds)
        method = np.full(len(rows), "estimate", dtype=object)
        if trips is not None:
            times, methods = yield from trips.seconds([r[0] for r in rows], lons, lats, distance,
                                                      eta, k)
            eta, method = np.array(times, dtype=float), np.array(methods, dtype=object)
        order = np.lexsort((distance, eta))[:k]
        helpers = [Helper(rows[i], float(distance[i]), float(eta[i]), str(kinds[i]),
                          str(method[i])) for i in order]
        if len(rows) < limit:
            return Nearest(helpers, here, travel, point)  # every resource of the type was seen
        # a resource beyond the last candidate is at least this far, and needs at least this long
        beyond = rows[-1][12] * m_per_deg * least
        if len(helpers) == k and helpers[-1].eta_s <= beyond:
            return Nearest(helpers, here, travel, point)
        limit *= 4


def nearest(conn: psycopg.Connection, lon: float, lat: float, rtype: str, k: int,
            model: TravelModel, density: DensityLookup | None,
            network: Network | None | str = AUTO) -> list[Helper]:
    """The `k` resources of `rtype` with the shortest time to (lon, lat).

    `network`: the road network to route over, None for the estimate only, or AUTO to use
    the database's network when it is routable.
    """
    return nearest_answer(conn, lon, lat, rtype, k, model, density, network).helpers


def nearest_answer(conn: psycopg.Connection, lon: float, lat: float, rtype: str, k: int,
                   model: TravelModel, density: DensityLookup | None,
                   network: Network | None | str = AUTO) -> Nearest:
    """`nearest`, with how the times were worked out."""
    if network == AUTO:
        network = run(conn, road_network())
    return run(conn, search(lon, lat, rtype, k, model, density, network))


async def nearest_async(conn: psycopg.AsyncConnection, lon: float, lat: float, rtype: str,
                        k: int, model: TravelModel, density: DensityLookup | None,
                        network: Network | None | str = AUTO) -> Nearest:
    """`nearest_answer` on an async connection."""
    if network == AUTO:
        network = await run_async(conn, road_network())
    return await run_async(conn, search(lon, lat, rtype, k, model, density, network))
