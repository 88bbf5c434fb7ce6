"""Raster surfaces kept in the database (table `rasters`) as Cloud-Optimised GeoTIFF bytes.

One row per surface (the risk density, the population), so the command line that builds a
surface and every service worker read the same, current one. Storing a surface bumps its
entry in `layer_versions`, which is how caches learn that it changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import psycopg
from affine import Affine
from rasterio.io import MemoryFile


@dataclass
class StoredRaster:
    """A single-band surface: values (rows from the north), its grid, and what it is."""

    name: str
    values: np.ndarray
    transform: Affine
    crs: str
    cell_m: float
    vmax: float
    parameters: dict = field(default_factory=dict)
    built_at: object = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape


def to_cog(values: np.ndarray, transform: Affine, crs: str, nodata: float | None = 0.0,
           tags: dict | None = None) -> bytes:
    """`values` as Cloud-Optimised GeoTIFF bytes (float32, deflate, tiled, with overviews)."""
    height, width = values.shape
    with MemoryFile() as memfile:
        with memfile.open(driver="COG", width=width, height=height, count=1, dtype="float32",
                          crs=crs, transform=transform, nodata=nodata, compress="deflate",
                          predictor=3, blocksize=512, overview_resampling="average") as ds:
            ds.write(values.astype(np.float32, copy=False), 1)
            if tags:
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
        return memfile.read()


def store_raster(conn: psycopg.Connection, raster: StoredRaster, source_run: int | None = None,
                 tags: dict | None = None) -> None:
    """Write (or replace) the surface called `raster.name`, in the caller's transaction."""
    height, width = raster.shape
    conn.execute(
        """INSERT INTO rasters (name, cog, crs, width, height, cell_m, vmax, source_run, parameters)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (name) DO UPDATE SET cog = EXCLUDED.cog, crs = EXCLUDED.crs,
               width = EXCLUDED.width, height = EXCLUDED.height, cell_m = EXCLUDED.cell_m,
               vmax = EXCLUDED.vmax, built_at = clock_timestamp(), source_run = EXCLUDED.source_run,
               parameters = EXCLUDED.parameters""",
        [raster.name, to_cog(raster.values, raster.transform, raster.crs, tags=tags), raster.crs,
         width, height, raster.cell_m, raster.vmax, source_run, json.dumps(raster.parameters)])
    conn.execute("SELECT bump_layer_versions(%s)", [raster.name])


def read_cog(data: bytes) -> tuple[np.ndarray, Affine, str]:
    """Band 1 of COG bytes, with its transform and CRS."""
    with MemoryFile(data) as memfile, memfile.open() as ds:
        return ds.read(1), ds.transform, ds.crs.to_string()


def load_raster(conn: psycopg.Connection, name: str) -> StoredRaster | None:
    """The stored surface called `name`, or None when there is none."""
    row = conn.execute("SELECT cog, cell_m, vmax, parameters, built_at FROM rasters "
                       "WHERE name = %s", [name]).fetchone()
    if row is None:
        return None
    values, transform, crs = read_cog(bytes(row[0]))
    return StoredRaster(name, values, transform, crs, row[1], row[2], row[3] or {}, row[4])
