"""What the shelter analysis reads from the database: the population surface on its cells,
the districts and sub-districts over it, and the shelters.

The surface is the `population` raster (modelled by `onemap seed`, or imported). Residents
are taken at cell centres; a cell belongs to the district and sub-district holding its
centre, the same rule that made the modelled raster sum to each district's census figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
import shapely
from psycopg import sql
from scipy.spatial import cKDTree

from geodata.datums import WGS84, XIAN_GK, project_to_local, transformer
from geodata.errors import DatabaseSetupError
from geodata.population import RASTER_NAME, cell_centres, zone_index
from geodata.rasters import StoredRaster, load_raster


class MissingPopulationError(DatabaseSetupError):
    """No population surface is stored (answers 503 with this message)."""


@dataclass
class Area:
    code: str
    name: str
    name_en: str | None
    district_code: str             # a district's own code, or a sub-district's district
    census_population: int | None  # districts.population / subdistricts.population
    geom: object                   # shapely, WGS84


@dataclass
class Surface:
    """Residents on the populated cells inside the city."""

    raster: StoredRaster
    districts: list[Area]
    subdistricts: list[Area]
    x: np.ndarray                  # cell centres, EPSG:4545 metres
    y: np.ndarray
    population: np.ndarray         # residents per cell (float64)
    district: np.ndarray           # index into `districts` per cell
    subdistrict: np.ndarray        # index into `subdistricts` per cell, -1 for none
    tree: cKDTree

    def district_index(self, code: str) -> int | None:
        return next((i for i, a in enumerate(self.districts) if a.code == code), None)


@dataclass
class Shelters:
    """The shelters, as parallel arrays."""

    id: np.ndarray
    code: np.ndarray
    name: np.ndarray
    shelter_class: np.ndarray
    area_m2: np.ndarray            # effective area
    x: np.ndarray                  # EPSG:4545 metres
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    district: np.ndarray           # district code (the row's own)
    subdistrict: np.ndarray        # code of the sub-district holding it, '' for none

    def __len__(self) -> int:
        return len(self.id)


def _areas(conn: psycopg.Connection, table: str) -> list[Area]:
    district = "district_code" if table == "subdistricts" else "code"
    rows = conn.execute(sql.SQL(
        "SELECT code, name, name_en, {}, population, ST_AsBinary(geom) FROM {} ORDER BY code"
    ).format(sql.Identifier(district), sql.Identifier(table))).fetchall()
    return [Area(r[0], r[1], r[2], r[3], r[4], shapely.from_wkb(bytes(r[5]))) for r in rows]


def load_surface(conn: psycopg.Connection) -> Surface:
    """The population surface with the districts and sub-districts over it."""
    raster = load_raster(conn, RASTER_NAME)
    if raster is None:
        raise MissingPopulationError(
            "no population surface is stored: `onemap seed` models one from the census, "
            "`onemap import FILE.tif --layer population` loads a real one")
    districts, subdistricts = _areas(conn, "districts"), _areas(conn, "subdistricts")
    values = raster.values.astype(np.float64)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    dzone = zone_index(project_to_local([a.geom for a in districts]), raster.transform,
                       raster.shape) if districts else np.zeros(raster.shape, np.int32)
    szone = zone_index(project_to_local([a.geom for a in subdistricts]), raster.transform,
                       raster.shape) if subdistricts else np.zeros(raster.shape, np.int32)
    rows, cols = np.nonzero((values > 0) & (dzone > 0))
    xs, ys = cell_centres(raster.transform, raster.shape)
    x, y = xs[cols], ys[rows]
    district = dzone[rows, cols] - 1
    subdistrict = szone[rows, cols] - 1
    # a cell whose sub-district lies in another district (boundaries that disagree by a
    # hair) belongs to no sub-district, so sub-districts never add up to more than the district
    if subdistricts:
        owner = np.array([next((i for i, d in enumerate(districts) if d.code == s.district_code),
                               -1) for s in subdistricts])
        mismatch = (subdistrict >= 0) & (owner[np.maximum(subdistrict, 0)] != district)
        subdistrict[mismatch] = -1
    return Surface(raster, districts, subdistricts, x, y, values[rows, cols], district,
                   subdistrict, cKDTree(np.column_stack([x, y])))


def load_shelters(conn: psycopg.Connection) -> Shelters:
    """Every shelter, with the sub-district holding it."""
    rows = conn.execute(
        """SELECT s.id, s.code, s.name, s.class, s.effective_area_m2, ST_X(s.geom), ST_Y(s.geom),
                  s.district_code, coalesce(
                      (SELECT b.code FROM subdistricts b WHERE ST_Covers(b.geom, s.geom)
                       ORDER BY b.code LIMIT 1), '')
           FROM shelters s ORDER BY s.id""").fetchall()
    cols = list(zip(*rows)) if rows else [()] * 9
    lon = np.array(cols[5], dtype=np.float64)
    lat = np.array(cols[6], dtype=np.float64)
    x, y = transformer(WGS84, XIAN_GK).transform(lon, lat)
    return Shelters(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=object),
                    np.array(cols[2], dtype=object), np.array(cols[3], dtype=object),
                    np.array(cols[4], dtype=np.float64), np.asarray(x, dtype=np.float64),
                    np.asarray(y, dtype=np.float64), lon, lat, np.array(cols[7], dtype=object),
                    np.array(cols[8], dtype=object))
