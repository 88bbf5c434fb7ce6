"""The `fire_coverage` layer: where fire crews arrive in time, as polygons of the population
surface's cells (the reach and its figures: `layers.commander.fire`).

Rows: one `station` per fire station that reaches any land (the cells it reaches in time),
one `union` for the city (the cells some station reaches) and per district one `outside`
(its built-up cells that no station reaches), each with the residents of its cells and its
area. The layer is derived: it is rebuilt when the fire stations (the `resources` table),
the population, the districts or the roads change (`is_stale`), or when it was built with
another response time.
"""

from __future__ import annotations

import time

import numpy as np
import psycopg
import shapely
from affine import Affine
from psycopg import sql
from rasterio.features import shapes

from geodata.datums import local_to_wgs84
from layers.commander.fire import (
    FireCoverage,
    FireRules,
    analyse,
    built_up,
    load_fire_rules,
)
from layers.commander.travel import TravelModel, load_travel

TABLE = "fire_coverage"
INPUTS = ("resources", "population", "districts", "roads")
LOCK = "onemap:fire_coverage"


def cell_polygons(labels: np.ndarray, transform: Affine) -> dict[int, shapely.MultiPolygon]:
    """The cells of each label above 0, as one MultiPolygon per label (projected)."""
    parts: dict[int, list] = {}
    for geom, value in shapes(labels.astype(np.int32), mask=labels > 0, transform=transform):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    # cells join edge to edge (4-connected), so the parts of a label only touch at corners
    return {label: shapely.MultiPolygon(polygons) for label, polygons in parts.items()}


def coverage_rows(cover: FireCoverage, rules: FireRules) -> list[dict]:
    """Rows of the layer (geometries in EPSG:4545)."""
    inputs, found = cover.inputs, cover.reach
    transform, km2 = inputs.raster.transform, inputs.cell_km2
    rows = []
    for i, (r0, c0, mask) in enumerate(found.windows):
        if not mask.any():
            continue
        window = transform @ Affine.translation(c0, r0)
        people = inputs.residents[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]][mask].sum()
        rows.append({"kind": "station", "station_id": int(inputs.station_id[i]),
                     "district_code": inputs.station_district[i],
                     "residents": round(people), "area_km2": int(mask.sum()) * km2,
                     "geom": cell_polygons(mask, window)[1]})
    if found.reached.any():
        rows.append({"kind": "union", "station_id": None, "district_code": None,
                     "residents": round(inputs.residents[found.reached].sum()),
                     "area_km2": int(found.reached.sum()) * km2,
                     "geom": cell_polygons(found.reached, transform)[1]})
    for index, (geom, people, area) in outside_polygons(cover, rules).items():
        rows.append({"kind": "outside", "station_id": None,
                     "district_code": inputs.districts[index].code, "residents": people,
                     "area_km2": area, "geom": geom})
    return rows


def outside_polygons(cover: FireCoverage, rules: FireRules) -> dict[int, tuple]:
    """Per district index: its built-up land outside the reach, as (polygon in EPSG:4545,
    residents, km²); districts with none are left out."""
    inputs = cover.inputs
    zones = np.where(built_up(inputs, rules) & ~cover.reach.reached, inputs.zone, 0)
    cells = np.bincount(zones.ravel(), minlength=len(inputs.districts) + 1)
    people = np.bincount(zones.ravel(), weights=inputs.residents.ravel(),
                         minlength=len(inputs.districts) + 1)
    return {label - 1: (geom, round(people[label]), int(cells[label]) * inputs.cell_km2)
            for label, geom in sorted(cell_polygons(zones, inputs.raster.transform).items())}


def store_coverage(conn: psycopg.Connection, rows: list[dict], method: str,
                   response_s: float, synthetic: bool) -> int:
    """Replace the layer's rows (in the caller's transaction)."""
    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(TABLE)))
    if not rows:
        return 0
    geoms = shapely.to_wkb(local_to_wgs84([r["geom"] for r in rows]), hex=True, include_srid=True)
    query = sql.SQL("COPY {} (kind, station_id, district_code, residents, area_km2, method, "
                    "response_s, synthetic, geom) FROM STDIN").format(sql.Identifier(TABLE))
    with conn.cursor() as cur, cur.copy(query) as copy:
        for row, geom in zip(rows, geoms):
            copy.write_row([row["kind"], row["station_id"], row["district_code"],
                            row["residents"], round(row["area_km2"], 4), method, response_s,
                            synthetic, geom])
    return len(rows)


def rebuild_coverage(conn: psycopg.Connection, model: TravelModel | None = None,
                     rules: FireRules | None = None) -> int:
    """Work out the reach from the stored data and replace the layer (in the caller's
    transaction); the number of rows."""
    model, rules = model or load_travel(), rules or load_fire_rules()
    cover = analyse(conn, model, rules)
    return store_coverage(conn, coverage_rows(cover, rules), cover.reach.method,
                          model.fire_response_s, cover.inputs.synthetic)


def is_stale(conn: psycopg.Connection, response_s: float | None = None) -> bool:
    """Whether an input changed after the last build (or there was none), or the layer was
    built with another response time than `response_s`."""
    # the build time is the rows' own: the migration that made the table bumped its version
    # after every input, and an empty table has not been built
    row = conn.execute(
        sql.SQL("SELECT coalesce((SELECT max(changed_at) FROM layer_versions "
                "WHERE name = ANY(%s)) > coalesce((SELECT max(built_at) FROM {table}), "
                "'-infinity'), false) OR EXISTS (SELECT 1 FROM {table} "
                "WHERE %s::float8 IS NOT NULL AND response_s <> %s)").format(
            table=sql.Identifier(TABLE)), [list(INPUTS), response_s, response_s]).fetchone()
    return bool(row[0])


def refresh_if_stale(conn: psycopg.Connection) -> tuple[int, float] | None:
    """Rebuild the layer if it is stale and a population surface exists: (rows, seconds), or
    None when nothing was done. One process at a time (an advisory lock; a process finding
    it taken leaves the work to the holder)."""
    from layers.shelters.inputs import MissingPopulationError

    started = time.perf_counter()
    model = load_travel()
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [LOCK]
                            ).fetchone()[0] or not is_stale(conn, model.fire_response_s):
            return None
        try:
            built = rebuild_coverage(conn, model)
        except MissingPopulationError:
            return None
    return built, time.perf_counter() - started
