"""Emergency resources: storage points and their stock, rescue teams, fire stations,
broadcast terminals, supply enterprises and medical points, with the city's counts."""

from __future__ import annotations

import math

import numpy as np
import shapely

from geodata.demo import sampling
from geodata.demo.context import DemoContext
from geodata.demo.subdistricts import _integer_shares, _kmeans

STOCK_KINDS = {  # item kind -> relative share of a storage point's stock
    "tents": 0.10, "quilts": 0.18, "folding_beds": 0.08, "cotton_coats": 0.12,
    "life_jackets": 0.06, "sandbags": 0.22, "generators": 0.02, "water_pumps": 0.03,
    "lighting": 0.04, "food_water_cases": 0.15,
}
SPECIALITIES = ["综合应急救援", "矿山救护", "危险化学品救援", "防汛抢险", "地震救援", "燃气抢险",
                "供水抢修", "电力抢修", "医疗救护", "工程抢险", "森林消防", "山地救援"]
SUPPLIES = ["帐篷", "棉被", "折叠床", "棉大衣", "救生衣", "救生圈", "冲锋舟", "橡皮艇", "编织袋", "土工布", "钢丝网兜", "发电机组", "排水泵", "照明灯塔", "应急灯", "对讲机", "卫星电话", "方便面", "饮用水", "压缩饼干", "自热食品", "医用口罩", "防护服", "消毒液", "急救包", "担架", "灭火器", "消防水带", "空气呼吸器", "防化服", "防毒面具", "吸附棉", "堵漏器材", "破拆工具", "液压顶杆", "生命探测仪", "挖掘机", "装载机", "应急照明车", "应急通信车", "净水设备", "移动厕所", "保温毯", "睡袋", "雨衣", "胶靴", "铁锹", "安全绳", "警戒带", "锥形桶", "沙袋"]
URBAN_DENSITY = 3_000      # people/km² above which a cell counts as built-up
STATION_AREA_KM2 = 7.0     # GB 51080-2015 §4.1.3: an ordinary station's area ≤ 7 km²
CORE = ["610102", "610103", "610104", "610111", "610112", "610113"]


def _row(rows, prefix, name, rtype, code, point, **extra) -> None:
    seq = sum(1 for r in rows if r["type"] == rtype) + 1
    rows.append({
        "code": f"{prefix}-{seq:04d}", "name": f"{name}{seq:03d}", "type": rtype,
        "district_code": code, "level": None, "items": None, "people": None,
        "attributes": {}, "address": "（示范数据）", "geom": point, **extra,
    })


def _storage(ctx: DemoContext, rows: list) -> None:
    kinds, shares = list(STOCK_KINDS), np.array(list(STOCK_KINDS.values()))
    for code in ctx.codes:
        d = ctx.cfg["districts"].get(code, {})
        n = d.get("storage_points", 0) + d.get("devzone_storage_points", 0)
        items = d.get("stored_items", 0) + d.get("devzone_stored_items", 0)
        if not n:
            continue
        stock = _integer_shares(ctx.rng.dirichlet(np.full(n, 1.5)) + 0.05, items)
        x, y, _ = sampling.sample_cells(ctx, sampling.weights_in(ctx, code, 0.5), n)
        for i in range(n):
            level = "district" if i == 0 else "town"
            if i == 1 and code in CORE:
                level = "city"
            by_kind = ctx.rng.multinomial(int(stock[i]), shares / shares.sum())
            _row(rows, "ST", f"{ctx.district_name(code)}应急物资储备点", "storage", code,
                 shapely.Point(x[i], y[i]), level=level, items=int(stock[i]),
                 attributes={"stock": {k: int(v) for k, v in zip(kinds, by_kind)}})


def _teams(ctx: DemoContext, rows: list) -> None:
    counts = ctx.cfg["counts"]
    n, people = counts["rescue_teams"], counts["rescue_people"]
    staff = _integer_shares(ctx.rng.dirichlet(np.full(n, 3.0)) + 0.1, people)
    x, y, codes = sampling.sample_cells(ctx, ctx.grid.density ** 0.8, n)
    for i in range(n):
        _row(rows, "RT", "专业应急救援队", "rescue_team", codes[i], shapely.Point(x[i], y[i]),
             people=int(staff[i]),
             attributes={"force": "professional", "speciality": SPECIALITIES[i % len(SPECIALITIES)],
                         "vehicles": int(staff[i] // 8 + ctx.rng.integers(1, 4))})
    k = counts["social_rescue_forces"]
    x, y, codes = sampling.sample_cells(ctx, ctx.grid.density, k)
    for i in range(k):
        _row(rows, "RT", "社会应急救援力量", "rescue_team", codes[i], shapely.Point(x[i], y[i]),
             people=int(ctx.rng.integers(20, 120)),
             attributes={"force": "social", "speciality": "社会救援", "vehicles": int(ctx.rng.integers(1, 6))})


def _fire_stations(ctx: DemoContext, rows: list) -> None:
    """Built-up area split into ~7 km² station areas (k-means), plus a station at every
    district seat that none of them is near."""
    g = ctx.grid
    urban = g.density > URBAN_DENSITY
    area_km2 = urban.sum() * (g.cell_m / 1000) ** 2
    k = max(1, math.ceil(area_km2 / STATION_AREA_KM2))
    cx, cy = _kmeans(ctx.rng, g.x[urban], g.y[urban], np.ones(urban.sum()), k, iterations=10)
    stations = list(zip(cx, cy, ["standard_1"] * k))
    for code, seat in ctx.seats.items():
        if min(math.hypot(seat.x - sx, seat.y - sy) for sx, sy, _ in stations) > 5_000:
            stations.append((seat.x + 300, seat.y, "standard_2"))
    codes = sampling.district_of(ctx, np.array([s[0] for s in stations]), np.array([s[1] for s in stations]))
    for (sx, sy, cls), code in zip(stations, codes):
        if code is None:
            continue
        if cls == "standard_1" and ctx.rng.random() < 0.1:
            cls = "special"
        engines = {"special": 8, "standard_1": 5, "standard_2": 3}[cls] + int(ctx.rng.integers(0, 3))
        _row(rows, "FS", f"{ctx.district_name(code)}消防救援站", "fire_station", code,
             shapely.Point(sx, sy), people=int(engines * 6 + ctx.rng.integers(0, 10)),
             attributes={"class": cls, "engines": engines})


def _spread(ctx, rows, n, power, prefix, name, rtype, attrs):
    x, y, codes = sampling.sample_cells(ctx, ctx.grid.density ** power, n)
    for i in range(n):
        _row(rows, prefix, name, rtype, codes[i], shapely.Point(x[i], y[i]), attributes=attrs(i))


def _enterprises(ctx: DemoContext, rows: list) -> None:
    counts = ctx.cfg["counts"]
    n, kinds = counts["supply_enterprises"], SUPPLIES[: counts["supply_kinds"]]
    order = ctx.rng.permutation(len(kinds))
    split = np.array_split(order, n)  # every kind with one enterprise, none left out
    zones = ctx.industrial
    for i in range(n):
        _, centre, radius = zones[i % len(zones)]
        x, y, codes = sampling.ring_sample(ctx, centre, radius, 1)
        _row(rows, "SE", "应急物资产能保障企业", "supply_enterprise", codes[0], shapely.Point(x[0], y[0]),
             attributes={"supplies": [kinds[j] for j in sorted(split[i])]})


def generate(ctx: DemoContext) -> list[dict]:
    rows: list[dict] = []
    _storage(ctx, rows)
    _teams(ctx, rows)
    _fire_stations(ctx, rows)
    _spread(ctx, rows, ctx.cfg["counts"]["broadcasts"], 0.4, "BC", "应急广播终端", "broadcast",
            lambda i: {"coverage_radius_m": int(ctx.rng.integers(300, 1000))})
    _enterprises(ctx, rows)
    _spread(ctx, rows, ctx.cfg["counts"]["medical_points"], 1.2, "MD", "医疗救治点", "medical",
            lambda i: {"beds": int(ctx.rng.integers(50, 2000))})
    return rows
