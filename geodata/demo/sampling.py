"""Placing synthetic features: points by weight on the population grid, points on lines,
small rectangles for sites, short pipelines that follow a street grid."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from geodata.demo.context import DemoContext


def district_of(ctx: DemoContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """District code containing each point (None outside the city)."""
    out = np.full(len(x), None, dtype=object)
    for code, poly in ctx.polys.items():
        todo = out == None
        if todo.any():
            hit = shapely.contains_xy(poly, x[todo], y[todo])
            idx = np.flatnonzero(todo)[hit]
            out[idx] = code
    return out


def sample_cells(ctx: DemoContext, weights: np.ndarray, n: int):
    """n points drawn with probability ∝ weight over the grid, jittered within their cell.

    Returns x, y (metres) and the district of each; a point that the jitter pushed over a
    district edge is put back on its cell centre.
    """
    grid = ctx.grid
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    cells = ctx.rng.choice(len(p), size=n, p=p)
    half = grid.cell_m / 2
    x = grid.x[cells] + ctx.rng.uniform(-half, half, n)
    y = grid.y[cells] + ctx.rng.uniform(-half, half, n)
    want = grid.district[cells]
    got = district_of(ctx, x, y)
    moved = got != want
    x[moved], y[moved] = grid.x[cells][moved], grid.y[cells][moved]
    return x, y, want


def weights_in(ctx: DemoContext, code: str, power: float = 1.0) -> np.ndarray:
    """Grid weights restricted to one district, density raised to `power`."""
    return np.where(ctx.grid.district == code, ctx.grid.density ** power, 0.0)


def points_on_lines(ctx: DemoContext, lines: list, n: int, offset_m: float = 0.0):
    """n points spread over lines (proportional to length), optionally offset sideways."""
    lengths = np.array([g.length for g in lines])
    which = ctx.rng.choice(len(lines), size=n, p=lengths / lengths.sum())
    pts = []
    for i in which:
        line = lines[i]
        d = ctx.rng.uniform(0, line.length)
        p = line.interpolate(d)
        if offset_m:
            q = line.interpolate(min(line.length, d + 1.0))
            dx, dy = q.x - p.x, q.y - p.y
            norm = np.hypot(dx, dy) or 1.0
            side = ctx.rng.choice([-1.0, 1.0]) * ctx.rng.uniform(0.3, 1.0) * offset_m
            p = Point(p.x - dy / norm * side, p.y + dx / norm * side)
        pts.append(p)
    return pts, which


def rectangle(x: float, y: float, width: float, height: float, angle_deg: float) -> Polygon:
    """A rotated rectangle centred on (x, y): a building block, a site, a yard."""
    w, h = width / 2, height / 2
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = corners @ rot.T + [x, y]
    return Polygon(pts)


def street_line(ctx: DemoContext, x: float, y: float, code: str, length_m: float) -> LineString:
    """A pipeline-like polyline from (x, y): legs along a street grid, kept inside the district."""
    poly = ctx.polys[code]
    angle = ctx.rng.choice([0.0, 90.0, 180.0, 270.0]) + ctx.rng.normal(0, 4)
    coords = [(x, y)]
    remaining = length_m
    while remaining > 1:
        leg = min(remaining, ctx.rng.uniform(200, 900))
        a = np.radians(angle)
        px, py = coords[-1]
        coords.append((px + leg * np.cos(a), py + leg * np.sin(a)))
        remaining -= leg
        angle += ctx.rng.choice([-90.0, 0.0, 90.0]) + ctx.rng.normal(0, 3)
    line = LineString(coords).intersection(poly)
    if isinstance(line, MultiLineString):  # keep the piece that starts at (x, y)
        start = Point(x, y)
        line = min(line.geoms, key=lambda g: g.distance(start))
    if line.is_empty or line.geom_type != "LineString" or line.length < 50:
        line = LineString([(x, y), (x + 60, y)]).intersection(poly)
        if line.geom_type != "LineString" or line.is_empty:
            line = LineString([(x, y), (x, y + 1)])
    return line


def ring_sample(ctx: DemoContext, centre: Point, radius_m: float, n: int):
    """n points around a centre, normally distributed (σ = radius / 2), inside the city."""
    xs, ys = [], []
    while len(xs) < n:
        k = (n - len(xs)) * 2
        x = centre.x + ctx.rng.normal(0, radius_m / 2, k)
        y = centre.y + ctx.rng.normal(0, radius_m / 2, k)
        ok = district_of(ctx, x, y) != None
        xs.extend(x[ok][: n - len(xs)])
        ys.extend(y[ok][: n - len(ys)])
    x, y = np.array(xs), np.array(ys)
    return x, y, district_of(ctx, x, y)
