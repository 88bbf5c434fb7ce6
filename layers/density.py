"""The risk-density surface (风险密度): a kernel density of the graded risk units.

Each unit (at its representative point) adds its grade's weight, spread by a Gaussian
kernel; the value of a cell is weighted units per km². The surface is computed in
EPSG:3857 (the map's own CRS, so tiles are cut without warping), written as a
Cloud-Optimised GeoTIFF with rasterio, and kept in the `rasters` table so that the
process that grades and every service worker share it. Parameters: `[density]` in
`layers/rules/grading.toml`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

import numpy as np
import psycopg
from rasterio.transform import from_origin

from geodata.rasters import StoredRaster, store_raster
from layers.grading import RULES_FILE, RulesError

NAME = "risk_density"
CRS = "EPSG:3857"


@dataclass(frozen=True)
class DensityParameters:
    weights: dict
    bandwidth_m: float = 1000.0
    cell_m: float = 100.0


def load_parameters(path=RULES_FILE) -> DensityParameters:
    doc = tomllib.loads(path.read_text(encoding="utf-8")).get("density", {})
    weights = doc.get("weights", {"red": 8, "orange": 4, "yellow": 2, "blue": 1})
    if set(weights) != {"red", "orange", "yellow", "blue"}:
        raise RulesError("grading rules: density.weights needs exactly red, orange, yellow, blue")
    params = DensityParameters(weights={k: float(v) for k, v in weights.items()},
                               bandwidth_m=float(doc.get("bandwidth_m", 1000)),
                               cell_m=float(doc.get("cell_m", 100)))
    if not (50 <= params.cell_m <= 2000 and params.cell_m <= params.bandwidth_m <= 20_000):
        raise RulesError("grading rules: need 50 ≤ density.cell_m ≤ bandwidth_m ≤ 20000")
    return params


def _gaussian_blur(grid: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Convolve with a normalised Gaussian (via FFT; the grid is padded, so nothing wraps)."""
    radius = math.ceil(4 * sigma_cells)
    axis = np.arange(-radius, radius + 1)
    kernel1d = np.exp(-0.5 * (axis / sigma_cells) ** 2)
    kernel1d /= kernel1d.sum()
    kernel = np.outer(kernel1d, kernel1d)
    shape = (grid.shape[0] + kernel.shape[0] - 1, grid.shape[1] + kernel.shape[1] - 1)
    out = np.fft.irfft2(np.fft.rfft2(grid, shape) * np.fft.rfft2(kernel, shape), shape)
    return out[radius:radius + grid.shape[0], radius:radius + grid.shape[1]]


@dataclass
class Surface:
    values: np.ndarray       # weighted units per km², float32, rows from the north
    transform: object
    cell: float              # cell size in EPSG:3857 metres
    vmax: float


def compute(conn: psycopg.Connection, params: DensityParameters | None = None) -> Surface:
    """The density surface over the city's districts."""
    params = params or load_parameters()
    rows = conn.execute(
        """SELECT ST_X(g), ST_Y(g), grade FROM (
               SELECT ST_Transform(geom, 3857) AS g, grade FROM risk_unit_points
               WHERE grade IS NOT NULL) p""").fetchall()
    extent = conn.execute(
        """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), ST_Y(ST_Centroid(e))
           FROM (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 4326), 3857) AS e,
                        ST_Extent(geom) AS ll FROM districts) x""").fetchone()
    if extent[0] is None:
        raise RulesError("no districts: the density surface needs the city's extent")
    # Web-Mercator metres are stretched by 1/cos(latitude): convert ground sizes
    lat = math.degrees(2 * math.atan(math.exp(extent[4] / 6378137.0)) - math.pi / 2)
    stretch = 1 / math.cos(math.radians(lat))
    cell, sigma = params.cell_m * stretch, params.bandwidth_m * stretch
    pad = 3 * sigma
    minx, miny = extent[0] - pad, extent[1] - pad
    width = math.ceil((extent[2] + pad - minx) / cell)
    height = math.ceil((extent[3] + pad - miny) / cell)
    maxy = miny + height * cell
    grid = np.zeros((height, width), dtype=np.float64)
    if rows:
        x = np.array([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        w = np.array([params.weights[r[2]] for r in rows])
        col = np.clip(((x - minx) / cell).astype(int), 0, width - 1)
        row = np.clip(((maxy - y) / cell).astype(int), 0, height - 1)
        np.add.at(grid, (row, col), w)
    per_km2 = _gaussian_blur(grid, sigma / cell) / (params.cell_m / 1000) ** 2
    per_km2[per_km2 < 1e-6] = 0.0
    nonzero = per_km2[per_km2 > 0]
    vmax = float(np.percentile(nonzero, 99.5)) if nonzero.size else 1.0
    return Surface(per_km2.astype(np.float32), from_origin(minx, maxy, cell, cell), cell, vmax)


def rebuild(conn: psycopg.Connection, run_id: int | None = None,
            params: DensityParameters | None = None) -> Surface:
    """Compute the surface and store it (in the caller's transaction); the tile services
    learn of the new surface the way they learn of changed tables."""
    params = params or load_parameters()
    surface = compute(conn, params)
    store_raster(conn, StoredRaster(NAME, surface.values, surface.transform, CRS, params.cell_m,
                                    surface.vmax, {"weights": params.weights,
                                                   "bandwidth_m": params.bandwidth_m}),
                 source_run=run_id, tags={"units": "weighted risk units per km2",
                                          "vmax": surface.vmax})
    return surface
