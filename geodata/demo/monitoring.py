"""The 22,067 lifeline monitoring points, placed on the risk units they watch: gas detectors
in the spaces next to gas pipelines, pressure gauges on water mains, level sensors on
drainage, temperature probes on heating pipes, tilt sensors on bridges; power sensors at
substations and cable tunnels stand alone."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import shapely

from geodata.db.reference import DATA_DIR
from geodata.demo import sampling
from geodata.demo.context import DemoContext

# how far from the watched line a sensor sits (m): gas detectors are in adjacent spaces
OFFSET_M = {"gas": 12.0, "water_supply": 2.0, "drainage": 0.0, "heating": 3.0}
STATUS = (["online", "offline", "fault"], [0.975, 0.02, 0.005])


def kinds() -> dict[str, dict]:
    with (DATA_DIR / "monitoring_kinds.csv").open(encoding="utf-8", newline="") as fh:
        return {r["kind"]: r for r in csv.DictReader(fh)}


def generate(ctx: DemoContext, units: list[dict], unit_ids: list[int]) -> list[dict]:
    """`units` are the generated risk units (projected geometries), `unit_ids` their ids."""
    ref = kinds()
    rows = []
    for kind, spec in ctx.cfg["monitoring"].items():
        n = spec["count"]
        links: list = [None] * n
        if "on" in spec:
            idx = [i for i, u in enumerate(units) if u["category"] == spec["on"]]
            geoms = [units[i]["geom"] for i in idx]
            if geoms[0].geom_type == "Point":  # bridges: sensors on the deck and piers
                which = ctx.rng.choice(len(idx), n)
                ang = ctx.rng.uniform(0, 2 * np.pi, n)
                dist = ctx.rng.uniform(0, 40, n)
                pts = [shapely.Point(geoms[w].x + d * np.cos(a), geoms[w].y + d * np.sin(a))
                       for w, a, d in zip(which, ang, dist)]
            else:
                pts, which = sampling.points_on_lines(ctx, geoms, n, OFFSET_M.get(kind, 0.0))
            links = [unit_ids[idx[w]] for w in which]
            fallback = [units[idx[w]] for w in which]
        else:
            x, y, _ = sampling.sample_cells(ctx, ctx.grid.density, n)
            pts, fallback = list(shapely.points(x, y)), [None] * n
        xs, ys = np.array([p.x for p in pts]), np.array([p.y for p in pts])
        codes = sampling.district_of(ctx, xs, ys)
        statuses = ctx.rng.choice(STATUS[0], n, p=STATUS[1])
        ages = ctx.rng.integers(60, 2000, n)
        for i in range(n):
            point, code = pts[i], codes[i]
            if code is None:  # offset over the city edge: back onto the watched unit
                unit = fallback[i]
                point = shapely.line_interpolate_point(unit["geom"], 0.5, normalized=True) \
                    if unit["geom"].geom_type != "Point" else unit["geom"]
                code = unit["district_code"]
            seq = len(rows) + 1
            rows.append({
                "code": f"MP-{seq:06d}",
                "name": f"{ref[kind]['name']}监测点{seq:06d}",
                "kind": kind,
                "unit": ref[kind]["unit"],
                "district_code": code,
                "risk_unit_id": links[i],
                "installed_on": ctx.reference_date - dt.timedelta(days=int(ages[i])),
                "status": str(statuses[i]),
                "geom": point,
            })
    return rows
