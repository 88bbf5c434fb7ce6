"""How long help takes to get somewhere: the estimate used where no road network is loaded.

    time = straight-line distance × detour factor / speed

with the speed of the kind of area driven through (core, urban, suburban, rural), read from
the population surface: residents per km² averaged over 500 m around each end of the trip,
the slower end deciding. The figures are parameters (`layers/rules/travel.toml`) because no
standard gives a driving speed; `TravelModel.describe()` is shown with every answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter

from geodata.errors import OnemapError
from geodata.rasters import StoredRaster
from layers.rule_files import positive, read_rules

RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "travel.toml"
AREA_TYPES = ("core", "urban", "suburban", "rural")  # densest first
SMOOTH_M = 500.0


class TravelRulesError(OnemapError):
    """The travel parameters are not usable; the message names the key."""


@dataclass(frozen=True)
class TravelModel:
    detour_factor: float
    speeds_kmh: dict[str, float]        # by area type
    thresholds: dict[str, float]        # residents per km² from which an area is core, urban, suburban
    fire_response_s: float
    fire_turnout_s: float

    def seconds(self, distance_m, area_type) -> np.ndarray:
        """Estimated driving time for straight-line distances through areas of these types."""
        speed = np.vectorize(self.speeds_kmh.__getitem__, otypes=[float])(area_type)
        return np.asarray(distance_m, dtype=float) * self.detour_factor / (speed / 3.6)

    def reach_m(self, seconds: float, area_type: str) -> float:
        """Straight-line distance covered in `seconds` of driving through `area_type`."""
        return seconds * self.speeds_kmh[area_type] / 3.6 / self.detour_factor

    def area_type(self, per_km2) -> np.ndarray:
        """The kind of area for densities in residents per km²."""
        d = np.asarray(per_km2, dtype=float)
        return np.select([d >= self.thresholds["core"], d >= self.thresholds["urban"],
                          d >= self.thresholds["suburban"]], ["core", "urban", "suburban"],
                         "rural")

    def describe(self) -> dict:
        return {"method": "estimate", "detour_factor": self.detour_factor,
                "speeds_kmh": dict(self.speeds_kmh),
                "area_types_per_km2": dict(self.thresholds),
                "note": "straight-line distance × detour factor / speed of the slower end's "
                        "area; no road network is loaded"}


LABEL = "travel parameters"


def travel_number(doc: dict, key: str, where: str) -> float:
    """A number above 0 of the travel parameters (`where`: its section)."""
    return positive(doc, key, where, LABEL, TravelRulesError)


def read_travel_rules(path: Path = RULES_FILE) -> dict:
    return read_rules(path, LABEL, TravelRulesError)


def load_travel(path: Path = RULES_FILE) -> TravelModel:
    """Read and check the travel parameters."""
    doc = read_travel_rules(path)
    speeds = {t: travel_number(doc.get("speeds_kmh", {}), t, "speeds_kmh") for t in AREA_TYPES}
    thresholds = {t: travel_number(doc.get("area_types", {}), t, "area_types")
                  for t in AREA_TYPES[:-1]}
    if not thresholds["core"] > thresholds["urban"] > thresholds["suburban"]:
        raise TravelRulesError("travel parameters: area_types must fall from core to urban to "
                               "suburban")
    fire = doc.get("fire", {})
    model = TravelModel(travel_number(doc, "detour_factor", ""), speeds, thresholds,
                        travel_number(fire, "response_s", "fire"),
                        travel_number(fire, "turnout_s", "fire"))
    if model.detour_factor < 1:
        raise TravelRulesError("travel parameters: detour_factor below 1 would make roads "
                               "shorter than straight lines")
    if model.fire_turnout_s >= model.fire_response_s:
        raise TravelRulesError("travel parameters: fire.turnout_s leaves no time to drive")
    return model


class DensityLookup:
    """Residents per km² around points, from the population surface (mean over 500 m)."""

    def __init__(self, raster: StoredRaster):
        cells = max(1, round(SMOOTH_M / raster.cell_m))
        per_km2 = raster.values.astype(np.float64) * (1e6 / raster.cell_m ** 2)
        self.values = uniform_filter(per_km2, size=cells | 1, mode="constant")
        self.inverse = ~raster.transform

    def __call__(self, x, y) -> np.ndarray:
        """Density at projected points (EPSG of the raster); 0 outside it."""
        cols, rows = self.inverse @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
        inside = (rows >= 0) & (rows < self.values.shape[0]) & (cols >= 0) & \
                 (cols < self.values.shape[1])
        out = np.zeros(np.shape(rows))
        out[inside] = self.values[rows[inside], cols[inside]]
        return out


def slower(model: TravelModel, a, b) -> np.ndarray:
    """Per trip, the area type of the slower of its two ends."""
    speed_a = np.vectorize(model.speeds_kmh.__getitem__, otypes=[float])(a)
    speed_b = np.vectorize(model.speeds_kmh.__getitem__, otypes=[float])(b)
    return np.where(speed_a <= speed_b, a, b)
