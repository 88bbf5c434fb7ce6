"""Building input files and reading the database back, for the importer's tests."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from psycopg import sql
from pyproj import Geod

from geodata.errors import ImportRejected
from geodata.importers import import_file

LAYER_TABLES = ("districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
                "resources", "hidden_dangers", "candidate_sites", "roads", "imports")
SHELTER_HEADER = ["code", "name", "class", "effective_area_m2", "capacity", "lon", "lat"]
GEOD = Geod(ellps="WGS84")


def run(url, path, layer, **kw):
    with psycopg.connect(url) as conn:
        return import_file(conn, path, layer, **kw)


def rejected(url, path, layer, **kw) -> ImportRejected:
    """Import expecting refusal; checks that the database did not change at all."""
    before = snapshot(url)
    with pytest.raises(ImportRejected) as info:
        run(url, path, layer, **kw)
    assert snapshot(url) == before
    return info.value


def snapshot(url: str) -> dict[str, tuple[int, str | None]]:
    """Row count and a fingerprint of every row of each layer table and the import log."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in LAYER_TABLES:
            query = sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) "
                            "FROM {} t").format(sql.Identifier(table))
            out[table] = tuple(conn.execute(query).fetchone())
    return out


def rows(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def metres(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def district_points(url: str, per_district: int = 3) -> dict[str, list[tuple[float, float]]]:
    """Points well inside each district (PostGIS' seeded random points: deterministic)."""
    query = ("SELECT code, ST_X(p.geom), ST_Y(p.geom) FROM districts, "
             "ST_Dump(ST_GeneratePoints(ST_Buffer(geom::geography, -300)::geometry, %s, 7)) p "
             "ORDER BY code, p.path")
    out: dict[str, list[tuple[float, float]]] = {}
    with psycopg.connect(url) as conn:
        for code, x, y in conn.execute(query, [per_district]).fetchall():
            out.setdefault(code, []).append((x, y))
    return out


def write_csv(path: Path, header: list[str], body: list[list], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)
    return path


def shelters_csv(path: Path, pts, n: int = 3, encoding: str = "utf-8") -> Path:
    """n good shelters, one in each of the first n districts."""
    body = []
    for i, (_, points) in enumerate(sorted(pts.items())[:n]):
        x, y = points[0]
        body.append([f"SH-{i + 1}", f"避难场所{i + 1}", "emergency", 1500 + i, 300 + i, x, y])
    return write_csv(path, SHELTER_HEADER, body, encoding=encoding)


def bad_shelters(tmp_path: Path, pts, edits: dict[int, dict]) -> Path:
    """Three good shelters (CSV lines 2-4) with some cells changed: row index -> column -> value."""
    body = []
    places = [pts["610104"][0], pts["610104"][1], pts["610113"][0]]
    for i, (x, y) in enumerate(places):
        row = dict(zip(SHELTER_HEADER, [f"S-{i}", f"shelter {i}", "fixed", 900, 100, x, y]))
        row.update(edits.get(i, {}))
        body.append([row[h] for h in SHELTER_HEADER])
    return write_csv(tmp_path / "bad.csv", SHELTER_HEADER, body)


def features(tmp_path: Path, pts, geometries, layer: str = "shelters", **columns) -> Path:
    """A GeoJSON of shelter-like features with the given geometries (and extra columns)."""
    n = len(geometries)
    data = {"code": [f"F-{i}" for i in range(n)], "name": [f"f{i}" for i in range(n)],
            "class": ["fixed"] * n, "effective_area_m2": [100.0] * n, **columns}
    path = tmp_path / f"{layer}.geojson"
    gpd.GeoDataFrame(data, geometry=geometries, crs=4326).to_file(path)
    return path


def insert_synthetic_shelters(url: str, points: list[tuple[float, float]], district: str) -> None:
    """Stand-ins for the demonstration generator's rows."""
    with psycopg.connect(url) as conn:
        for i, (x, y) in enumerate(points, start=1):
            conn.execute(
                "INSERT INTO shelters (code, name, class, effective_area_m2, district_code, "
                "synthetic, geom) VALUES (%s, %s, 'emergency', 1000, %s, true, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                [f"SYN-{i}", f"synthetic shelter {i}", district, x, y])


def insert_risk_unit(url: str, code: str, point: tuple[float, float], district: str,
                     synthetic: bool) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "INSERT INTO risk_units (code, name, domain, category, district_code, likelihood, "
            "severity, synthetic, geom) VALUES (%s, %s, 'lifeline', 'bridge', %s, 2, 3, %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            [code, f"unit {code}", district, synthetic, *point]).fetchone()[0]
