"""Emergency shelters (应急避难场所) in parks, squares, school grounds and stadiums.

Each district gets shelter area for its census population times the city file's
demonstration ratio, so the dense old core falls short of 1.5 m² per resident and the rest
meets it. Site sizes per class follow GB 50413-2007 §8.2 (emergency sites ≥ 0.1 ha, fixed
≥ 1 ha, central ≥ 50 ha) and GB 21734-2008 §5.4 (effective area preferably > 2,000 m²).
"""

from __future__ import annotations

import shapely

from geodata.demo import sampling
from geodata.demo.context import DemoContext

# effective area per shelter (m²): a draw range per class
EFFECTIVE_M2 = {"emergency": (1_500, 8_000), "fixed": (8_000, 80_000), "central": (250_000, 400_000)}
EMERGENCY_SHARE = 0.20             # of a district's shelter area
CENTRAL_FROM_M2 = 2_000_000        # a district with this much shelter area gets a central one
# residents per m² of effective area used for the capacity figure: GB 50413-2007 §8.2
# (emergency ≥ 1 m² per person, fixed ≥ 2 m²; central shelters are fixed shelters too)
M2_PER_PERSON = {"emergency": 1.0, "fixed": 2.0, "central": 2.0}
SITE_TYPES = {
    "emergency": (["square", "school", "green"], [0.35, 0.35, 0.30]),
    "fixed": (["park", "school", "stadium"], [0.50, 0.30, 0.20]),
    "central": (["park", "stadium"], [0.80, 0.20]),
}
SITE_ZH = {"square": "广场", "school": "学校操场", "green": "绿地", "park": "公园", "stadium": "体育场"}
CLASS_ZH = {"emergency": "紧急", "fixed": "固定", "central": "中心"}
PLACEMENT_POWER = {"emergency": 1.0, "fixed": 0.6, "central": 0.3}


def _areas(ctx: DemoContext, target: float, cls: str) -> list[float]:
    """Shelter areas of one class that add up to `target` exactly."""
    low, high = EFFECTIVE_M2[cls]
    areas, left = [], target
    while left >= low:
        a = min(float(ctx.rng.uniform(low, high)), left)
        areas.append(a)
        left -= a
    if left > 0 and areas:
        areas[-1] += left
    return areas


def generate(ctx: DemoContext) -> list[dict]:
    rows = []
    for code in ctx.codes:
        population = float(ctx.districts.loc[ctx.districts["code"] == code, "population"].iloc[0] or 0)
        ratio = ctx.cfg["districts"].get(code, {}).get("shelter_ratio", 2.0)
        total = ratio * population
        plan = {"central": []}
        if total >= CENTRAL_FROM_M2:
            plan["central"] = [float(ctx.rng.uniform(*EFFECTIVE_M2["central"]))]
        plan["emergency"] = _areas(ctx, total * EMERGENCY_SHARE, "emergency")
        plan["fixed"] = _areas(ctx, total - sum(plan["central"]) - sum(plan["emergency"]), "fixed")
        for cls, areas in plan.items():
            if not areas:
                continue
            w = sampling.weights_in(ctx, code, PLACEMENT_POWER[cls])
            x, y, _ = sampling.sample_cells(ctx, w, len(areas))
            names, probs = SITE_TYPES[cls]
            sites = ctx.rng.choice(names, len(areas), p=probs)
            for area, sx, sy, site in zip(areas, x, y, sites):
                seq = len(rows) + 1
                term = None
                if cls == "fixed":
                    term = str(ctx.rng.choice(["short", "medium", "long"], p=[0.5, 0.35, 0.15]))
                rows.append({
                    "code": f"SH-{seq:05d}",
                    "name": f"{ctx.district_name(code)}{SITE_ZH[site]}{CLASS_ZH[cls]}避难场所{seq:04d}",
                    "class": cls,
                    "term": term,
                    "site_type": str(site),
                    "effective_area_m2": round(area, 1),
                    "total_area_m2": round(area / float(ctx.rng.uniform(0.5, 0.75)), 1),
                    "capacity": int(area // M2_PER_PERSON[cls]),
                    "district_code": code,
                    "address": f"{ctx.district_name(code)}（示范数据）",
                    "geom": shapely.Point(sx, sy),
                })
    return rows
