"""The `shelter_gaps` layer: where residents have no place in a shelter within walking range.

The unsheltered residents of the population surface's cells are added up in blocks of
3 × 3 cells (300 m); blocks holding at least 5 of them (about 55 per km²) are merged into
patches (diagonal neighbours included), and the patches cut along the sub-district
boundaries, each piece with the residents it holds. Sparse leftovers (a farmhouse here and
there) make no patch; `GET /analysis/shelters` counts every resident all the same. The
layer is derived: it is rebuilt when the shelters, the population or the areas change
(`is_stale`).
"""

from __future__ import annotations

import numpy as np
import psycopg
import shapely
from affine import Affine
from psycopg import sql
from rasterio.features import rasterize, shapes

from geodata.datums import local_to_wgs84, project_to_local
from layers.shelters.analysis import coverage
from layers.shelters.inputs import (
    MissingPopulationError,
    Surface,
    load_shelters,
    load_surface,
)
from layers.shelters.standards import ShelterStandards, load_standards

TABLE = "shelter_gaps"
BLOCK_CELLS = 3              # blocks of 3 x 3 cells of the population surface
MIN_RESIDENTS = 5.0          # unsheltered residents that make a block a gap
SIMPLIFY_M = 25.0            # cell edges smoothed no further than a quarter of a cell
INPUTS = ("shelters", "population", "districts", "subdistricts")


def _pieces(patch, areas, tree) -> list[tuple[int, object]]:
    """`patch` cut by the areas it meets: (area index, polygonal piece)."""
    out = []
    for i in tree.query(patch, predicate="intersects"):
        piece = shapely.intersection(patch, areas[i])
        polygons = [g for g in getattr(piece, "geoms", [piece])
                    if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
        if polygons:
            out.append((int(i), shapely.union_all(polygons)))
    return out


def gap_polygons(surface: Surface, unsheltered: np.ndarray) -> list[dict]:
    """Rows of the layer (geometries in EPSG:4545) for residents without a place."""
    raster, b = surface.raster, BLOCK_CELLS
    rows, cols = (~raster.transform @ (surface.x, surface.y))[::-1]
    rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
    height, width = -(-raster.shape[0] // b), -(-raster.shape[1] // b)
    blocks = np.zeros((height, width))
    np.add.at(blocks, (rows // b, cols // b), unsheltered)
    gap = blocks >= MIN_RESIDENTS
    block_transform = raster.transform @ Affine.scale(b)
    patches = [shapely.geometry.shape(g) for g, _ in shapes(
        gap.astype(np.uint8), mask=gap, transform=block_transform, connectivity=8)]
    if not patches:
        return []
    subs = project_to_local([a.geom for a in surface.subdistricts])
    dists = project_to_local([a.geom for a in surface.districts])
    sub_tree, dist_tree = shapely.STRtree(subs), shapely.STRtree(dists)
    all_subs = shapely.union_all(subs) if len(subs) else None
    pieces = []                                  # (district code, sub-district code, geom)
    for patch in patches:
        for i, piece in _pieces(patch, subs, sub_tree):
            sub = surface.subdistricts[i]
            pieces.append((sub.district_code, sub.code, piece))
        rest = shapely.difference(patch, all_subs) if all_subs is not None else patch
        if rest.area >= raster.cell_m ** 2:      # land of no sub-district
            for i, piece in _pieces(rest, dists, dist_tree):
                pieces.append((surface.districts[i].code, None, piece))
    # residents per piece: the gap blocks' cells whose centre the piece holds
    ids = rasterize(((g, i + 1) for i, (_, _, g) in enumerate(pieces)), out_shape=raster.shape,
                    transform=raster.transform, fill=0, dtype="int32")
    in_gap = gap[rows // b, cols // b]
    residents = np.bincount(ids[rows, cols], weights=np.where(in_gap, unsheltered, 0.0),
                            minlength=len(pieces) + 1)[1:]
    return [{"district_code": d, "subdistrict_code": s, "residents": round(people),
             "area_km2": geom.area / 1e6,
             "geom": shapely.simplify(geom, SIMPLIFY_M, preserve_topology=True)}
            for (d, s, geom), people in zip(pieces, residents) if people >= 0.5]


def store_gaps(conn: psycopg.Connection, rows: list[dict], synthetic: bool) -> int:
    """Replace the layer's rows (in the caller's transaction)."""
    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(TABLE)))
    # the time of this build, even when nobody is without a place (no row changes then)
    conn.execute("SELECT bump_layer_versions(%s)", [TABLE])
    if not rows:
        return 0
    multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
             for g in (r["geom"] for r in rows)]
    geoms = shapely.to_wkb(local_to_wgs84(multi), hex=True, include_srid=True)
    query = sql.SQL("COPY {} (district_code, subdistrict_code, residents, area_km2, synthetic, "
                    "geom) FROM STDIN").format(sql.Identifier(TABLE))
    with conn.cursor() as cur, cur.copy(query) as copy:
        for row, geom in zip(rows, geoms):
            copy.write_row([row["district_code"], row["subdistrict_code"], row["residents"],
                            row["area_km2"], synthetic, geom])
    return len(rows)


def is_stale(conn: psycopg.Connection) -> bool:
    """Whether the shelters, the population or the areas changed after the last build."""
    row = conn.execute(
        "SELECT (SELECT max(changed_at) FROM layer_versions WHERE name = ANY(%s)) > "
        "coalesce((SELECT changed_at FROM layer_versions WHERE name = %s), '-infinity')",
        [list(INPUTS), TABLE]).fetchone()
    return bool(row[0])


def rebuild_gaps(conn: psycopg.Connection, standards: ShelterStandards | None = None) -> int:
    """Analyse the stored data and replace the layer (in the caller's transaction)."""
    surface = load_surface(conn)
    cover = coverage(surface, load_shelters(conn), standards or load_standards())
    synthetic = surface.raster.parameters.get("source") == "model"
    return store_gaps(conn, gap_polygons(surface, cover.unsheltered), synthetic)


def refresh_if_stale(conn: psycopg.Connection) -> int | None:
    """Rebuild the layer if its inputs changed since the last build and a population
    surface exists; the number of areas, or None when nothing was done. One process at a
    time (an advisory lock; a process finding it taken leaves the work to the holder)."""
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('onemap:shelter_gaps'))"
                            ).fetchone()[0] or not is_stale(conn):
            return None
        try:
            return rebuild_gaps(conn)
        except MissingPopulationError:
            return None
