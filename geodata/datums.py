"""Coordinate systems of Chinese data: WGS84, CGCS2000, Gauss-Krüger zones, GCJ-02 and BD-09.

GCJ-02 (the "Mars" datum of every licensed Chinese web map) and BD-09 (Baidu) are
deliberate, non-linear obfuscations of WGS84 that no EPSG code describes, so pyproj
cannot convert them. The forward formulas are the widely published ones (Krasovsky
ellipsoid parameters, offset polynomials); the inverse has no closed form and is
solved by fixed-point iteration, which converges to well under a millimetre.

Everything else (EPSG:4490 CGCS2000, EPSG:4513-4554 CGCS2000 Gauss-Krüger zones,
Xian 1980 and Beijing 1954 zones, …) goes through pyproj.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geodata.errors import CRSNameError

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formulas.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

WGS84 = CRS.from_epsg(4326)
# CGCS2000 / 3-degree Gauss-Krüger CM 108E: covers Xi'an (107.6-109.8 E) for areas.
XIAN_GK = CRS.from_epsg(4545)


def _offset_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def in_china(lon, lat) -> np.ndarray:
    """The rough rectangle inside which GCJ-02 applies its offset (outside it is WGS84)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (vectorised)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlat = _offset_lat(lon - 105.0, lat - 35.0)
    dlon = _offset_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _invert(forward, x, y, start, tolerance_deg: float = 1e-10, max_iter: int = 30):
    """Solve forward(p) = (x, y) for p by fixed-point iteration from `start`.

    The obfuscations move points by well under a kilometre and vary slowly, so each step
    shrinks the error by orders of magnitude: a few steps reach the tolerance.
    """
    px, py = (np.array(v, dtype=float) for v in start)
    for _ in range(max_iter):
        fx, fy = forward(px, py)
        dx, dy = fx - x, fy - y
        px, py = px - dx, py - dy
        if np.all(np.abs(dx) < tolerance_deg) and np.all(np.abs(dy) < tolerance_deg):
            break
    return px, py


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS84 by fixed-point iteration on the forward formula."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, glon, glat, (glon, glat))


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (Baidu)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02: the published closed-form guess refined by iteration."""
    blon, blat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, blon, blat, (z * np.cos(theta), z * np.sin(theta)))


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


@dataclass(frozen=True)
class SourceCRS:
    """Where coordinates come from: an obfuscated web-map datum or a pyproj CRS."""

    name: str
    web_datum: str | None = None  # "gcj02" or "bd09"
    crs: CRS | None = None

    @property
    def is_geographic(self) -> bool:
        return self.web_datum is not None or bool(self.crs and self.crs.is_geographic)

    def to_wgs84_xy(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Convert coordinate arrays to WGS84 longitude/latitude."""
        if self.web_datum == "gcj02":
            return gcj02_to_wgs84(x, y)
        if self.web_datum == "bd09":
            return bd09_to_wgs84(x, y)
        assert self.crs is not None
        if self.crs.equals(WGS84, ignore_axis_order=True):
            return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        transformer = Transformer.from_crs(self.crs, WGS84, always_xy=True)
        return transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))

    def geometries_to_wgs84(self, geoms):
        """Convert an array of shapely geometries to WGS84 (keeps z-less 2D coordinates)."""

        def convert(coords: np.ndarray) -> np.ndarray:
            if len(coords) == 0:
                return coords
            lon, lat = self.to_wgs84_xy(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        return shapely.transform(np.asarray(geoms, dtype=object), convert)


_ALIASES = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
    "wgs84": "EPSG:4326", "wgs-84": "EPSG:4326", "crs84": "OGC:CRS84",
    "cgcs2000": "EPSG:4490",
}


def parse_crs(name: str | int) -> SourceCRS:
    """Read a CRS name as users write it: `EPSG:4490`, `4545`, `gcj02`, `BD-09`, `wgs84`…"""
    text = str(name).strip()
    key = text.lower()
    alias = _ALIASES.get(key, text)
    if alias in ("gcj02", "bd09"):
        return SourceCRS(name=alias, web_datum=alias)
    if re.fullmatch(r"\d{4,6}", alias):
        alias = f"EPSG:{alias}"
    try:
        crs = CRS.from_user_input(alias)
    except CRSError as exc:
        raise CRSNameError(
            f"unknown coordinate system {text!r}: use an EPSG code (4326, 4490, 4545, …), "
            "'gcj02' or 'bd09'"
        ) from exc
    return SourceCRS(name=crs.to_string(), crs=crs)


def transformer(source: CRS, target: CRS) -> Transformer:
    """A transformer (x = longitude/easting first), made once: making one takes ~60 ms.
    Cached on the CRSs' definitions: hashing a CRS object itself costs ~20 us a call."""
    return _transformer(source.srs, target.srs)


@functools.lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _reproject(geoms, source: CRS, target: CRS) -> np.ndarray:
    transformer_ = transformer(source, target)

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer_.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), convert)


def project_to_local(geoms, crs: CRS = XIAN_GK):
    """Project WGS84 geometries into a metric CRS for lengths and areas."""
    return _reproject(geoms, WGS84, crs)


def local_to_wgs84(geoms, crs: CRS = XIAN_GK) -> np.ndarray:
    """The inverse of `project_to_local`: geometries in metres back to WGS84 (SRID 4326 set,
    ready for EWKB)."""
    return shapely.set_srid(_reproject(geoms, crs, WGS84), 4326)
