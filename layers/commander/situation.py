"""The situation around an incident: what is at risk in a circle and what help is near.

For a point and a radius: the risk units in the circle by grade (the red ones listed), the
monitoring points and their alarms not yet closed, the hidden dangers still open (the major
ones listed), the residents ring by ring (`population_rings`), the shelters with the places
they have left, and the nearest resources of each type (`nearest`).

"In the circle" means within the radius on the ellipsoid (PostGIS geography, `ST_DWithin`):
any part of a line or polygon counts, and distances are to its nearest part. The counts,
lists and the district holding the point come from one statement: the circle's bounding box
(`&&`) uses the geometry indexes, a local metric copy of each geometry settles what is
clearly inside or outside, and only what lies within a hair of the edge is measured on the
ellipsoid. The nearest-help searches then run side by side (`lockstep`).

A shelter's places left are its capacity (effective area / its class's m² per person)
minus the residents of its walking area the planners' coverage analysis already counts on
it (`layers.shelters.analysis`): the room it has for people from further away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from geodata.errors import OnemapError
from geodata.rasters import StoredRaster
from layers.commander.lockstep import BatchPlan, run_batches, together
from layers.commander.nearest import AUTO, RESOURCE_TYPES, search
from layers.commander.plans import Plan
from layers.commander.population_rings import residents_by_ring, ring_edges
from layers.commander.routing import Network, road_network
from layers.commander.travel import DensityLookup, TravelModel
from layers.rule_files import positive, read_rules

RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "situation.toml"
GRADES = ("red", "orange", "yellow", "blue")
# least metres in a degree of latitude, and in a degree of longitude at the equator
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_319.0


class SituationRulesError(OnemapError):
    """The situation settings are not usable; the message names the key."""


class OutsideCityError(OnemapError, ValueError):
    """The point lies in no district of the city."""


@dataclass(frozen=True)
class SituationRules:
    default_radius_m: float
    max_radius_m: float
    ring_steps_m: tuple[float, ...]
    nearest_k: dict[str, int]          # resource type -> how many to name, in listing order
    max_items: int


LABEL = "situation settings"


def _positive(doc: dict, key: str, where: str, whole: bool = False) -> float:
    return positive(doc, key, where, LABEL, SituationRulesError, whole)


def load_rules(path: Path = RULES_FILE) -> SituationRules:
    """Read and check `layers/rules/situation.toml`."""
    doc = read_rules(path, LABEL, SituationRulesError)
    radius, population = doc.get("radius", {}), doc.get("population", {})
    default_m = float(_positive(radius, "default_m", "radius"))
    max_m = float(_positive(radius, "max_m", "radius"))
    steps = population.get("rings_m")
    if not isinstance(steps, list) or not steps:
        raise SituationRulesError("situation settings: population.rings_m must be a list of "
                                  "distances in metres")
    steps = tuple(float(_positive({"rings_m": s}, "rings_m", "population")) for s in steps)
    unknown = set(doc.get("nearest", {})) - set(RESOURCE_TYPES)
    if unknown:
        raise SituationRulesError(f"situation settings: nearest.{min(unknown)} is not a "
                                  f"resource type ({', '.join(RESOURCE_TYPES)})")
    # in the file's order: the brief lists the help that way
    nearest_k = {t: int(_positive(doc["nearest"], t, "nearest", whole=True))
                 for t in doc.get("nearest", {})}
    rules = SituationRules(default_m, max_m, steps, nearest_k,
                           int(_positive(doc.get("lists", {}), "max_items", "lists", whole=True)))
    if rules.default_radius_m > rules.max_radius_m:
        raise SituationRulesError("situation settings: radius.default_m is above radius.max_m")
    return rules


@dataclass
class ShelterPlaces:
    """Capacity and residents counted on each shelter (the coverage analysis), by id."""

    ids: np.ndarray       # ascending
    capacity: np.ndarray
    load: np.ndarray

    def of(self, shelter_id: int) -> tuple[float, float] | None:
        i = int(np.searchsorted(self.ids, shelter_id))
        if i < len(self.ids) and self.ids[i] == shelter_id:
            return float(self.capacity[i]), float(self.load[i])
        return None


def _in_circle(alias: str) -> sql.Composed:
    """`alias` lies within the radius. The box uses the index; a local metric copy of the
    geometry (metres east and north of the point, scaled at the point's latitude) then
    settles everything clearly inside or outside, and only what lies within a hair of the
    edge is measured on the ellipsoid, which costs ten times as much."""
    return sql.SQL(
        "{a}.geom && c.box AND (ST_DWithin({local}, c.origin, c.sure_in) OR "
        "(ST_DWithin({local}, c.origin, c.maybe_in) AND "
        "ST_DWithin({a}.geom::geography, c.here, c.radius)))").format(
        a=sql.Identifier(alias),
        local=sql.SQL("ST_Affine({a}.geom, c.mx, 0, 0, c.my, c.ox, c.oy)").format(
            a=sql.Identifier(alias)))


def _distance(alias: str) -> sql.Composed:
    """Distance on the ellipsoid, to 0.1 m (only for what is listed)."""
    return sql.SQL("round(ST_Distance({a}.geom::geography, c.here)::numeric, 1)").format(
        a=sql.Identifier(alias))


# `c`: the circle (one row: its box, the point, the local copy's scale and thresholds).
# Counts by grade/level as JSON objects; the lists nearest (alarms: worst, latest) first and
# cut at c.listed, measured on the ellipsoid only then; the shelters all (their places are
# summed in Python). Alarms are found from those not closed (few, city-wide), each looked
# up by its point, rather than from every point in the circle.
STATEMENT = sql.SQL("""
WITH c AS MATERIALIZED (
    SELECT ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326) AS box,
           ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt,
           ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS here,
           ST_SetSRID(ST_MakePoint(0, 0), 4326) AS origin,
           %(mx)s::float8 AS mx, %(my)s::float8 AS my, %(ox)s::float8 AS ox,
           %(oy)s::float8 AS oy, %(sure_in)s::float8 AS sure_in,
           %(maybe_in)s::float8 AS maybe_in, %(radius)s::float8 AS radius,
           %(listed)s::int AS listed, ARRAY['red', 'orange', 'yellow', 'blue'] AS grades),
units AS MATERIALIZED (
    SELECT u.id, u.grade FROM c, risk_units u WHERE {unit_in}),
points AS MATERIALIZED (
    SELECT p.id, p.grade FROM c, monitoring_points p WHERE {point_in}),
not_closed AS MATERIALIZED (
    SELECT id, grade, state, raised_at, monitoring_point_id FROM alarms WHERE state <> 'closed'),
active AS MATERIALIZED (
    SELECT a.* FROM c, not_closed a JOIN monitoring_points p ON p.id = a.monitoring_point_id
    WHERE {point_in}),
dangers AS MATERIALIZED (
    SELECT d.id, d.level FROM c, hidden_dangers d WHERE d.status = 'open' AND {danger_in})
SELECT
    (SELECT json_build_object('code', d.code, 'name', d.name, 'name_en', d.name_en)
     FROM c, districts d WHERE ST_Intersects(d.geom, c.pt) ORDER BY d.code LIMIT 1),
    (SELECT json_build_object('code', s.code, 'name', s.name, 'name_en', s.name_en)
     FROM c, subdistricts s WHERE ST_Intersects(s.geom, c.pt) ORDER BY s.code LIMIT 1),
    (SELECT json_object_agg(coalesce(grade, 'ungraded'), n)
     FROM (SELECT grade, count(*) AS n FROM units GROUP BY grade) g),
    (SELECT json_agg(r ORDER BY r.distance_m, r.id) FROM (
        SELECT u.id, u.code, u.name, u.category, k.name AS category_name,
               k.name_en AS category_name_en, u.domain, u.district_code,
               {unit_distance} AS distance_m
        FROM c, units x JOIN risk_units u USING (id)
        LEFT JOIN risk_categories k ON k.code = u.category
        WHERE x.grade = 'red' ORDER BY distance_m, u.id LIMIT (SELECT listed FROM c)) r),
    (SELECT json_object_agg(coalesce(grade, 'ungraded'), n)
     FROM (SELECT grade, count(*) AS n FROM points GROUP BY grade) g),
    (SELECT count(DISTINCT monitoring_point_id) FROM active),
    (SELECT json_object_agg(grade, n)
     FROM (SELECT grade, count(*) AS n FROM active GROUP BY grade) g),
    (SELECT json_object_agg(state, n)
     FROM (SELECT state, count(*) AS n FROM active GROUP BY state) g),
    (SELECT json_agg(r ORDER BY r.rank, r.raised_at DESC, r.id)
     FROM (SELECT a.id, a.grade, a.state, a.value, p.unit, a.raised_at, a.acknowledged_at,
                  p.id AS point_id, p.code AS point_code, p.name AS point_name, p.kind,
                  k.name AS kind_name, k.name_en AS kind_name_en, {point_distance} AS distance_m,
                  x.rank
           FROM c, (SELECT active.*, array_position(c.grades, grade) AS rank FROM c, active
                    ORDER BY rank, raised_at DESC, id LIMIT (SELECT listed FROM c)) x
           JOIN alarms a USING (id) JOIN monitoring_points p ON p.id = a.monitoring_point_id
           LEFT JOIN monitoring_kinds k ON k.kind = p.kind) r),
    (SELECT json_object_agg(level, n)
     FROM (SELECT level, count(*) AS n FROM dangers GROUP BY level) g),
    (SELECT json_agg(r ORDER BY r.distance_m, r.id) FROM (
        SELECT d.id, d.code, d.title, d.supervised, d.found_on, d.deadline,
               d.deadline < current_date AS overdue, u.code AS unit_code, u.name AS unit_name,
               {danger_distance} AS distance_m
        FROM c, dangers x JOIN hidden_dangers d USING (id)
        LEFT JOIN risk_units u ON u.id = d.risk_unit_id
        WHERE x.level = 'major' ORDER BY distance_m, d.id LIMIT (SELECT listed FROM c)) r),
    (SELECT json_agg(r ORDER BY r.distance_m, r.id) FROM (
        SELECT s.id, s.code, s.name, s.class, s.site_type, s.effective_area_m2, s.district_code,
               ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, {shelter_distance} AS distance_m
        FROM c, shelters s WHERE {shelter_in}) r)
""").format(unit_in=_in_circle("u"), point_in=_in_circle("p"), danger_in=_in_circle("d"),
            shelter_in=_in_circle("s"), unit_distance=_distance("u"),
            point_distance=_distance("p"), danger_distance=_distance("d"),
            shelter_distance=_distance("s")).as_string(None)

# WGS 84: the local metric copy's metres per degree, from the radii of curvature
_A, _E2 = 6_378_137.0, 0.006_694_379_990_14
# how far the local copy's distances may stray from the ellipsoid's within the largest
# circle (its scale drifts ~0.05 % over 5 km; lines straight in degrees bow by < 1 m)
LOCAL_TOLERANCE = 0.005
LOCAL_SLACK_M = 2.0


def local_scale(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at `lat` on the WGS 84 ellipsoid."""
    s = math.sin(math.radians(lat))
    w = math.sqrt(1 - _E2 * s * s)
    return (math.radians(1) * _A / w * math.cos(math.radians(lat)),
            math.radians(1) * _A * (1 - _E2) / w ** 3)


def statement_parameters(lon: float, lat: float, radius_m: float, listed: int) -> dict:
    """The bound parameters of `STATEMENT`."""
    mx, my = local_scale(lat)
    return {"lon": lon, "lat": lat, "radius": radius_m, "listed": listed,
            "mx": mx, "my": my, "ox": -lon * mx, "oy": -lat * my,
            "sure_in": radius_m * (1 - LOCAL_TOLERANCE) - LOCAL_SLACK_M,
            "maybe_in": radius_m * (1 + LOCAL_TOLERANCE) + LOCAL_SLACK_M,
            **circle_box(lon, lat, radius_m)}


def circle_box(lon: float, lat: float, radius_m: float) -> dict[str, float]:
    """A lon/lat box holding the circle, with room to spare (degrees are never shorter than
    the least length used here; 1 % more for the ellipsoid's curves)."""
    dlat = radius_m / M_PER_DEG_LAT * 1.01
    widest = min(89.9, abs(lat) + dlat)
    dlon = min(180.0, radius_m / (M_PER_DEG_LON * math.cos(math.radians(widest))) * 1.01)
    return {"west": lon - dlon, "south": lat - dlat, "east": lon + dlon, "north": lat + dlat}


def _by(counts: dict | None, keys: tuple[str, ...]) -> dict[str, int]:
    counts = counts or {}
    return {k: int(counts.get(k, 0)) for k in keys}


def _listed(items: list | None, count: int) -> dict:
    items = items or []
    return {"count": count, "listed": len(items), "items": items}


def _shelters(rows: list | None, places: ShelterPlaces | None, max_items: int) -> dict:
    items, totals = [], {"capacity": 0.0, "load": 0.0, "remaining": 0.0}
    for row in rows or []:
        counted = places.of(row["id"]) if places is not None else None
        if counted is not None:
            capacity, load = counted
            row |= {"capacity": round(capacity), "load": round(load),
                    "remaining": round(max(0.0, capacity - load))}
            totals["capacity"] += capacity
            totals["load"] += load
            totals["remaining"] += max(0.0, capacity - load)
        else:
            row |= {"capacity": None, "load": None, "remaining": None}
        items.append(row)
    return {"count": len(items), "listed": min(len(items), max_items), "items": items[:max_items],
            **{k: round(v) if places is not None else None for k, v in totals.items()},
            "meaning": "capacity = effective area / the class's m² per person; load = residents "
                       "of the shelter's walking area that the shelter coverage analysis "
                       "already gives a place in it; remaining = capacity - load, the places "
                       "left for people from further away"}


def _circle_counts(params: dict) -> Plan[tuple]:
    (row,) = yield STATEMENT, params
    return row


def situation_plan(lon: float, lat: float, radius_m: float, rules: SituationRules,
                   model: TravelModel, density: DensityLookup | None,
                   population: StoredRaster | None, places: ShelterPlaces | None,
                   network: Network | None | str = AUTO) -> BatchPlan[dict]:
    """The situation in the circle of `radius_m` around (lon, lat), as a batch plan
    (`layers.commander.lockstep`): the circle's statement (with the road network's state),
    then the nearest-help searches of every type side by side. OutsideCityError when no
    district holds the point; `population` / `places` None when there is no population
    surface (the answer then says so); `network` AUTO: the database's road network when it
    is routable."""
    if not 0 < radius_m <= rules.max_radius_m:
        raise ValueError(f"radius_m {radius_m} is outside (0, {rules.max_radius_m:g}]")
    counts = _circle_counts(statement_parameters(lon, lat, radius_m, rules.max_items))
    if network == AUTO:
        row, network = yield from together(counts, road_network())
    else:
        (row,) = yield from together(counts)
    (district, subdistrict, unit_grades, red, point_grades, alarming, alarm_grades,
     alarm_states, alarms, danger_levels, major, shelters) = row
    if district is None:
        raise OutsideCityError(f"lon {lon:g}, lat {lat:g} lies in no district of the city")
    unit_counts = _by(unit_grades, (*GRADES, "ungraded"))
    point_counts = _by(point_grades, (*GRADES, "ungraded"))
    alarm_counts = _by(alarm_grades, GRADES)
    danger_counts = _by(danger_levels, ("major", "general"))
    found = yield from together(*(search(lon, lat, rtype, k, model, density, network)
                                  for rtype, k in rules.nearest_k.items()))
    nearest = {rtype: [h.as_dict() for h in f.helpers]
               for rtype, f in zip(rules.nearest_k, found)}
    travel = found[0].travel if found else model.describe()
    answer = {
        "centre": {"lon": lon, "lat": lat}, "radius_m": radius_m,
        "district": district, "subdistrict": subdistrict,
        "risk_units": {"total": sum(unit_counts.values()), "by_grade": unit_counts,
                       "red": _listed(red, unit_counts["red"])},
        "monitoring_points": {
            "total": sum(point_counts.values()), "by_grade": point_counts,
            "alarming": alarming,
            "open_alarms": {**_listed(alarms, sum(alarm_counts.values())),
                            "by_grade": alarm_counts,
                            "by_state": _by(alarm_states, ("open", "acknowledged"))}},
        "hidden_dangers": {"open": sum(danger_counts.values()), "by_level": danger_counts,
                           "major": _listed(major, danger_counts["major"])},
        "population": None,
        "shelters": _shelters(shelters, places, rules.max_items),
        "nearest": nearest,
        "travel": travel,
    }
    if population is not None:
        rings = residents_by_ring(population, lon, lat, ring_edges(radius_m, rules.ring_steps_m))
        answer["population"] = {
            "total": rings[-1].cumulative, "rings": [r.as_dict() for r in rings],
            "cell_m": population.cell_m, "source": population.parameters.get("source"),
            "rule": "residents of the population surface's cells whose centre lies within the "
                    "ring (distance on the WGS 84 ellipsoid)"}
    return answer


def situation(conn: psycopg.Connection, lon: float, lat: float, radius_m: float,
              rules: SituationRules, model: TravelModel, density: DensityLookup | None,
              population: StoredRaster | None, places: ShelterPlaces | None,
              network: Network | None | str = AUTO) -> dict:
    """`situation_plan` run on `conn`."""
    return run_batches(conn, situation_plan(lon, lat, radius_m, rules, model, density,
                                            population, places, network))
