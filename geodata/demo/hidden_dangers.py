"""Hidden dangers (隐患) found on risk units: most rectified, some open, a few major ones
under supervision until fixed (重大事故隐患挂牌督办)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import shapely

from geodata.demo.context import DemoContext

TITLES = {
    "gas_pipeline": ["燃气管线被占压", "阀门井燃气渗漏", "管道防腐层破损"],
    "water_pipeline": ["供水管道漏损", "阀门锈蚀失灵"],
    "drainage": ["排水管道淤堵", "易涝点排水能力不足"],
    "heating_pipeline": ["供热管道保温层破损", "检查井积水"],
    "bridge": ["桥梁支座病害", "伸缩缝损坏", "桥墩冲刷"],
    "crowded_place": ["疏散通道堵塞", "消防设施缺失"],
    "rail_transit": ["隧道渗漏水", "站台门故障"],
    "high_rise": ["消防控制室值守不到位", "外墙保温材料不合格"],
    "construction_site": ["深基坑支护不足", "起重机械未检验"],
    "hazardous_chemicals": ["储罐区可燃气体报警器失效", "重大危险源监控缺失"],
    "gas_station": ["卸油区静电接地失效", "防爆电气不合格"],
    "industrial_trade": ["粉尘涉爆防护不足", "有限空间作业未审批"],
    "non_coal_mine": ["边坡失稳", "排土场超高"],
}


def _point_on(geom, rng) -> shapely.Point:
    if geom.geom_type == "Point":
        return geom
    if geom.geom_type == "LineString":
        return geom.interpolate(float(rng.uniform(0.05, 0.95)), normalized=True)
    return geom.representative_point()


def generate(ctx: DemoContext, units: list[dict], unit_ids: list[int]) -> list[dict]:
    counts = ctx.cfg["counts"]
    n, n_major = counts["hidden_dangers"], counts["major_hidden_dangers"]
    # dangers are found where risk is likelier: weight units by likelihood (or LEC L)
    w = np.array([(u["likelihood"] or 0) + float(u["lec_l"] or 0) / 2 + 0.5 for u in units])
    picks = ctx.rng.choice(len(units), size=n, replace=False, p=w / w.sum())
    today = ctx.reference_date
    rows = []
    for i, ui in enumerate(picks):
        unit = units[ui]
        major = i < n_major
        # a third of the major ones are still open and supervised; ~30% of the others
        open_ = (i % 3 == 0) if major else bool(ctx.rng.random() < 0.3)
        found = today - dt.timedelta(days=int(ctx.rng.integers(5, 150 if open_ else 700)))
        deadline = found + dt.timedelta(days=90 if major else 30)
        rectified = None
        if not open_:
            rectified = min(today, found + dt.timedelta(days=int(ctx.rng.integers(3, 120))))
        titles = TITLES.get(unit["category"], ["安全管理制度不落实"])
        rows.append({
            "code": f"HD-{i + 1:05d}",
            "risk_unit_id": unit_ids[ui],
            "title": str(titles[int(ctx.rng.integers(len(titles)))]),
            "level": "major" if major else "general",
            "status": "open" if open_ else "rectified",
            "supervised": major,
            "found_on": found,
            "deadline": deadline,
            "rectified_on": rectified,
            "district_code": unit["district_code"],
            "geom": _point_on(unit["geom"], ctx.rng),
        })
    return rows
