"""What every generator of the demonstration dataset shares: the city file, the random
generator, the districts (projected), the population grid and the sketch of rivers and roads.

All generation happens in metres (EPSG:4545); rows are converted to WGS84 when loaded.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point

from geodata.datums import WGS84, XIAN_GK, project_to_local
from geodata.population import DensityModel, PopulationGrid, build_grid

CITY_FILE = Path(__file__).with_name("xian.toml")


class CityFileError(ValueError):
    """The city file's figures do not add up."""


def load_city(path: Path = CITY_FILE) -> dict:
    """Read a city file and check that its per-district figures add up to its totals."""
    cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    counts, districts = cfg["counts"], cfg["districts"]
    checks = {
        "subdistricts": ("towns", "devzone_towns"),
        "storage_points": ("storage_points", "devzone_storage_points"),
        "stored_items": ("stored_items", "devzone_stored_items"),
    }
    for total_key, (own, devzone) in checks.items():
        total = sum(d.get(own, 0) + d.get(devzone, 0) for d in districts.values())
        if total != counts[total_key]:
            raise CityFileError(f"{path.name}: districts add up to {total} {total_key}, "
                                f"[counts] says {counts[total_key]}")
    if (s := sum(cfg["risk_units"].values())) != counts["risk_units"]:
        raise CityFileError(f"{path.name}: [risk_units] adds up to {s}, not {counts['risk_units']}")
    if (s := sum(k["count"] for k in cfg["monitoring"].values())) != counts["monitoring_points"]:
        raise CityFileError(f"{path.name}: [monitoring] adds up to {s}, "
                            f"not {counts['monitoring_points']}")
    return cfg


@dataclass
class DemoContext:
    cfg: dict
    rng: np.random.Generator
    districts: object                      # GeoDataFrame, EPSG:4326, with code/name/population
    polys: dict = field(default_factory=dict)   # code -> projected polygon
    grid: PopulationGrid | None = None
    rivers: list = field(default_factory=list)  # (name, projected LineString)
    roads: list = field(default_factory=list)   # (name, projected LineString)
    industrial: list = field(default_factory=list)  # (name, projected centre Point, radius m)
    seats: dict = field(default_factory=dict)   # code -> projected Point
    model: DensityModel | None = None           # where people live (geodata.population)
    centre: Point | None = None

    @property
    def codes(self) -> list[str]:
        return list(self.districts["code"])

    @property
    def reference_date(self) -> dt.date:
        return dt.date.fromisoformat(self.cfg["city"]["reference_date"])

    def district_name(self, code: str) -> str:
        return str(self.districts.loc[self.districts["code"] == code, "name"].iloc[0])


def _project_lonlat(points) -> list[Point]:
    to_gk = Transformer.from_crs(WGS84, XIAN_GK, always_xy=True)
    return [Point(*to_gk.transform(*p)) for p in points]


def build_context(districts, seed: int, cfg: dict | None = None) -> DemoContext:
    """Everything the generators need, from the districts in the database and a seed."""
    cfg = cfg or load_city()
    districts = districts.sort_values("code").reset_index(drop=True)
    ctx = DemoContext(cfg=cfg, rng=np.random.default_rng(seed), districts=districts)
    ctx.polys = dict(zip(districts["code"], project_to_local(districts.geometry.values)))
    seat_cfg = {code: d["seat"] for code, d in cfg["districts"].items()}
    for code, poly in ctx.polys.items():
        seat = _project_lonlat([seat_cfg[code]])[0] if code in seat_cfg else None
        # a seat outside its own (perhaps re-imported) polygon falls back to an inner point
        ctx.seats[code] = seat if seat is not None and poly.contains(seat) else poly.representative_point()
    ctx.centre = _project_lonlat([cfg["city"]["centre"]])[0]
    model = DensityModel(cfg["city"]["centre"],
                         [d["seat"] for d in cfg["districts"].values()],
                         cfg["terrain"]["mountain_foot"])
    ctx.model = model
    ctx.grid = build_grid(districts, model)
    to_gk = Transformer.from_crs(WGS84, XIAN_GK, always_xy=True)

    def line(coords):
        xs, ys = to_gk.transform(*np.asarray(coords, dtype=float).T)
        return LineString(np.column_stack([xs, ys]))

    ctx.rivers = [(r["name"], line(r["line"])) for r in cfg["rivers"].values()]
    for ring_km in cfg["roads"]["rings_km"]:
        ctx.roads.append((f"{ring_km:g} km 环线", ctx.centre.buffer(ring_km * 1000, 16).exterior))
    for code, seat in ctx.seats.items():
        if seat.distance(ctx.centre) > 2_000:
            ctx.roads.append((f"通往{ctx.district_name(code)}", LineString([ctx.centre, seat])))
    city = shapely.unary_union(list(ctx.polys.values()))
    ctx.roads = [(n, g.intersection(city)) for n, g in ctx.roads if not g.intersection(city).is_empty]
    ctx.rivers = [(n, g.intersection(city)) for n, g in ctx.rivers if not g.intersection(city).is_empty]
    for zone in cfg.get("industrial", []):
        ctx.industrial.append((zone["name"], _project_lonlat([zone["centre"]])[0],
                               zone["radius_km"] * 1000))
    return ctx
