"""The 3,176 risk units: 13 categories in 3 domains, as points, lines and polygons, placed
where such things are (pipelines under the streets, bridges on rivers and roads, chemical
sites in industrial areas, mines in the mountains), each with its grading inputs."""

from __future__ import annotations

import csv

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from geodata.db.reference import DATA_DIR
from geodata.demo import sampling
from geodata.demo.context import DemoContext

LEC_L = [10, 6, 3, 1, 0.5, 0.2, 0.1]
LEC_E = [10, 6, 3, 2, 1, 0.5]
LEC_C = [100, 40, 15, 7, 3, 1]

# Likelihood is alike across categories; severity depends on what can go wrong. Chosen so
# that graded units form the usual pyramid: a few red, more orange, most yellow and blue.
LIKELIHOOD_W = [0.30, 0.32, 0.22, 0.11, 0.05]
SEVERITY_W = {
    "gas_pipeline": [0.05, 0.15, 0.30, 0.30, 0.20],
    "water_pipeline": [0.20, 0.35, 0.30, 0.12, 0.03],
    "drainage": [0.15, 0.30, 0.35, 0.15, 0.05],
    "heating_pipeline": [0.15, 0.35, 0.30, 0.15, 0.05],
    "bridge": [0.05, 0.20, 0.35, 0.25, 0.15],
    "crowded_place": [0.05, 0.15, 0.35, 0.30, 0.15],
    "rail_transit": [0.02, 0.10, 0.30, 0.35, 0.23],
    "high_rise": [0.05, 0.20, 0.35, 0.28, 0.12],
    "construction_site": [0.10, 0.30, 0.35, 0.20, 0.05],
}
LEC_W = {  # weights over LEC_L, LEC_E, LEC_C
    "hazardous_chemicals": ([0.02, 0.08, 0.25, 0.35, 0.15, 0.10, 0.05],
                            [0.30, 0.40, 0.15, 0.10, 0.04, 0.01],
                            [0.03, 0.12, 0.35, 0.30, 0.15, 0.05]),
    "gas_station": ([0.01, 0.05, 0.20, 0.40, 0.20, 0.09, 0.05],
                    [0.20, 0.40, 0.25, 0.10, 0.04, 0.01],
                    [0.01, 0.09, 0.30, 0.35, 0.20, 0.05]),
    "industrial_trade": ([0.01, 0.05, 0.24, 0.40, 0.18, 0.08, 0.04],
                         [0.10, 0.45, 0.25, 0.12, 0.06, 0.02],
                         [0.01, 0.05, 0.25, 0.39, 0.25, 0.05]),
    "non_coal_mine": ([0.03, 0.10, 0.30, 0.35, 0.12, 0.06, 0.04],
                      [0.25, 0.45, 0.15, 0.10, 0.04, 0.01],
                      [0.05, 0.15, 0.35, 0.30, 0.10, 0.05]),
}
MAJOR_HAZARD_SHARE = {"hazardous_chemicals": 0.30, "gas_station": 0.05, "industrial_trade": 0.05}


def categories() -> dict[str, dict]:
    with (DATA_DIR / "risk_categories.csv").open(encoding="utf-8", newline="") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


# -- geometry per category ------------------------------------------------------------
def _lines(ctx, n, power, length_range, near_centre_m=None):
    w = ctx.grid.density ** power
    if near_centre_m:
        r = np.hypot(ctx.grid.x - ctx.centre.x, ctx.grid.y - ctx.centre.y)
        w = np.where(r < near_centre_m, w, 0.0)
    x, y, codes = sampling.sample_cells(ctx, w, n)
    lengths = ctx.rng.uniform(*length_range, n)
    return [sampling.street_line(ctx, a, b, c, L) for a, b, c, L in zip(x, y, codes, lengths)], codes


def _points(ctx, n, weights):
    x, y, codes = sampling.sample_cells(ctx, weights, n)
    return list(shapely.points(x, y)), codes


def _sites(ctx, x, y, codes, size_range):
    geoms = []
    for a, b, c in zip(x, y, codes):
        w, h = ctx.rng.uniform(*size_range, 2)
        site = sampling.rectangle(a, b, w, h, ctx.rng.uniform(0, 90)).intersection(ctx.polys[c])
        if site.geom_type != "Polygon" or site.area < 100:
            site = Point(a, b).buffer(20, 4)
        geoms.append(site)
    return geoms


def _in_zones(ctx, n):
    zones = ctx.industrial
    share = np.array([r * r for _, _, r in zones])
    per_zone = np.bincount(ctx.rng.choice(len(zones), n, p=share / share.sum()), minlength=len(zones))
    xs, ys, cs = [], [], []
    for (_, centre, radius), k in zip(zones, per_zone):
        if k:
            x, y, c = sampling.ring_sample(ctx, centre, radius, int(k))
            xs.append(x), ys.append(y), cs.append(c)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(cs)


def _bridges(ctx, n):
    crossings = []
    for _, river in ctx.rivers:
        for _, road in ctx.roads:
            hit = river.intersection(road)
            crossings.extend(g for g in getattr(hit, "geoms", [hit]) if g.geom_type == "Point")
    crossings = crossings[:n]
    rest = n - len(crossings)
    on_river, _ = sampling.points_on_lines(ctx, [g for _, g in ctx.rivers], rest // 2)
    on_road, _ = sampling.points_on_lines(ctx, [g for _, g in ctx.roads], rest - rest // 2)
    pts = crossings + on_river + on_road
    codes = sampling.district_of(ctx, np.array([p.x for p in pts]), np.array([p.y for p in pts]))
    keep = [i for i, c in enumerate(codes) if c is not None]
    while len(keep) < n:  # a sketch line touching the city edge: re-draw on the roads
        p, _ = sampling.points_on_lines(ctx, [g for _, g in ctx.roads], 1)
        c = sampling.district_of(ctx, np.array([p[0].x]), np.array([p[0].y]))[0]
        if c is not None:
            pts.append(p[0]), keep.append(len(pts) - 1)
            codes = np.append(codes, c)
    return [pts[i] for i in keep[:n]], codes[keep[:n]]


def _metro(ctx, n):
    per_line, seg_m = 10, 2_500
    lines = int(np.ceil(n / per_line))
    geoms, codes = [], []
    for i in range(lines):
        angle = np.radians(i * 180 / lines + ctx.rng.uniform(-8, 8))
        ox, oy = ctx.centre.x + ctx.rng.uniform(-1500, 1500), ctx.centre.y + ctx.rng.uniform(-1500, 1500)
        for s in range(per_line):
            d0 = (s - per_line / 2) * seg_m
            a = (ox + d0 * np.cos(angle), oy + d0 * np.sin(angle))
            b = (ox + (d0 + seg_m) * np.cos(angle), oy + (d0 + seg_m) * np.sin(angle))
            seg = LineString([a, b])
            mid = seg.interpolate(0.5, normalized=True)
            code = sampling.district_of(ctx, np.array([mid.x]), np.array([mid.y]))[0]
            if code is None:
                continue
            part = seg.intersection(ctx.polys[code])
            if part.geom_type == "MultiLineString":
                part = max(part.geoms, key=lambda g: g.length)
            geoms.append(part), codes.append(code)
    return geoms[:n], np.array(codes[:n], dtype=object)


def _mines(ctx, n):
    w = np.where(ctx.grid.mountain, 1.0, 0.0)
    # along the mountain front, where quarries are, not deep in the range
    w *= np.exp(-np.abs(ctx.grid.lat - np.interp(ctx.grid.lon, *np.asarray(
        ctx.cfg["terrain"]["mountain_foot"]).T)) / 0.08)
    x, y, codes = sampling.sample_cells(ctx, w, n)
    return _sites(ctx, x, y, codes, (200, 600)), codes


def _geometries(ctx: DemoContext, category: str, n: int):
    g = ctx.grid
    r = np.hypot(g.x - ctx.centre.x, g.y - ctx.centre.y)
    if category == "gas_pipeline":
        return _lines(ctx, n, 1.0, (600, 3000))
    if category == "water_pipeline":
        return _lines(ctx, n, 1.0, (1000, 4000))
    if category == "drainage":
        return _lines(ctx, n, 0.8, (500, 2000))
    if category == "heating_pipeline":
        return _lines(ctx, n, 1.5, (500, 2500), near_centre_m=15_000)
    if category == "bridge":
        return _bridges(ctx, n)
    if category == "crowded_place":
        x, y, c = sampling.sample_cells(ctx, g.density ** 1.5, n)
        return _sites(ctx, x, y, c, (60, 250)), c
    if category == "rail_transit":
        return _metro(ctx, n)
    if category == "high_rise":
        return _points(ctx, n, g.density ** 2)
    if category == "construction_site":
        w = g.density * np.exp(-(((r - 12_000) / 6_000) ** 2))
        x, y, c = sampling.sample_cells(ctx, w, n)
        return _sites(ctx, x, y, c, (100, 400)), c
    if category == "hazardous_chemicals":
        x, y, c = _in_zones(ctx, n)
        return _sites(ctx, x, y, c, (100, 350)), c
    if category == "gas_station":
        k = int(n * 0.6)
        pts, _ = sampling.points_on_lines(ctx, [geom for _, geom in ctx.roads], k, offset_m=40)
        xs = np.array([p.x for p in pts])
        ys = np.array([p.y for p in pts])
        c = sampling.district_of(ctx, xs, ys)
        ok = c != None
        rest_pts, rest_c = _points(ctx, n - int(ok.sum()), g.density ** 0.7)
        return [p for p, o in zip(pts, ok) if o] + rest_pts, np.concatenate([c[ok], rest_c])
    if category == "industrial_trade":
        k = int(n * 0.7)
        x, y, c = _in_zones(ctx, k)
        rest_pts, rest_c = _points(ctx, n - k, g.density)
        return list(shapely.points(x, y)) + rest_pts, np.concatenate([c, rest_c])
    if category == "non_coal_mine":
        return _mines(ctx, n)
    raise ValueError(f"no placement rule for category {category!r}")


# -- attributes -----------------------------------------------------------------------
def generate(ctx: DemoContext) -> list[dict]:
    cats = categories()
    rows = []
    for category, n in ctx.cfg["risk_units"].items():
        cat = cats[category]
        geoms, codes = _geometries(ctx, category, n)
        for geom, code in zip(geoms, codes):
            seq = len(rows) + 1
            row = {
                "code": f"RU-{seq:05d}",
                "name": f"{ctx.district_name(code)}{cat['name']}{seq:05d}",
                "domain": cat["domain"],
                "category": category,
                "district_code": code,
                "address": f"{ctx.district_name(code)}（示范数据）",
                "likelihood": None, "severity": None,
                "lec_l": None, "lec_e": None, "lec_c": None,
                "major_hazard_source": False,
                "geom": geom,
            }
            if cat["method"] == "matrix":
                row["likelihood"] = int(ctx.rng.choice(5, p=LIKELIHOOD_W)) + 1
                row["severity"] = int(ctx.rng.choice(5, p=SEVERITY_W[category])) + 1
            else:
                wl, we, wc = LEC_W[category]
                row["lec_l"] = LEC_L[ctx.rng.choice(len(LEC_L), p=wl)]
                row["lec_e"] = LEC_E[ctx.rng.choice(len(LEC_E), p=we)]
                row["lec_c"] = LEC_C[ctx.rng.choice(len(LEC_C), p=wc)]
                row["major_hazard_source"] = bool(ctx.rng.random() < MAJOR_HAZARD_SHARE.get(category, 0))
            rows.append(row)
    return rows
