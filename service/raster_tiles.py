"""PNG tiles of a stored raster surface (the risk density), with a colour ramp.

The COG is loaded from the `rasters` table into memory once and again only when its
`built_at` changes, so a re-grade by any process shows in the next tile. A tile is a
bilinear read of the WebMercatorQuad tile's window (GDAL picks the overview), coloured
through the four-colour ramp with transparency where there is little risk.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.windows import from_bounds

TILE = 256
ORIGIN = 20037508.342789244  # half the Web-Mercator world, metres
# ramp stops: share of vmax -> (r, g, b, alpha); low values fade out entirely
RAMP = [
    (0.00, (47, 111, 222, 0)),
    (0.04, (47, 111, 222, 70)),
    (0.30, (245, 200, 0, 140)),
    (0.60, (245, 130, 0, 180)),
    (1.00, (224, 32, 32, 215)),
]


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * ORIGIN / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return minx, maxy - size, minx + size, maxy


def colourise(values: np.ndarray, vmax: float) -> np.ndarray:
    """(4, h, w) uint8 RGBA through RAMP; 0 is fully transparent."""
    share = np.clip(values / vmax, 0, 1) if vmax > 0 else np.zeros_like(values)
    stops = [s for s, _ in RAMP]
    rgba = np.stack([np.interp(share, stops, [c[i] for _, c in RAMP]) for i in range(4)])
    rgba[3][values <= 0] = 0
    return rgba.round().astype(np.uint8)


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes through GDAL's PNG driver (a tile image needs no georeference)."""
    with warnings.catch_warnings(), MemoryFile() as memfile:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with memfile.open(driver="PNG", width=rgba.shape[2], height=rgba.shape[1], count=4,
                          dtype="uint8") as ds:
            ds.write(rgba)
        return memfile.read()


@dataclass
class LoadedRaster:
    built_at: object
    vmax: float
    memfile: MemoryFile
    dataset: object
    lock: threading.Lock
    version: object = None  # the raster's entry in layer_versions when it was loaded

    def close(self) -> None:
        self.dataset.close()
        self.memfile.close()


class RasterTiles:
    """One process's view of the stored rasters, reloaded when they are rebuilt.

    Whether a raster changed is asked of the tile service's version reader (rebuilding bumps
    the raster's entry in `layer_versions`), so a warm tile costs no query of its own; only
    when that version is unknown or has moved is the `rasters` row read.
    """

    def __init__(self):
        self._loaded: dict[str, LoadedRaster] = {}
        self._loading = asyncio.Lock()

    async def current(self, pool, versions, name: str) -> LoadedRaster | None:
        known = await versions.current()
        version = known.get(name) if known else None
        loaded = self._loaded.get(name)
        if loaded is not None and version is not None and loaded.version == version:
            return loaded
        async with pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT built_at FROM rasters WHERE name = %s", [name])).fetchone()
        if row is None:
            return None
        async with self._loading:
            loaded = self._loaded.get(name)
            if loaded is None or loaded.built_at != row[0]:
                async with pool.connection() as conn:
                    built_at, vmax, cog = await (await conn.execute(
                        "SELECT built_at, vmax, cog FROM rasters WHERE name = %s", [name])).fetchone()
                memfile = MemoryFile(bytes(cog))
                fresh = LoadedRaster(built_at, vmax, memfile, memfile.open(), threading.Lock())
                old, self._loaded[name] = loaded, fresh
                if old is not None:
                    old.close()
                loaded = fresh
            loaded.version = version
            return loaded

    @staticmethod
    def render(raster: LoadedRaster, z: int, x: int, y: int) -> bytes | None:
        """The tile's PNG, or None where the surface has nothing."""
        ds = raster.dataset
        left, bottom, right, top = tile_bounds(z, x, y)
        b = ds.bounds
        if right <= b.left or left >= b.right or top <= b.bottom or bottom >= b.top:
            return None
        window = from_bounds(left, bottom, right, top, ds.transform)
        with raster.lock:  # a GDAL dataset is not safe to read from two threads at once
            values = ds.read(1, window=window, out_shape=(TILE, TILE), boundless=True,
                             fill_value=0, resampling=Resampling.bilinear)
        if not np.any(values > 0):
            return None
        return encode_png(colourise(values, raster.vmax))

    def close(self) -> None:
        for raster in self._loaded.values():
            raster.close()
        self._loaded.clear()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
