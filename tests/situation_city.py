"""A small hand-made city for the situation tests, every distance set on the ellipsoid.

Two districts side by side in EPSG:4545 metres from (X0, Y0): A (610102) x 0-6 km and
B (610103) x 6-12 km, y 0-6 km; sub-districts A1 (x 0-3 km), A2 (x 3-6 km), B1 (all B).
The incident C is at (4,000, 3,000), in A2. Everything else is placed at a geodesic
distance and azimuth from C (pyproj `Geod.fwd`), so what lies within 500 m, 1 km, 2 km or
5 km is known by construction (`within`); some things sit a metre inside or outside 1 km.
The population surface: 100 m cells over both districts, residents 1 + col % 5 + 10 (row % 3).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import shapely
from psycopg import sql
from pyproj import Geod, Transformer
from rasterio.transform import from_origin

from geodata.rasters import StoredRaster, store_raster

X0, Y0 = 580_000.0, 3_790_000.0
TO_WGS = Transformer.from_crs(4545, 4326, always_xy=True)
GEOD = Geod(ellps="WGS84")
C = TO_WGS.transform(X0 + 4000, Y0 + 3000)          # the incident, lon/lat
OUTSIDE_DISTRICTS = TO_WGS.transform(X0 + 12_400, Y0 + 3000)   # within the extent's margin


def at(distance: float, azimuth: float) -> tuple[float, float]:
    """lon/lat at `distance` metres from C along `azimuth` degrees."""
    lon, lat, _ = GEOD.fwd(C[0], C[1], azimuth, distance)
    return float(lon), float(lat)


def _box(x0, x1, y0=0.0, y1=6000.0) -> str:
    poly = shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)
    poly = shapely.segmentize(poly, 100)
    wgs = shapely.transform(poly, lambda c: np.column_stack(TO_WGS.transform(c[:, 0], c[:, 1])))
    return shapely.MultiPolygon([wgs]).wkt


def _meridian_line(distance: float, azimuth: float, half: float = 500.0) -> str:
    """A line along the meridian through the point at `distance` due east or west (azimuth
    90 or 270) of C: that point is its nearest spot to C."""
    mid = at(distance, azimuth)
    north = GEOD.fwd(mid[0], mid[1], 0, half)[:2]
    south = GEOD.fwd(mid[0], mid[1], 180, half)[:2]
    return shapely.LineString([south, north]).wkt


def _square(distance: float, azimuth: float, side: float = 200.0) -> str:
    """A square of `side` metres centred on the point at `distance`/`azimuth`."""
    lon, lat = at(distance, azimuth)
    corners = [GEOD.fwd(lon, lat, a, side / 2 * 2 ** 0.5)[:2] for a in (45, 135, 225, 315)]
    return shapely.Polygon(corners).wkt


# code: (grade, geometry WKT, its nearest distance to C in m)
UNITS = {
    "U-RED-300": ("red", shapely.Point(at(300, 0)).wkt, 300),
    "U-RED-999": ("red", shapely.Point(at(999, 90)).wkt, 999),
    "U-RED-1001": ("red", shapely.Point(at(1001, 180)).wkt, 1001),
    "U-RED-LINE-4000": ("red", _meridian_line(4000, 270), 4000),
    "U-ORANGE-LINE-999.5": ("orange", _meridian_line(999.5, 270), 999.5),
    "U-ORANGE-LINE-1000.5": ("orange", _meridian_line(1000.5, 90), 1000.5),
    "U-YELLOW-AROUND": ("yellow", _square(0, 0, 400), 0),
    "U-BLUE-3000": ("blue", _square(3000, 200), 2900),
    "U-NONE-200": (None, shapely.Point(at(200, 45)).wkt, 200),
}
# code: (distance, azimuth, grade of the point)
POINTS = {"P-100": (100, 10, "red"), "P-150": (150, 40, "yellow"),
          "P-600": (600, 100, "orange"), "P-999.5": (999.5, 200, None),
          "P-1000.5": (1000.5, 250, "red"), "P-3000": (3000, 30, "yellow")}
# (point, grade, state, raised at)
ALARMS = [("P-100", "red", "open", "2026-11-23 10:00+08"),
          ("P-100", "red", "closed", "2026-11-22 09:00+08"),
          ("P-150", "yellow", "open", "2026-11-23 11:00+08"),
          ("P-600", "orange", "acknowledged", "2026-11-23 08:30+08"),
          ("P-1000.5", "red", "open", "2026-11-23 10:30+08"),
          ("P-3000", "yellow", "open", "2026-11-23 07:00+08")]
# code: (level, status, distance, azimuth)
DANGERS = {"D-MAJOR-200": ("major", "open", 200, 300),
           "D-GENERAL-700": ("general", "open", 700, 120),
           "D-MAJOR-FIXED-300": ("major", "rectified", 300, 60),
           "D-MAJOR-1500": ("major", "open", 1500, 330)}
# code: (class, effective area m², distance, azimuth)
SHELTERS = {"S-150": ("emergency", 300.0, 150, 80), "S-900": ("fixed", 4000.0, 900, 160),
            "S-1200": ("emergency", 100.0, 1200, 20)}
# code: (type, distance, azimuth, items, people)
RESOURCES = {"F-700": ("fire_station", 700, 0, None, 40),
             "F-2500": ("fire_station", 2500, 90, None, 30),
             "F-4500": ("fire_station", 4500, 270, None, 20),
             "ST-400": ("storage", 400, 180, 500, None),
             "T-3000": ("rescue_team", 3000, 45, None, 30),
             "M-1000": ("medical", 1000, 225, None, 12),
             "B-100": ("broadcast", 100, 135, None, None),
             "E-5000": ("supply_enterprise", 5000, 100, None, None)}


def within(radius: float) -> dict[str, set[str]]:
    """What lies within `radius` of C, by construction."""
    return {
        "units": {c for c, (_, _, d) in UNITS.items() if d <= radius},
        "points": {c for c, (d, _, _) in POINTS.items() if d <= radius},
        "dangers": {c for c, (_, s, d, _) in DANGERS.items() if s == "open" and d <= radius},
        "shelters": {c for c, (_, _, d, _) in SHELTERS.items() if d <= radius},
    }


def residents_raster() -> StoredRaster:
    rows, cols = 60, 120
    r, c = np.mgrid[0:rows, 0:cols]
    values = (1 + c % 5 + 10 * (r % 3)).astype(np.float32)
    return StoredRaster("population", values, from_origin(X0, Y0 + 6000, 100, 100), "EPSG:4545",
                        100.0, float(values.max()), {"source": "test"})


@contextmanager
def city_database(admin: psycopg.Connection, template_url: str) -> Iterator[str]:
    """A copy of the database at `template_url` (districts only) holding the hand-made city;
    dropped afterwards. Its name starts with the template's, so a test session's clean-up
    finds it too."""
    template = urlsplit(template_url).path.lstrip("/")
    name = f"{template}_city{uuid.uuid4().hex[:8]}"
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = %s AND pid <> pg_backend_pid()", [template])
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(
        sql.Identifier(name), sql.Identifier(template)))
    url = urlunsplit(urlsplit(template_url)._replace(path=f"/{name}"))
    try:
        build(url)
        yield url
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def build(url: str) -> None:
    """Replace the districts of the database at `url` with the hand-made city and fill it."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM districts")
        for code, name, x0, x1 in (("610102", "甲区", 0, 6000), ("610103", "乙区", 6000, 12000)):
            conn.execute("INSERT INTO districts (code, name, name_en, population, source, geom) "
                         "VALUES (%s, %s, %s, 0, 'test', ST_GeomFromText(%s, 4326))",
                         [code, name, f"District {name}", _box(x0, x1)])
        for code, district, x0, x1 in (("610102001", "610102", 0, 3000),
                                       ("610102002", "610102", 3000, 6000),
                                       ("610103001", "610103", 6000, 12000)):
            conn.execute("INSERT INTO subdistricts (code, name, name_en, district_code, geom) "
                         "VALUES (%s, %s, %s, %s, ST_GeomFromText(%s, 4326))",
                         [code, f"街道{code[-3:]}", f"Street {code[-3:]}", district, _box(x0, x1)])
        for code, (grade, wkt, _) in UNITS.items():
            conn.execute("INSERT INTO risk_units (code, name, domain, category, district_code, "
                         "likelihood, severity, grade, geom) VALUES (%s, %s, 'public_safety', "
                         "'crowded_place', '610102', 3, 3, %s, ST_GeomFromText(%s, 4326))",
                         [code, f"单元{code}", grade, wkt])
        ids = {}
        for code, (distance, azimuth, grade) in POINTS.items():
            ids[code] = conn.execute(
                "INSERT INTO monitoring_points (code, name, kind, unit, district_code, grade, "
                "geom) VALUES (%s, %s, 'gas', '%%LEL', '610102', %s, ST_Point(%s, %s, 4326)) "
                "RETURNING id",
                [code, f"监测点{code}", grade, *at(distance, azimuth)]).fetchone()[0]
        for point, grade, state, raised in ALARMS:
            distance, azimuth, _ = POINTS[point]
            conn.execute("INSERT INTO alarms (monitoring_point_id, grade, state, value, raised_at, "
                         "closed_at, district_code, geom) VALUES (%s, %s, %s, 25.0, %s, "
                         "CASE WHEN %s = 'closed' THEN now() END, '610102', "
                         "ST_Point(%s, %s, 4326))",
                         [ids[point], grade, state, raised, state, *at(distance, azimuth)])
        for code, (level, status, distance, azimuth) in DANGERS.items():
            conn.execute("INSERT INTO hidden_dangers (code, title, level, status, found_on, "
                         "deadline, rectified_on, district_code, geom) VALUES (%s, %s, %s, %s, "
                         "'2026-10-01', '2026-11-01', CASE WHEN %s = 'rectified' THEN "
                         "date '2026-10-20' END, '610102', ST_Point(%s, %s, 4326))",
                         [code, f"隐患{code}", level, status, status, *at(distance, azimuth)])
        for code, (cls, area, distance, azimuth) in SHELTERS.items():
            conn.execute("INSERT INTO shelters (code, name, class, effective_area_m2, "
                         "district_code, geom) VALUES (%s, %s, %s, %s, '610102', "
                         "ST_Point(%s, %s, 4326))",
                         [code, f"避难场所{code}", cls, area, *at(distance, azimuth)])
        for code, (rtype, distance, azimuth, items, people) in RESOURCES.items():
            conn.execute("INSERT INTO resources (code, name, type, district_code, items, people, "
                         "geom) VALUES (%s, %s, %s, '610102', %s, %s, ST_Point(%s, %s, 4326))",
                         [code, f"资源{code}", rtype, items, people, *at(distance, azimuth)])
        store_raster(conn, residents_raster())
        conn.commit()
