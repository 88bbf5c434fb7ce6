"""The WebMercatorQuad grid: parsing z/x/y from a URL, and the tiles over an area.

Pure arithmetic, no database: the tile SQL asks PostGIS for the envelopes themselves
(`ST_TileEnvelope`), and these functions serve the parsing, the TileJSON and the tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from layers.tiling import MAX_ZOOM
from service.errors import InvalidParameter

MAX_LATITUDE = 85.0511287798066  # the grid's edge: atan(sinh(pi))
_NUMBER = re.compile(r"[0-9]{1,8}")


@dataclass(frozen=True, order=True)
class Tile:
    z: int
    x: int
    y: int

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"


def _number(name: str, text: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise InvalidParameter(name, f"{text!r} is not a whole number")
    return int(text)


def parse_tile(z: str, x: str, y: str) -> Tile:
    """The tile named by URL parts; InvalidParameter (400) saying what is wrong."""
    zoom = _number("z", z)
    if zoom > MAX_ZOOM:
        raise InvalidParameter("z", f"zoom {zoom} is out of range: 0 to {MAX_ZOOM}")
    column, row = _number("x", x), _number("y", y)
    last = 2 ** zoom - 1
    if column > last:
        raise InvalidParameter("x", f"column {column} is out of range at zoom {zoom}: 0 to {last}")
    if row > last:
        raise InvalidParameter("y", f"row {row} is out of range at zoom {zoom}: 0 to {last}")
    return Tile(zoom, column, row)


def tile_of(lon: float, lat: float, z: int) -> Tile:
    """The tile at zoom `z` holding the point (lon, lat) (degrees, WGS 84)."""
    n = 2 ** z
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    x = math.floor((lon + 180.0) / 360.0 * n)
    y = math.floor((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return Tile(z, min(max(x, 0), n - 1), min(max(y, 0), n - 1))


def tiles_over(bbox: tuple[float, float, float, float], z: int) -> Iterator[Tile]:
    """Every tile at zoom `z` touching `bbox` (west, south, east, north in degrees)."""
    west, south, east, north = bbox
    top_left, bottom_right = tile_of(west, north, z), tile_of(east, south, z)
    for x in range(top_left.x, bottom_right.x + 1):
        for y in range(top_left.y, bottom_right.y + 1):
            yield Tile(z, x, y)


def tile_bounds(tile: Tile) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a tile in degrees."""
    n = 2 ** tile.z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (tile.x / n * 360.0 - 180.0, lat(tile.y + 1), (tile.x + 1) / n * 360.0 - 180.0,
            lat(tile.y))


def fitting_zoom(bbox: tuple[float, float, float, float], pixels: int = 1024) -> int:
    """The largest zoom at which `bbox` fits in `pixels` (512-px tiles), at least 0."""
    west, south, east, north = bbox
    width = max(east - west, 1e-9) / 360.0
    y_north = math.asinh(math.tan(math.radians(min(north, MAX_LATITUDE))))
    y_south = math.asinh(math.tan(math.radians(max(south, -MAX_LATITUDE))))
    height = max(y_north - y_south, 1e-9) / (2 * math.pi)
    return max(0, min(MAX_ZOOM, math.floor(math.log2(pixels / 512 / max(width, height)))))
