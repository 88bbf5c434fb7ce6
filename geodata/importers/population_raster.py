"""`onemap import FILE.tif --layer population`: a real population raster onto the city's grid.

A WorldPop-style raster (residents per cell, any CRS) is read around the city, checked, and
summed onto the grid of the modelled surface (100 m cells in EPSG:4545 over the districts,
`geodata.population.grid_over`), keeping the number of people. It replaces the modelled
surface, and `onemap seed` keeps it. It is not rescaled to the census: real data stands,
and the report compares it with the census district by district.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import array_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from geodata.datums import SourceCRS, project_to_local
from geodata.errors import ImportRejected
from geodata.importers.geometry import crs_label, parse_crs_option
from geodata.population import (
    RASTER_CELL_M,
    RASTER_CRS,
    RASTER_NAME,
    grid_over,
    zone_index,
)
from geodata.rasters import StoredRaster, store_raster

UNITS = "residents per cell"
PLAUSIBLE = (0.5, 2.0)   # the city's total against the districts' census: half to double
PAD = 2                  # source cells read beyond the grid's edge (partial cells)
MAX_CELLS = 100_000_000  # source cells over the city held in memory (800 MB as float64)
NOTHING = "nothing was loaded"


@dataclass
class DistrictCount:
    """A district's residents in the raster against its census population."""

    code: str
    name: str
    residents: float
    census: int | None

    @property
    def difference_pct(self) -> float | None:
        return 100.0 * (self.residents - self.census) / self.census if self.census else None


@dataclass
class PopulationReport:
    """What a population import did (or, with `dry_run`, would do)."""

    source: str                      # the file's name
    source_crs: str                  # e.g. "EPSG:4326"
    cell_size: str                   # the file's cells, e.g. "3″ × 3″, ≈ 77 × 92 m"
    grid: tuple[int, int]            # (width, height) of the stored 100 m grid
    total: float                     # residents in the city
    census_total: int                # the districts' census population
    districts: list[DistrictCount]
    covered: float                   # share of the city's cells the file has data for
    replaced: str | None             # source of the surface replaced ("model", …), or None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    layer: str = RASTER_NAME

    def summary(self) -> str:
        verb = "would store" if self.dry_run else "stored"
        text = (f"{verb} the population surface from {self.source} ({self.source_crs}; cells "
                f"{self.cell_size}) on {self.grid[0]:,}×{self.grid[1]:,} cells of "
                f"{RASTER_CELL_M:g} m ({RASTER_CRS}): {self.total:,.0f} residents in the city")
        if self.census_total:
            text += (f", census {self.census_total:,} "
                     f"({100 * (self.total / self.census_total - 1):+.1f}%)")
        if self.replaced:
            what = "modelled" if self.replaced == "model" else "imported"
            text += f"; {'would replace' if self.dry_run else 'replaced'} the {what} surface"
        return text


def _refuse(message: str) -> ImportRejected:
    return ImportRejected(f"{message}; {NOTHING}")


def _open(path: Path):
    try:
        ds = rasterio.open(path)
    except RasterioError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _refuse(f"{path.name} is not a raster that can be read ({detail}); the population "
                      "layer takes a GeoTIFF of residents per cell") from exc
    if ds.transform.is_identity and not ds.gcps[0]:
        ds.close()
        raise _refuse(f"{path.name} has no georeferencing: where its cells lie is not known")
    return ds


def _source_crs(ds, option: str | None, name: str) -> tuple[CRS, str, list[str]]:
    """The file's CRS, or `--crs` (which a file without one needs)."""
    own = None
    if ds.crs is not None:
        own_crs = CRS.from_user_input(ds.crs.to_wkt())
        own = (own_crs, crs_label(SourceCRS(name=own_crs.to_string(), crs=own_crs)))
    if option is None:
        if own is None:
            raise _refuse(f"{name} does not say its coordinate system: pass --crs (e.g. --crs 4326 "
                          "for longitude/latitude cells, as WorldPop's)")
        return own[0], own[1], []
    chosen = parse_crs_option(option)
    label = crs_label(chosen)
    if chosen.crs is None:   # GCJ-02 / BD-09 are point offsets, not a grid one can warp
        raise _refuse(f"--crs {option}: a raster cannot be in {label}; give its real CRS")
    notes = []
    if own and own[1] != label:
        notes.append(f"--crs {label} used instead of the file's own {own[1]}")
    return chosen.crs, label, notes


def _cell_size(transform: Affine, crs: CRS, lat: float) -> str:
    dx, dy = math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)
    if crs.is_geographic:
        mx, my = dx * 111_320 * math.cos(math.radians(lat)), dy * 110_574
        return f"{dx * 3600:.3g}″ × {dy * 3600:.3g}″, ≈ {mx:.0f} × {my:.0f} m"
    unit = crs.axis_info[0].unit_name if crs.axis_info else "m"
    return f"{dx:g} × {dy:g} {'m' if unit in ('metre', 'meter') else unit}"


def _check_values(values: np.ndarray, empty: np.ndarray, nodata, name: str) -> None:
    """Residents are finite numbers, zero or more; no-data cells are no one."""
    bad = ~np.isfinite(values) & ~empty
    if bad.any():
        raise _refuse(f"{name}: {int(bad.sum()):,} cells around the city are NaN or infinite, not a "
                      "number of residents (cells without data must hold the nodata value)")
    negative = (values < 0) & ~empty
    if negative.any():
        said = (f"its nodata value is {nodata:g}" if nodata is not None
                else "it declares no nodata value")
        raise _refuse(f"{name}: {int(negative.sum()):,} cells around the city are negative (lowest "
                      f"{values[negative].min():g}) and {said}; residents cannot be negative")


def _read_over(ds, crs: CRS, bounds, name: str) -> tuple[np.ndarray, Affine]:
    """Band 1 over `bounds` (EPSG:4545), NaN where there is no data, padded to cover all of
    them: GDAL's sum loses people at the edge of a source smaller than the grid (measured:
    0.08% for a file a tenth of the grid's width), and is exact when it covers it. Only the
    cells read are checked: the rest of a national file does not matter here."""
    t = ds.transform
    if not t.is_rectilinear:
        raise _refuse(f"{name}: a rotated grid is not supported; warp it north-up first")
    try:
        w, s, e, n = transform_bounds(RASTER_CRS, crs, *bounds, densify_pts=21)
    except (RasterioError, ValueError) as exc:
        raise _refuse(f"{name}: the city cannot be placed in its CRS ({exc})") from exc
    cols = [(x - t.c) / t.a for x in (w, e)]
    rows = [(y - t.f) / t.e for y in (s, n)]
    c0, c1 = math.floor(min(cols)) - PAD, math.ceil(max(cols)) + PAD
    r0, r1 = math.floor(min(rows)) - PAD, math.ceil(max(rows)) + PAD
    if (c1 - c0) * (r1 - r0) > MAX_CELLS:
        raise _refuse(f"{name}: its cells are too fine, {(c1 - c0) * (r1 - r0):,} over the city; "
                      f"aggregate it to cells of about {RASTER_CELL_M:g} m first")
    rc0, rc1, rr0, rr1 = max(c0, 0), min(c1, ds.width), max(r0, 0), min(r1, ds.height)
    if rc0 >= rc1 or rr0 >= rr1:
        raise _refuse(f"{name} does not overlap the city's districts (in the file's CRS it "
                      f"covers {_bounds_text(ds.bounds)}, the city {_bounds_text((w, s, e, n))})")
    band = ds.read(1, window=Window(rc0, rr0, rc1 - rc0, rr1 - rr0), masked=True)
    values, empty = band.data.astype(np.float64), np.ma.getmaskarray(band)
    _check_values(values, empty, ds.nodata, name)
    values[empty] = np.nan
    values = np.pad(values, ((rr0 - r0, r1 - rr1), (rc0 - c0, c1 - rc1)), constant_values=np.nan)
    return values, Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)


def _bounds_text(b) -> str:
    return f"{b[0]:.6g}…{b[2]:.6g} × {b[1]:.6g}…{b[3]:.6g}"


def _onto_grid(values, src_transform, crs, transform, shape) -> np.ndarray:
    """Residents per grid cell, NaN where the file has no data.

    Resampling.sum (GDAL ≥ 3.1; rasterio ≥ 1.3 ships ≥ 3.6) gives each grid cell the
    residents of the source cells it overlaps, in proportion to the overlap, so the number
    of people is kept (measured with GDAL 3.10: within 1e-10 for source cells finer and
    coarser than 100 m). Averaging densities and multiplying back by cell area would need
    each source cell's area (varying with latitude) for the same result."""
    out = np.full(shape, np.nan)
    reproject(values, out, src_transform=src_transform, src_crs=crs, src_nodata=np.nan,
              dst_transform=transform, dst_crs=RASTER_CRS, dst_nodata=np.nan,
              resampling=Resampling.sum)
    return out


def _districts(conn: psycopg.Connection) -> list[tuple]:
    rows = conn.execute("SELECT code, name, population, ST_AsBinary(geom) FROM districts "
                        "ORDER BY code").fetchall()
    if not rows:
        raise _refuse("the database holds no districts to compare the raster with: load them first")
    return rows


def _check_total(name: str, total: float, census: int) -> None:
    low, high = PLAUSIBLE
    if census and not low * census <= total <= high * census:
        side = "less than half" if total < low * census else "more than double"
        raise _refuse(f"{name}: {total:,.0f} residents in the city is {side} the districts' census "
                      f"total of {census:,}: not a population raster of this city, or not in "
                      f"{UNITS} (a density per km² or a share would do this)")


def import_population(conn: psycopg.Connection, path: str | Path, crs: str | None = None,
                      dry_run: bool = False,
                      progress: Callable[[str], None] | None = None) -> PopulationReport:
    """Check a population raster and store it as the `population` surface, or store nothing.

    Band 1 is used. `crs` overrides the file's CRS (a file without one needs it). Raises
    `ImportRejected` and changes nothing when the file is unreadable, has no data over the
    city, holds NaN or negative residents, or totals outside half to double the census."""
    say = progress or (lambda message: None)
    path = Path(path)
    say(f"reading {path.name}")
    with _open(path) as ds, conn.transaction():
        src_crs, label, notes = _source_crs(ds, crs, path.name)
        if ds.count > 1:
            notes.append(f"{path.name} has {ds.count} bands: band 1 was used")
        if not dry_run:     # the grid and the comparison are the districts as they are now
            conn.execute("LOCK TABLE districts IN SHARE MODE")
        rows = _districts(conn)
        geoms = shapely.from_wkb([bytes(r[3]) for r in rows])
        cell_size = _cell_size(ds.transform, src_crs, shapely.centroid(shapely.union_all(geoms)).y)
        polys = project_to_local(geoms)
        transform, shape = grid_over(polys, RASTER_CELL_M)
        say(f"summing onto the {RASTER_CELL_M:g} m grid")
        grid = _onto_grid(*_read_over(ds, src_crs, array_bounds(*shape, transform), path.name),
                          src_crs, transform, shape)
        zones = zone_index(polys, transform, shape)
        covered = (zones > 0) & np.isfinite(grid)
        if not covered.any():
            raise _refuse(f"{path.name} has no data over the city's districts")
        people = np.where(covered, grid, 0.0)
        per_zone = np.bincount(zones.ravel(), weights=people.ravel(), minlength=len(rows) + 1)[1:]
        total, census = float(per_zone.sum()), sum(int(r[2] or 0) for r in rows)
        _check_total(path.name, total, census)
        share = float(covered.sum() / (zones > 0).sum())
        notes += _coverage_notes(share, census)
        prior = conn.execute("SELECT parameters->>'source' FROM rasters WHERE name = %s"
                             + ("" if dry_run else " FOR UPDATE"), [RASTER_NAME]).fetchone()
        if not dry_run:
            say("storing the surface")
            _store(conn, people.astype(np.float32), transform, path.name, label,
                   int(covered.sum()), prior)
    return PopulationReport(
        source=path.name, source_crs=label, cell_size=cell_size, grid=(shape[1], shape[0]),
        total=total, census_total=census,
        districts=[DistrictCount(r[0], r[1], float(p), r[2]) for r, p in zip(rows, per_zone)],
        covered=share, replaced=prior[0] if prior else None,
        dry_run=dry_run, notes=notes)


def _coverage_notes(share: float, census: int) -> list[str]:
    notes = []
    if share < 1:
        notes.append(f"the file has data for {share:.1%} of the city's cells; "
                     "the others count as no residents")
    if not census:
        notes.append("the districts carry no census population: the total was not checked")
    return notes


def _store(conn: psycopg.Connection, values: np.ndarray, transform: Affine, name: str,
           label: str, cells: int, prior) -> None:
    positive = values[values > 0]
    vmax = float(np.percentile(positive, 99.5)) if positive.size else 1.0
    parameters = {"source": "import", "file": name, "crs": label, "units": UNITS}
    store_raster(conn, StoredRaster(RASTER_NAME, values, transform, RASTER_CRS, RASTER_CELL_M,
                                    vmax, parameters),
                 tags={"source": "import", "file": name, "units": UNITS})
    # a raster's "rows" are the city's grid cells that the file has data for
    conn.execute("INSERT INTO imports (layer, source, source_crs, rows, replaced, synthetic) "
                 "VALUES (%s, %s, %s, %s, %s, false)",
                 [RASTER_NAME, name, label, cells, int(prior is not None and prior[0] == "model")])
