"""Sub-districts (街道 / 镇) that tile each district: generated, labelled as demonstration.

No offline package ships township boundaries. Each district gets the number the city file
gives (its own towns plus the development-zone streets it hosts); seeds come from a
population-weighted k-means on the grid, so sub-districts are small in the dense core and
large in the mountains, and their Voronoi cells clipped to the district tile it exactly.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon

from geodata.demo.context import DemoContext

URBAN_DISTRICTS = {"610102", "610103", "610104", "610111", "610112", "610113"}


def _kmeans(rng, x, y, w, k, iterations=15):
    pick = rng.choice(len(x), size=k, replace=False, p=w / w.sum())
    cx, cy = x[pick].copy(), y[pick].copy()
    for _ in range(iterations):
        d = (x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2
        label = d.argmin(axis=1)
        for j in range(k):
            m = label == j
            if m.any():
                cx[j] = np.average(x[m], weights=w[m])
                cy[j] = np.average(y[m], weights=w[m])
    return cx, cy


def _integer_shares(values: np.ndarray, total: int) -> np.ndarray:
    """Round to integers that add up to `total` exactly (largest remainders)."""
    scaled = values * (total / values.sum())
    base = np.floor(scaled).astype(int)
    short = total - base.sum()
    base[np.argsort(scaled - base)[::-1][:short]] += 1
    return base


def generate(ctx: DemoContext) -> list[dict]:
    rows = []
    grid = ctx.grid
    for code in ctx.codes:
        dcfg = ctx.cfg["districts"].get(code, {})
        k_own, k_zone = dcfg.get("towns", 1), dcfg.get("devzone_towns", 0)
        k = k_own + k_zone
        poly = ctx.polys[code]
        m = grid.district == code
        x, y, pop = grid.x[m], grid.y[m], grid.population[m]
        if len(x) < k:  # tiny district: fall back to one sub-district per cell available
            k = max(1, len(x))
        w = np.maximum(pop, 1e-6) ** 0.6
        cx, cy = _kmeans(ctx.rng, x, y, w, k)
        cx += ctx.rng.normal(0, 1e-3, k)  # no two seeds on one spot
        cells = shapely.voronoi_polygons(MultiPoint(np.column_stack([cx, cy])),
                                         extend_to=poly.envelope.buffer(10_000))
        seeds = shapely.points(cx, cy)
        pieces = [None] * k
        for cell in cells.geoms:
            j = int(np.flatnonzero(shapely.contains(cell, seeds))[0])
            pieces[j] = cell.intersection(poly)
        label = ((x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2).argmin(axis=1)
        people = np.bincount(label, weights=pop, minlength=k)
        people = _integer_shares(np.maximum(people, 1e-9), int(ctx.districts.loc[
            ctx.districts["code"] == code, "population"].iloc[0] or 0))
        density = people / np.array([max(p.area, 1.0) for p in pieces])
        # development-zone streets are the densest; then streets near the seat; then towns
        zone_idx = set(np.argsort(density)[::-1][:k_zone].tolist())
        seat = ctx.seats[code]
        others = sorted((j for j in range(k) if j not in zone_idx),
                        key=lambda j: shapely.Point(cx[j], cy[j]).distance(seat))
        n_street = len(others) if code in URBAN_DISTRICTS else min(3, len(others))
        name = ctx.district_name(code)
        name_en = str(ctx.districts.loc[ctx.districts["code"] == code, "name_en"].iloc[0])
        short_en = name_en.replace(" District", "").replace(" County", "")
        order = [(j, "street", 1 + i, None) for i, j in enumerate(others[:n_street])]
        order += [(j, "town", 100 + i, None) for i, j in enumerate(others[n_street:])]
        order += [(j, "street", 400 + i, dcfg.get("devzone")) for i, j in enumerate(sorted(zone_idx))]
        for j, kind, seq, zone in order:
            geom = pieces[j]
            if geom.geom_type == "GeometryCollection":
                geom = shapely.unary_union([g for g in geom.geoms if g.area > 0])
            if geom.geom_type == "Polygon":
                geom = MultiPolygon([geom])
            kind_zh, kind_en = ("街道", "sub-district") if kind == "street" else ("镇", "town")
            rows.append({
                "code": f"{code}{seq:03d}",
                "name": f"{name}{kind_zh}{seq:02d}（示范）",
                "name_en": f"{short_en} {kind_en} {seq:02d} (demo)",
                "kind": kind,
                "district_code": code,
                "managed_by": zone,
                "population": int(people[j]),
                "geom": geom,
            })
    return rows
