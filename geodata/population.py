"""Where people live: a modelled population grid that sums exactly to the census per district.

No package ships a Chinese population grid, so the demonstration uses a documented density
model, evaluated on a regular grid in the city's Gauss-Krüger CRS (EPSG:4545):

    density = 25,000·exp(-r/3 km) + 8,000·exp(-r/9 km)     around the city centre
            + Σ 6,000·exp(-s/2 km)                          around each district seat
            + 300 /km² on the plain, 30 /km² south of the mountain foot

Each district's cells are then scaled so that they sum to its census population (county
basis). The demonstration places features with these weights on a 250 m grid (denser in
the urban core). The published population surface (`population` in the `rasters` table,
used by the shelter analysis) is the same model on a 100 m raster in EPSG:4545, in whole
residents per cell that sum exactly to each district's census figure; a real raster
(WorldPop-style) replaces it by `onemap import --layer population`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import from_origin

from geodata.datums import WGS84, XIAN_GK, project_to_local, transformer
from geodata.rasters import StoredRaster

CELL_M = 250.0
RASTER_NAME = "population"
RASTER_CELL_M = 100.0
RASTER_CRS = "EPSG:4545"


@dataclass
class PopulationGrid:
    """Cell centres (projected metres and WGS84) with their district and residents."""

    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    district: np.ndarray       # district code per cell
    density: np.ndarray        # modelled relative density (people/km² before scaling)
    population: np.ndarray     # residents per cell; sums to the census per district
    mountain: np.ndarray       # True south of the mountain foot
    cell_m: float = CELL_M

    def in_district(self, code: str) -> np.ndarray:
        return self.district == code


class DensityModel:
    """The urban density model of the module docstring, for one city."""

    def __init__(self, centre_lonlat, seats_lonlat, mountain_foot):
        to_gk = Transformer.from_crs(WGS84, XIAN_GK, always_xy=True)
        self.centre = np.array(to_gk.transform(*centre_lonlat))
        self.seats = np.array([to_gk.transform(*s) for s in seats_lonlat])
        foot = np.asarray(mountain_foot, dtype=float)
        self._foot_lon, self._foot_lat = foot[:, 0], foot[:, 1]

    def is_mountain(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return lat < np.interp(lon, self._foot_lon, self._foot_lat)

    def __call__(self, x: np.ndarray, y: np.ndarray, lon: np.ndarray, lat: np.ndarray):
        r = np.hypot(x - self.centre[0], y - self.centre[1])
        d = 25_000 * np.exp(-r / 3_000) + 8_000 * np.exp(-r / 9_000)
        for sx, sy in self.seats:
            d += 6_000 * np.exp(-np.hypot(x - sx, y - sy) / 2_000)
        mountain = self.is_mountain(lon, lat)
        d += np.where(mountain, 30.0, 300.0)
        # the mountains damp the urban terms too: valleys, not suburbs
        return np.where(mountain, d * 0.15, d), mountain


def build_grid(districts, model: DensityModel, cell_m: float = CELL_M) -> PopulationGrid:
    """Evaluate the model on a grid over each district and scale to its census population.

    `districts` is a GeoDataFrame in EPSG:4326 with `code` and `population`.
    """
    to_wgs = Transformer.from_crs(XIAN_GK, WGS84, always_xy=True)
    polys = project_to_local(districts.geometry.values)
    parts = []
    for code, population, poly in zip(districts["code"], districts["population"], polys):
        minx, miny, maxx, maxy = poly.bounds
        xs = np.arange(np.floor(minx / cell_m) * cell_m + cell_m / 2, maxx, cell_m)
        ys = np.arange(np.floor(miny / cell_m) * cell_m + cell_m / 2, maxy, cell_m)
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        inside = shapely.contains_xy(poly, gx, gy)
        gx, gy = gx[inside], gy[inside]
        if len(gx) == 0:  # a district smaller than a cell: one cell at an inner point
            p = poly.representative_point()
            gx, gy = np.array([p.x]), np.array([p.y])
        lon, lat = to_wgs.transform(gx, gy)
        density, mountain = model(gx, gy, lon, lat)
        people = density * (float(population or 0) / density.sum())
        parts.append((gx, gy, lon, lat, np.full(len(gx), code, dtype=object), density, people,
                      mountain))
    cols = [np.concatenate(c) for c in zip(*parts)]
    return PopulationGrid(*cols, cell_m=cell_m)


# -- the published surface -------------------------------------------------------------------

def grid_over(polys, cell_m: float = RASTER_CELL_M):
    """(transform, shape) of a grid of `cell_m` cells, snapped to whole multiples, covering
    the projected polygons."""
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(polys, dtype=object))
    minx, miny = np.floor(minx / cell_m) * cell_m, np.floor(miny / cell_m) * cell_m
    maxx, maxy = np.ceil(maxx / cell_m) * cell_m, np.ceil(maxy / cell_m) * cell_m
    shape = (round((maxy - miny) / cell_m), round((maxx - minx) / cell_m))
    return from_origin(minx, maxy, cell_m, cell_m), shape


def zone_index(polys, transform, shape) -> np.ndarray:
    """Which polygon each cell's centre lies in: 1 + its index, 0 for none (int32).

    A polygon too small to hold any cell centre still gets the cell under its inner point,
    so every zone has at least one cell."""
    zones = rasterize(((p, i + 1) for i, p in enumerate(polys) if not p.is_empty),
                      out_shape=shape, transform=transform, fill=0, dtype="int32")
    present = np.zeros(len(polys) + 1, dtype=bool)
    present[np.unique(zones)] = True
    inverse = ~transform
    for i, poly in enumerate(polys):
        if not present[i + 1] and not poly.is_empty:
            point = poly.representative_point()
            col, row = (int(v) for v in inverse @ (point.x, point.y))
            if 0 <= row < shape[0] and 0 <= col < shape[1]:
                zones[row, col] = i + 1
    return zones


def cell_centres(transform, shape) -> tuple[np.ndarray, np.ndarray]:
    """Projected x of each column's centre and y of each row's centre."""
    cols, rows = np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5
    return transform.c + cols * transform.a, transform.f + rows * transform.e


def whole_residents(weights: np.ndarray, total: int) -> np.ndarray:
    """Split `total` residents over cells in proportion to `weights`, in whole people that
    add up to `total` exactly.

    Systematic rounding: a cell gets a person each time the running sum of the exact shares
    passes a half. Each cell is its share rounded down or up, and a sparse area (a valley
    with 0.05 residents a cell) still gets one person every twenty cells instead of none."""
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights))
    running = np.floor(np.cumsum(weights * (total / weights.sum())) + 0.5)
    running[-1] = total
    return np.diff(running, prepend=0.0)


def build_raster(districts, model: DensityModel, cell_m: float = RASTER_CELL_M) -> StoredRaster:
    """The density model on a raster over the districts, in whole residents per cell, each
    district's cells summing exactly to its census population.

    `districts` is a GeoDataFrame in EPSG:4326 with `code` and `population`."""
    polys = project_to_local(districts.geometry.values)
    transform, shape = grid_over(polys, cell_m)
    zones = zone_index(polys, transform, shape)
    rows, cols = np.nonzero(zones)
    xs, ys = cell_centres(transform, shape)
    gx, gy = xs[cols], ys[rows]
    lon, lat = transformer(XIAN_GK, WGS84).transform(gx, gy)
    density, _ = model(gx, gy, lon, lat)
    people = np.zeros(len(rows))
    zone_of_cell = zones[rows, cols]
    for i, population in enumerate(districts["population"]):
        here = zone_of_cell == i + 1
        people[here] = whole_residents(density[here], int(population or 0))
    values = np.zeros(shape, dtype=np.float32)
    values[rows, cols] = people
    nonzero = people[people > 0]
    vmax = float(np.percentile(nonzero, 99.5)) if nonzero.size else 1.0
    return StoredRaster(RASTER_NAME, values, transform, RASTER_CRS, cell_m, vmax,
                        {"source": "model", "basis": "census, county basis (行政区划口径)",
                         "units": "residents per cell"})


def zone_totals(raster: StoredRaster, polys) -> np.ndarray:
    """Residents of the raster in each projected polygon (by cell centre), as float64."""
    zones = zone_index(polys, raster.transform, raster.shape)
    sums = np.bincount(zones.ravel(), weights=raster.values.ravel().astype(np.float64),
                       minlength=len(polys) + 1)
    return sums[1:]
