"""Where fire crews arrive in time (GB 51080-2015 §4.1.3): each station's reach within the
response time, and the residents and built-up land inside and outside it, per district.

The estimate works on the population surface's cells (100 m, EPSG:4545). A crew has the
response time less the turn-out time to drive (300 − 60 = 240 s); from a station to a cell

    time = straight-line distance × detour factor / speed

with the speed of the slower of the station's and the cell's kind of area (the rule of
`layers.commander.travel`: residents per km² averaged over 500 m). A cell is reached when its
centre is reached from some station. So a station in the core reaches about 1.0 km, one in
the countryside 2.6 km, and a suburban station reaching into the core slows down there: the
reach is not one circle. A station's reach is the set of its cells (a polygon of whole
cells, not circles per kind of area cut by the land: the cells are what the residents are
counted on, so the polygon and its figures agree exactly). Over an imported road network
the times come from pgRouting instead (`layers.commander.fire_network`).

Built-up land is a cell with at least `built_up_per_km2` residents per km² (a planning
assumption in `layers/rules/travel.toml`). A cell belongs to the district holding its centre.
The area limits of §4.1.3 (7 km², 15 km² at the urban edge) are compared with each
station's first-due area: the cells it reaches before any other station.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import shapely

from geodata.datums import WGS84, XIAN_GK, project_to_local, transformer
from geodata.population import RASTER_NAME, cell_centres, zone_index
from geodata.rasters import StoredRaster, load_raster
from layers.commander.travel import (
    AREA_TYPES,
    RULES_FILE,
    DensityLookup,
    TravelModel,
    TravelRulesError,
    load_travel,
    read_travel_rules,
    travel_number,
)
from layers.shelters.inputs import MissingPopulationError


@dataclass(frozen=True)
class FireRules:
    """The fire-station parameters of `travel.toml` besides the times (see the file)."""

    standard: str
    built_up_per_km2: float
    area_limit_km2: float
    edge_area_limit_km2: float
    edge_area_types: tuple[str, ...]

    def limit_km2(self, area_type: str) -> float:
        """The §4.1.3 area limit of a station on land of `area_type`."""
        return self.edge_area_limit_km2 if area_type in self.edge_area_types \
            else self.area_limit_km2


def load_fire_rules(path: Path = RULES_FILE) -> FireRules:
    """Read and check the `[fire]` parameters."""
    fire = read_travel_rules(path).get("fire", {})
    numbers = {key: travel_number(fire, key, "fire")
               for key in ("built_up_per_km2", "area_limit_km2", "edge_area_limit_km2")}
    edge = fire.get("edge_area_types", [])
    if not isinstance(edge, list) or not set(edge) <= set(AREA_TYPES):
        raise TravelRulesError(f"travel parameters: fire.edge_area_types must list some of "
                               f"{', '.join(AREA_TYPES)}, not {edge!r}")
    return FireRules(str(fire.get("standard", "GB 51080-2015 §4.1.3")),
                     numbers["built_up_per_km2"], numbers["area_limit_km2"],
                     numbers["edge_area_limit_km2"], tuple(edge))


@dataclass
class District:
    code: str
    name: str
    name_en: str | None


@dataclass
class FireInputs:
    """The population surface with its districts, and the fire stations."""

    raster: StoredRaster
    districts: list[District]
    district_geoms: list                 # shapely, EPSG:4545
    residents: np.ndarray                # per cell, 2-D, NaN and negatives as 0
    zone: np.ndarray                     # 1 + district index per cell, 0 outside the city
    density: DensityLookup               # residents per km², mean over 500 m
    station_id: np.ndarray
    station_code: np.ndarray
    station_name: np.ndarray
    station_district: np.ndarray         # the row's own district_code
    station_synthetic: np.ndarray
    station_x: np.ndarray                # EPSG:4545 metres
    station_y: np.ndarray

    @property
    def cell_km2(self) -> float:
        return self.raster.cell_m ** 2 / 1e6

    @property
    def synthetic(self) -> bool:
        """Built from a modelled population or from demonstration stations."""
        return self.raster.parameters.get("source") == "model" or bool(
            self.station_synthetic.any())


def load_inputs(conn: psycopg.Connection) -> FireInputs:
    """The population surface, the districts over it and the fire stations."""
    raster = load_raster(conn, RASTER_NAME)
    if raster is None:
        raise MissingPopulationError(
            "no population surface is stored: `onemap seed` models one from the census, "
            "`onemap import FILE.tif --layer population` loads a real one")
    rows = conn.execute("SELECT code, name, name_en, ST_AsBinary(geom) FROM districts "
                        "ORDER BY code").fetchall()
    districts = [District(r[0], r[1], r[2]) for r in rows]
    geoms = list(project_to_local([shapely.from_wkb(bytes(r[3])) for r in rows]))
    values = raster.values.astype(np.float64)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    zone = zone_index(geoms, raster.transform, raster.shape) if geoms else \
        np.zeros(raster.shape, np.int32)
    stations = conn.execute("SELECT id, code, name, district_code, synthetic, ST_X(geom), "
                            "ST_Y(geom) FROM resources WHERE type = 'fire_station' "
                            "ORDER BY id").fetchall()
    cols = list(zip(*stations)) if stations else [()] * 7
    x, y = transformer(WGS84, XIAN_GK).transform(np.array(cols[5], dtype=float),
                                                 np.array(cols[6], dtype=float))
    return FireInputs(raster, districts, geoms, values, zone, DensityLookup(raster),
                      np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=object),
                      np.array(cols[2], dtype=object), np.array(cols[3], dtype=object),
                      np.array(cols[4], dtype=bool), np.atleast_1d(np.asarray(x, float)),
                      np.atleast_1d(np.asarray(y, float)))


def speeds(model: TravelModel, per_km2) -> np.ndarray:
    """Driving speed (km/h) for densities: `TravelModel.area_type`'s rule, as numbers, so a
    whole grid needs no strings."""
    d = np.asarray(per_km2, dtype=float)
    t, v = model.thresholds, model.speeds_kmh
    return np.select([d >= t["core"], d >= t["urban"], d >= t["suburban"]],
                     [v["core"], v["urban"], v["suburban"]], v["rural"])


EMPTY = np.zeros((0, 0), dtype=bool)


@dataclass
class Reach:
    """Which cells the crews reach in time, and from where."""

    driving_s: float
    reached: np.ndarray                  # 2-D bool: some station in time
    first: np.ndarray                    # 2-D int32: index of the quickest station, -1
    seconds: np.ndarray                  # 2-D float32: its driving time, inf when none
    station_type: np.ndarray             # area type at each station
    windows: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    # per station: (first row, first column, cells reached in its window)
    method: str = "estimate"             # or "network" (layers.commander.fire_network)
    network: dict | None = None          # what the network times assumed


class ReachBuilder:
    """Collects the stations' reached cells, keeping per cell the quickest station."""

    def __init__(self, inputs: FireInputs, model: TravelModel):
        shape, n = inputs.raster.shape, len(inputs.station_id)
        self.driving = model.fire_response_s - model.fire_turnout_s
        self.best = np.full(shape, np.inf, dtype=np.float32)
        self.first = np.full(shape, -1, dtype=np.int32)
        self.windows: list[tuple[int, int, np.ndarray]] = [(0, 0, EMPTY)] * n
        per_km2 = inputs.density(inputs.station_x, inputs.station_y)
        self.station_type = model.area_type(per_km2).astype(object)
        self.station_speed = speeds(model, per_km2)

    def add(self, i: int, r0: int, c0: int, seconds: np.ndarray, mask: np.ndarray) -> None:
        """Station `i` reaches the `mask` cells of the window at (r0, c0) in `seconds`."""
        window = np.s_[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]]
        quicker = mask & (seconds < self.best[window])
        self.best[window] = np.where(quicker, seconds, self.best[window])
        self.first[window] = np.where(quicker, i, self.first[window])
        self.windows[i] = (r0, c0, mask)

    def done(self, method: str = "estimate", network: dict | None = None) -> Reach:
        return Reach(self.driving, self.first >= 0, self.first, self.best, self.station_type,
                     self.windows, method, network)


def cell_window(inputs: FireInputs, x0: float, y0: float, x1: float, y1: float):
    """(first row, first column, rows, columns) of the cells meeting a projected box."""
    shape, inverse = inputs.raster.shape, ~inputs.raster.transform
    c0, r0 = inverse @ (x0, y1)
    c1, r1 = inverse @ (x1, y0)
    r0, c0 = max(0, math.floor(r0)), max(0, math.floor(c0))
    r1, c1 = min(shape[0], math.ceil(r1)), min(shape[1], math.ceil(c1))
    return r0, c0, max(0, r1 - r0), max(0, c1 - c0)


def estimate_station(inputs: FireInputs, model: TravelModel, builder: ReachBuilder, i: int,
                     cell_speed: np.ndarray) -> None:
    """Station `i`'s reach by the estimate (straight line × detour / the slower speed)."""
    x, y, v = inputs.station_x[i], inputs.station_y[i], builder.station_speed[i]
    # no cell beyond what the station's own speed allows: a trip takes the slower end
    radius = builder.driving * v / 3.6 / model.detour_factor
    r0, c0, h, w = cell_window(inputs, x - radius, y - radius, x + radius, y + radius)
    if not h or not w:
        return
    xs, ys = cell_centres(inputs.raster.transform, inputs.raster.shape)
    window = np.s_[r0:r0 + h, c0:c0 + w]
    distance = np.hypot(xs[None, c0:c0 + w] - x, ys[r0:r0 + h, None] - y)
    seconds = distance * model.detour_factor / (np.minimum(v, cell_speed[window]) / 3.6)
    builder.add(i, r0, c0, seconds, (seconds <= builder.driving) & (inputs.zone[window] > 0))


def reach(inputs: FireInputs, model: TravelModel) -> Reach:
    """Every station's reach within the driving time (response − turn-out), by the estimate."""
    builder = ReachBuilder(inputs, model)
    cell_speed = speeds(model, inputs.density.values)
    for i in range(len(inputs.station_id)):
        estimate_station(inputs, model, builder, i, cell_speed)
    return builder.done()


def _share(part: float, whole: float) -> float | None:
    return round(float(part) / float(whole), 4) if whole > 0 else None


def _figures(residents, covered, built_up, outside, outside_residents, stations, cell_km2):
    return {"stations": int(stations), "residents": round(residents),
            "covered_residents": round(covered),
            "share_covered": _share(round(covered), round(residents)),
            "residents_outside_reach": round(residents) - round(covered),
            "built_up_km2": round(float(built_up) * cell_km2, 2),
            "built_up_outside_km2": round(float(outside) * cell_km2, 2),
            "built_up_outside_residents": round(outside_residents),
            "share_built_up_covered": _share(built_up - outside, built_up)}


def built_up(inputs: FireInputs, rules: FireRules) -> np.ndarray:
    """Cells of built-up land inside the city."""
    return (inputs.residents / inputs.cell_km2 >= rules.built_up_per_km2) & (inputs.zone > 0)


@dataclass
class FireReport:
    districts: list[dict]
    city: dict
    stations: list[dict]
    parameters: dict


def report(inputs: FireInputs, found: Reach, model: TravelModel, rules: FireRules) -> FireReport:
    """The figures per district, for the city and per station."""
    n = len(inputs.districts) + 1
    zone, people, km2 = inputs.zone.ravel(), inputs.residents.ravel(), inputs.cell_km2
    reached, land = found.reached.ravel(), built_up(inputs, rules).ravel()
    outside = land & ~reached

    def per_zone(weights=None, where=None) -> np.ndarray:
        z = zone if where is None else zone[where]
        w = None if weights is None else (weights if where is None else weights[where])
        return np.bincount(z, weights=w, minlength=n).astype(float)

    residents, covered = per_zone(people), per_zone(people, reached)
    land_cells, outside_cells = per_zone(where=land), per_zone(where=outside)
    outside_people = per_zone(people, outside)
    codes = {d.code: i + 1 for i, d in enumerate(inputs.districts)}
    stations = np.bincount(np.array([codes.get(c, 0) for c in inputs.station_district],
                                    dtype=np.int64), minlength=n)
    districts = [{"district_code": d.code, "name": d.name, "name_en": d.name_en,
                  **_figures(residents[i], covered[i], land_cells[i], outside_cells[i],
                             outside_people[i], stations[i], km2)}
                 for i, d in enumerate(inputs.districts, start=1)]
    city = _figures(residents[1:].sum(), covered[1:].sum(), land_cells[1:].sum(),
                    outside_cells[1:].sum(), outside_people[1:].sum(),
                    len(inputs.station_id), km2)
    station_rows = _stations(inputs, found, rules)
    city["stations_over_area_limit"] = sum(s["over_area_limit"] for s in station_rows)
    return FireReport(districts, city, station_rows, parameters(model, rules, found))


def _stations(inputs: FireInputs, found: Reach, rules: FireRules) -> list[dict]:
    """Per station: what it reaches, what it reaches first, against the §4.1.3 limit."""
    km2, people = inputs.cell_km2, inputs.residents.ravel()
    first = found.first.ravel()
    first_cells = np.bincount(first[first >= 0], minlength=len(inputs.station_id))
    first_people = np.bincount(first[first >= 0], weights=people[first >= 0],
                               minlength=len(inputs.station_id))
    out = []
    for i, (r0, c0, mask) in enumerate(found.windows):
        h, w = mask.shape
        reached_people = float(inputs.residents[r0:r0 + h, c0:c0 + w][mask].sum()) if h else 0.0
        kind = str(found.station_type[i])
        limit = rules.limit_km2(kind)
        first_due = round(int(first_cells[i]) * km2, 2)
        out.append({"id": int(inputs.station_id[i]), "code": inputs.station_code[i],
                    "name": inputs.station_name[i], "district_code": inputs.station_district[i],
                    "area_type": kind, "reach_km2": round(int(mask.sum()) * km2, 2),
                    "reach_residents": round(reached_people),
                    "first_due_km2": first_due,
                    "first_due_residents": round(first_people[i]),
                    "area_limit_km2": limit, "over_area_limit": bool(first_due > limit)})
    return out


def parameters(model: TravelModel, rules: FireRules, found: Reach | None = None) -> dict:
    """What the figures assume, shown with every answer."""
    driving = model.fire_response_s - model.fire_turnout_s
    network = found.network if found is not None else None
    return {
        "method": "estimate" if network is None else "network",
        "standard": rules.standard,
        "rule": "a crew reaches the edge of its area within 5 minutes of the dispatch order "
                "(commonly 1 minute to turn out, 4 minutes driving)",
        "response_s": model.fire_response_s, "turnout_s": model.fire_turnout_s,
        "driving_s": driving,
        "reach_m": {t: round(model.reach_m(driving, t)) for t in AREA_TYPES},
        "travel": model.describe() if network is None else network,
        **({} if network is None else {"estimate": model.describe()}),
        "built_up_per_km2": rules.built_up_per_km2,
        "built_up_note": "built-up land: population-surface cells with at least this many "
                         "residents per km² (a planning assumption, not a figure of the "
                         "standard)",
        "area_limits_km2": {"ordinary": rules.area_limit_km2,
                            "urban_edge": rules.edge_area_limit_km2,
                            "urban_edge_area_types": list(rules.edge_area_types),
                            "compared_with": "first_due_km2: the land a station reaches "
                                             "within the time before any other station"},
    }


@dataclass
class FireCoverage:
    inputs: FireInputs
    reach: Reach
    report: FireReport


def analyse(conn: psycopg.Connection, model: TravelModel | None = None,
            rules: FireRules | None = None) -> FireCoverage:
    """Read the stored data and work out the reach and its figures: over the road network
    where one is loaded and pgRouting is installed, else by the estimate."""
    from layers.commander.fire_network import network_reach, network_ready

    model, rules = model or load_travel(), rules or load_fire_rules()
    inputs = load_inputs(conn)
    found = network_reach(conn, inputs, model) if network_ready(conn) else reach(inputs, model)
    return FireCoverage(inputs, found, report(inputs, found, model, rules))
