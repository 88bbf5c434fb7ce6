"""The shelter analysis as the service keeps it: computed in a worker thread, kept until the
data it was computed from changes.

The inputs are versioned in `layer_versions` (the shelters, the population surface, the
districts and sub-districts), read through the tile service's version reader, so a change
made by any process (an import, a seed, an edit in QGIS) is in the next answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely
from scipy.spatial import cKDTree
from starlette.concurrency import run_in_threadpool

from geodata.datums import WGS84, XIAN_GK, project_to_local, transformer
from geodata.errors import NotFoundError
from layers.shelters.analysis import ShelterReport, analyse
from layers.shelters.coverage import best_sites
from layers.shelters.inputs import Shelters, Surface, load_shelters, load_surface
from layers.shelters.standards import ShelterStandards, load_standards

SURFACE_INPUTS = ("population", "districts", "subdistricts")
SHELTER_INPUTS = ("shelters",)


@dataclass
class Analysed:
    surface: Surface
    shelters: Shelters
    report: ShelterReport


class ShelterAnalysis:
    """The latest analysis, recomputed when its inputs' versions move."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any],
                 standards: ShelterStandards | None = None):
        self._conninfo, self._kwargs = conninfo, connect_kwargs
        self.standards = standards or load_standards()
        self._lock = asyncio.Lock()  # one computation at a time; the others wait for it
        self._surface: tuple[tuple, Surface] | None = None
        self._shelters: tuple[tuple, Shelters] | None = None
        self._current: tuple[tuple, Analysed] | None = None

    @staticmethod
    def _key(versions: Mapping | None, names: tuple[str, ...]) -> tuple | None:
        return None if versions is None else tuple(versions.get(n) for n in names)

    async def current(self, versions: Mapping | None) -> Analysed:
        """The analysis of the data as of `versions` (None: unknown, compute anew)."""
        key = self._key(versions, SURFACE_INPUTS + SHELTER_INPUTS)
        if key is not None and self._current is not None and self._current[0] == key:
            return self._current[1]
        async with self._lock:
            if key is not None and self._current is not None and self._current[0] == key:
                return self._current[1]
            analysed = await run_in_threadpool(self._compute, versions)
            self._current = (key, analysed) if key is not None else None
            return analysed

    def _compute(self, versions: Mapping | None) -> Analysed:
        surface_key = self._key(versions, SURFACE_INPUTS)
        shelters_key = self._key(versions, SHELTER_INPUTS)
        with psycopg.connect(self._conninfo, **self._kwargs) as conn:
            if surface_key is None or self._surface is None or self._surface[0] != surface_key:
                self._surface = (surface_key, load_surface(conn))
            if shelters_key is None or self._shelters is None or self._shelters[0] != shelters_key:
                self._shelters = (shelters_key, load_shelters(conn))
        surface, shelters = self._surface[1], self._shelters[1]
        return Analysed(surface, shelters, analyse(surface, shelters, self.standards))

    async def candidates(self, versions: Mapping | None, district_code: str, n: int,
                         area_m2: float, shelter_class: str) -> dict:
        """Up to `n` new shelter sites in the district, best first (see `best_sites`)."""
        analysed = await self.current(versions)
        return await run_in_threadpool(self._candidates, analysed, district_code, n, area_m2,
                                       shelter_class)

    def _candidates(self, analysed: Analysed, code: str, n: int, area_m2: float,
                    shelter_class: str) -> dict:
        surface, report = analysed.surface, analysed.report
        index = surface.district_index(code)
        if index is None:
            raise NotFoundError(f"no district with code {code!r}")
        cls = self.standards.classes[shelter_class]
        capacity = area_m2 / cls.per_person_m2
        left = report.coverage.unsheltered
        mine = (surface.district == index) & (left > 0)
        cells = cKDTree(np.column_stack([surface.x[mine], surface.y[mine]]))
        sites, source = self._sites(surface, code, index)
        proposals = best_sites(cells, left[mine], sites["x"], sites["y"], cls.radius_m,
                               capacity, n) if mine.any() else []
        before = float(left[mine].sum())
        return {
            "district_code": code,
            "name": surface.districts[index].name,
            "class": shelter_class,
            "area_m2": area_m2,
            "capacity": round(capacity, 1),
            "radius_m": cls.radius_m,
            "sites_from": source,
            "sites_considered": len(sites["x"]),
            "unsheltered_before": round(before),
            "candidates": [
                {"rank": rank, "lon": round(float(sites["lon"][p.site]), 6),
                 "lat": round(float(sites["lat"][p.site]), 6),
                 "site": sites["info"][p.site], "gain": round(p.gain),
                 "cumulative_gain": round(p.total),
                 "unsheltered_after": round(before - p.total)}
                for rank, p in enumerate(proposals, start=1)],
        }

    def _sites(self, surface: Surface, code: str, index: int) -> tuple[dict, str]:
        """Loaded candidate sites of the district, or else a grid over it."""
        with psycopg.connect(self._conninfo, **self._kwargs) as conn:
            rows = conn.execute("SELECT code, name, site_type, area_m2, ST_X(geom), ST_Y(geom) "
                                "FROM candidate_sites WHERE district_code = %s ORDER BY code",
                                [code]).fetchall()
        if rows:
            lon = np.array([r[4] for r in rows])
            lat = np.array([r[5] for r in rows])
            x, y = transformer(WGS84, XIAN_GK).transform(lon, lat)
            info = [{"code": r[0], "name": r[1], "site_type": r[2], "area_m2": r[3]}
                    for r in rows]
            return {"x": np.asarray(x), "y": np.asarray(y), "lon": lon, "lat": lat,
                    "info": info}, "candidate_sites"
        step = self.standards.candidates.grid_m
        poly = project_to_local([surface.districts[index].geom])[0]
        minx, miny, maxx, maxy = poly.bounds
        gx, gy = np.meshgrid(np.arange(minx + step / 2, maxx, step),
                             np.arange(miny + step / 2, maxy, step))
        gx, gy = gx.ravel(), gy.ravel()
        inside = shapely.contains_xy(poly, gx, gy)
        gx, gy = gx[inside], gy[inside]
        lon, lat = transformer(XIAN_GK, WGS84).transform(gx, gy)
        return {"x": gx, "y": gy, "lon": np.asarray(lon), "lat": np.asarray(lat),
                "info": [None] * len(gx)}, "grid"
