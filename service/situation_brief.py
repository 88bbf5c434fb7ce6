"""The situation brief as one printable page (`GET /analysis/situation?format=html`).

Chinese with English beside; the figures of the JSON answer as tables, the map as inline
SVG (`service.situation_map`), print CSS for A4. Nothing is loaded from anywhere: no
script, no font, no image but the inline SVG (the response's Content-Security-Policy
forbids the rest). Long lists are cut for the page, saying how many are left out; the JSON
answer has them all (up to the list limit of the rules).
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from layers.style import PALETTE, RESOURCE, SHELTER_CLASSES, UNGRADED
from service.situation_map import numbered_resources

PAGE_ROWS = 6  # rows of each list on the printed page
GRADE_NAMES = {g.grade: (g.label_zh, g.name_en, g.colour) for g in PALETTE}
GRADE_NAMES["ungraded"] = (UNGRADED.label_zh, UNGRADED.level_en, UNGRADED.colour)
RESOURCE_NAMES = {
    "fire_station": ("消防站", "Fire station"), "rescue_team": ("救援队伍", "Rescue team"),
    "medical": ("医疗点", "Medical point"), "storage": ("物资储备点", "Storage point"),
    "broadcast": ("应急广播", "Broadcast terminal"),
    "supply_enterprise": ("保供企业", "Supply enterprise"),
}
CLASS_NAMES = {c.value: (c.label_zh, c.label_en, c.colour) for c in SHELTER_CLASSES}
STATE_NAMES = {"open": ("未处理", "open"), "acknowledged": ("已确认", "acknowledged")}

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

_STYLE = """
@page { size: A4; margin: 8mm 9mm }
* { box-sizing: border-box }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "WenQuanYi Micro Hei", system-ui, sans-serif; color: #1d2327; margin: 0 auto;
       max-width: 192mm; padding: 5mm 0; font-size: 7.6pt; line-height: 1.25 }
h1 { font-size: 13pt; margin: 0 }
h2 { font-size: 8.6pt; margin: 2mm 0 .6mm; border-bottom: 1px solid #999 }
.en { color: #5b6770; font-weight: normal; font-size: .9em }
header { display: flex; justify-content: space-between; align-items: flex-end; gap: 4mm;
         border-bottom: 2px solid #263238; padding-bottom: 1.2mm }
header p { margin: 0; text-align: right }
.top { display: grid; grid-template-columns: 94mm 1fr; gap: 4mm; margin-top: 2mm }
.situation-map { width: 94mm; height: 94mm; display: block }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 4mm }
table { border-collapse: collapse; width: 100% }
th, td { padding: .35mm .8mm; border-bottom: .4px solid #ccc; text-align: left;
         vertical-align: top }
thead th { font-size: 7pt; background: #f1f3f4 } th { font-weight: 600 }
td.num, th.num { text-align: right; white-space: nowrap } td.code { white-space: nowrap }
.chip { display: inline-block; width: 2.4mm; height: 2.4mm; border-radius: .5mm;
        margin-right: .8mm; vertical-align: -.3mm; border: .3px solid #0005 }
.legend { font-size: 6.8pt; color: #333; margin: .8mm 0 0 } .legend span { margin-right: 2mm;
          white-space: nowrap }
.more, .note { color: #5b6770; font-size: 6.6pt; margin: .4mm 0 } .none { color: #5b6770;
         margin: .4mm 0 }
.alert { color: #9E1313; font-weight: 600 } .disc { color: #FFFFFF; border-radius: 50%;
         display: inline-block; min-width: 3.6mm; text-align: center; font-weight: 700 }
footer { margin-top: 2mm; border-top: 1px solid #999; padding-top: .8mm; font-size: 6.4pt;
         color: #5b6770 }
@media print { body { padding: 0; max-width: none } a { color: inherit; text-decoration: none } }
@media screen { body { padding: 6mm } }
"""


def _b(zh: str, en: str) -> str:
    return f"{escape(zh)} <span class=\"en\">{escape(en)}</span>"


def _n(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _metres(value) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} km" if value >= 1000 else f"{value:.0f} m"


def _chip(colour: str) -> str:
    return f'<span class="chip" style="background:{escape(colour)}"></span>'


def _grade(grade: str | None) -> str:
    zh, en, colour = GRADE_NAMES.get(grade or "ungraded", GRADE_NAMES["ungraded"])
    return f"{_chip(colour)}{_b(zh, en)}"


def _table(head: list[str], rows: list[str], empty: str, cut: int = 0) -> str:
    if not rows:
        return f'<p class="none">{empty}</p>'
    more = (f'<p class="more">另有 {cut:,} 项未列出 · {cut:,} more not listed '
            f'(JSON: <code>format=json</code>)</p>' if cut > 0 else "")
    return (f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table>{more}")


def _th(zh: str, en: str, num: bool = False) -> str:
    return f'<th{" class=num" if num else ""}>{_b(zh, en)}</th>'


def _summary(a: dict) -> str:
    units, points = a["risk_units"], a["monitoring_points"]
    alarms, dangers = points["open_alarms"], a["hidden_dangers"]
    rows = [f"<tr><td>{_grade(g)}</td><td class=num>{_n(units['by_grade'][g])}</td>"
            f"<td class=num>{_n(alarms['by_grade'].get(g))}</td></tr>"
            for g in (*GRADE_NAMES,) if g != "ungraded" or units["by_grade"]["ungraded"]]
    rows.append(f"<tr><th>{_b('合计', 'Total')}</th><th class=num>{_n(units['total'])}</th>"
                f"<th class=num>{_n(alarms['count'])}</th></tr>")
    population = a["population"]
    people = _n(population["total"]) if population else _b("无人口数据", "no population surface")
    shelters = a["shelters"]
    facts = [
        (("常住人口（圈内）", "Residents in the circle"), people),
        (("监测点", "Monitoring points"),
         f"{_n(points['total'])}（报警 <span class=en>alarming</span> {_n(points['alarming'])}）"),
        (("未整改隐患", "Open hidden dangers"),
         (f"{_n(dangers['open'])}（重大 <span class=en>major</span> "
          f"<span class=\"{'alert' if dangers['by_level']['major'] else ''}\">"
          f"{_n(dangers['by_level']['major'])}</span>）")),
        (("避难场所", "Shelters"), (f"{_n(shelters['count'])}（剩余位置 <span class=en>places "
                                   f"left</span> {_n(shelters['remaining'])}）")),
    ]
    return (f"<h2>{_b('风险单元与预警', 'Risk units and open alarms')}</h2>"
            + _table([_th("等级", "Grade"), _th("风险单元", "Units", True),
                      _th("未关闭预警", "Open alarms", True)], rows, "")
            + "<table>" + "".join(f"<tr><th>{_b(*k)}</th><td class=num>{v}</td></tr>"
                                  for k, v in facts) + "</table>")


def _population(a: dict) -> str:
    population = a["population"]
    head = f"<h2>{_b('人口（按圈层）', 'Residents by ring')}</h2>"
    if population is None:
        return head + f'<p class="none">{_b("未存储人口栅格", "No population surface is stored")}</p>'
    rows = [f"<tr><td>{_metres(r['from_m'])} – {_metres(r['to_m'])}</td>"
            f"<td class=num>{_n(r['residents'])}</td><td class=num>{_n(r['cumulative'])}</td></tr>"
            for r in population["rings"]]
    return head + _table([_th("圈层", "Ring"), _th("本圈", "In ring", True),
                          _th("累计", "Cumulative", True)], rows, "") + (
        f'<p class="note">人口栅格 {_n(population["cell_m"])} m 格网，格心在圈内计入 · '
        f'{escape(population["rule"])}</p>')


def _red_units(a: dict) -> str:
    red = a["risk_units"]["red"]
    rows = [f"<tr><td class=code>{escape(u['code'])}</td><td>{escape(u['name'])}</td>"
            f"<td>{escape(u.get('category_name') or u['category'])}</td>"
            f"<td class=num>{_metres(u['distance_m'])}</td></tr>" for u in red["items"][:PAGE_ROWS]]
    return (f"<h2>{_chip(GRADE_NAMES['red'][2])}{_b('红色（重大）风险单元', 'Red risk units')}</h2>"
            + _table([_th("编码", "Code"), _th("名称", "Name"), _th("类别", "Category"),
                      _th("距离", "Distance", True)], rows, _b("无", "none"),
                     red["count"] - len(rows)))


def _alarms(a: dict) -> str:
    alarms = a["monitoring_points"]["open_alarms"]
    rows = []
    for x in alarms["items"][:PAGE_ROWS]:
        zh, _en, colour = GRADE_NAMES.get(x["grade"], GRADE_NAMES["ungraded"])
        state = STATE_NAMES.get(x["state"], (x["state"], x["state"]))
        value = "" if x.get("value") is None else f"{x['value']:g} {escape(x.get('unit') or '')}"
        raised = escape(str(x["raised_at"])[5:16].replace("T", " "))
        rows.append(f"<tr><td class=code>{_chip(colour)}{escape(zh[:1])}</td>"
                    f"<td class=code>{escape(x['point_code'])}</td>"
                    f"<td>{escape(x.get('kind_name') or x['kind'])} {value}</td>"
                    f"<td class=code>{escape(state[0])} {raised}</td>"
                    f"<td class=num>{_metres(x['distance_m'])}</td></tr>")
    return (f"<h2>{_b('未关闭预警', 'Open alarms')}</h2>"
            + _table([_th("级", "Grade"), _th("监测点", "Point"), _th("类型 读数", "Kind, value"),
                      _th("状态 时间", "State, raised"), _th("距离", "Distance", True)], rows,
                     _b("无", "none"), alarms["count"] - len(rows)))


def _dangers(a: dict) -> str:
    major = a["hidden_dangers"]["major"]
    rows = [f"<tr><td class=code>{escape(d['code'])}</td><td>{escape(d['title'])}"
            f"{' <span class=alert>逾期 overdue</span>' if d.get('overdue') else ''}</td>"
            f"<td class=code>{escape(str(d.get('deadline') or '–'))}</td>"
            f"<td class=num>{_metres(d['distance_m'])}</td></tr>"
            for d in major["items"][:PAGE_ROWS]]
    general = a["hidden_dangers"]["by_level"]["general"]
    return (f"<h2>{_b('未整改重大隐患', 'Open major hidden dangers')}</h2>"
            + _table([_th("编码", "Code"), _th("隐患", "Danger"), _th("整改期限", "Deadline"),
                      _th("距离", "Distance", True)], rows, _b("无", "none"),
                     major["count"] - len(rows))
            + f'<p class="note">另有一般隐患 {general:,} 项未整改 · {general:,} general '
              f'dangers open</p>')


def _shelters(a: dict) -> str:
    s = a["shelters"]
    rows = []
    for x in s["items"][:PAGE_ROWS]:
        _, _en, colour = CLASS_NAMES.get(x["class"], (x["class"], x["class"], "#888"))
        rows.append(f"<tr><td>{_chip(colour)}{escape(x['name'])}</td>"
                    f"<td class=num>{_n(x['capacity'])}</td><td class=num>{_n(x['load'])}</td>"
                    f"<td class=num><b>{_n(x['remaining'])}</b></td>"
                    f"<td class=num>{_metres(x['distance_m'])}</td></tr>")
    if rows:
        rows.append(f"<tr><th>{_b('圈内合计', 'All')} {s['count']:,}</th>"
                    f"<th class=num>{_n(s['capacity'])}</th><th class=num>{_n(s['load'])}</th>"
                    f"<th class=num>{_n(s['remaining'])}</th><th></th></tr>")
    return (f"<h2>{_b('避难场所', 'Shelters')}</h2>"
            + _table([_th("名称", "Name"), _th("容量", "Capacity", True),
                      _th("已承担", "Load", True), _th("剩余", "Left", True),
                      _th("距离", "Distance", True)], rows, _b("圈内无避难场所", "none in the circle"),
                     s["count"] - min(len(s["items"]), PAGE_ROWS))
            + '<p class="note">容量 = 有效面积 ÷ 人均面积标准；已承担 = 步行范围内已分配到该场所的居民'
              '（避难覆盖分析）；剩余 = 容量 − 已承担，可接纳更远处人员。Capacity = effective '
              'area / m² per person of its class; load = residents of its walking area already '
              'given a place there; left = capacity − load, room for people from further away.'
              '</p>')


def _nearest(a: dict) -> str:
    rows = []
    for n, rtype, h in numbered_resources(a):
        zh, _en = RESOURCE_NAMES.get(rtype, (rtype, rtype))
        holds = " · ".join(part for part in (
            f"{_n(h['people'])} 人" if h.get("people") else "",
            f"{_n(h['items'])} 件" if h.get("items") else "") if part)
        rows.append(f"<tr><td class=num><span class=disc style=\"background:{RESOURCE}\">"
                    f"{n}</span></td><td>{escape(zh)}</td><td>{escape(h['name'])}"
                    f"{f' <span class=en>{holds}</span>' if holds else ''}</td>"
                    f"<td class=num>{_metres(h['distance_m'])}</td>"
                    f"<td class=num>{h['eta_s'] / 60:.1f} min</td></tr>")
    travel = a["travel"]
    if travel.get("method") == "network":
        note = f"到达时间按路网计算 · times over the road network ({escape(str(travel.get('routing')))})"
    else:
        note = (f"到达时间为估算：直线距离 × 绕行系数 {travel.get('detour_factor')} ÷ 区域车速 · "
                f"estimated: straight line × detour {travel.get('detour_factor')} / speed of "
                f"the area type")
    return (f"<h2>{_b('最近应急力量', 'Nearest help')}</h2>"
            + _table([_th("#", ""), _th("类型", "Type"), _th("名称", "Name"),
                      _th("距离", "Distance", True), _th("到达", "ETA", True)], rows,
                     _b("无", "none")) + f'<p class="note">{note}</p>')


def _legend() -> str:
    grades = "".join(f"<span>{_chip(g.colour)}{escape(g.name_zh)}</span>" for g in PALETTE)
    classes = "".join(f"<span>{_chip(c.colour)}{escape(c.label_zh)}</span>"
                      for c in SHELTER_CLASSES)
    return (f'<p class="legend">{grades}<span>▲ 预警 alarm</span><span>◆ 重大隐患 major danger'
            f'</span>{classes}<span style="color:{RESOURCE}">● 应急力量 help (#)</span>'
            f'<span>— 区县 · - - 街道 boundaries</span></p>')


def brief_html(answer: dict, svg: str, generated: datetime) -> str:
    """The whole brief page."""
    a = answer
    place = a["district"]["name"] + (f" · {a['subdistrict']['name']}" if a["subdistrict"] else "")
    place_en = a["district"]["name_en"] + (
        f" · {a['subdistrict']['name_en']}" if a["subdistrict"] and a["subdistrict"].get("name_en")
        else "")
    title = f"态势简报 Situation brief · {place}"
    body = (
        f"<header><div><h1>{_b('事发点周边态势简报', 'Situation around the incident')}</h1>"
        f"<div>{escape(place)} <span class=en>{escape(place_en)}</span></div></div>"
        f"<p>{a['centre']['lon']:.5f}°E, {a['centre']['lat']:.5f}°N · "
        f"{_b('半径', 'radius')} {_metres(a['radius_m'])}<br>"
        f"<span class=en>{escape(generated.strftime('%Y-%m-%d %H:%M %Z'))}</span></p></header>"
        f'<div class="top"><div>{svg}{_legend()}</div><div>{_summary(a)}{_population(a)}</div>'
        f"</div>"
        f'<div class="cols"><div>{_red_units(a)}{_alarms(a)}{_dangers(a)}</div>'
        f"<div>{_nearest(a)}{_shelters(a)}</div></div>"
        f"<footer>城市安全风险一张图 · City-safety one map — 距离为椭球面直线距离 · distances "
        f"on the WGS 84 ellipsoid; 地图为以事发点为中心的等距方位投影，上为北 · map: azimuthal "
        f"equidistant projection centred on the incident, north up.</footer>")
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")
