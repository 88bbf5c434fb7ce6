"""The map of the situation brief: an SVG drawn by the server from the data, no tiles.

The view is a square around the incident in an azimuthal equidistant projection centred on
it (PostGIS `ST_Transform` to a PROJ string), so the circle and its rings are true circles,
north is up at the point, and one unit is one metre. PostGIS clips and simplifies the
district and sub-district outlines to the view and writes the paths (`ST_AsSVG`, which also
turns y downwards); this module adds the rings, the symbols, a scale bar and a north arrow.
Colours are the map's (`layers.style`): the four grades, shelters by class, resources.
"""

from __future__ import annotations

import math
from html import escape

import psycopg

from layers.commander.situation import GRADES, circle_box
from layers.style import (
    BACKGROUND,
    DANGER,
    DISTRICT_FILL,
    DISTRICT_LINE,
    PALETTE,
    RESOURCE,
    SHELTER_CLASSES,
    SHELTER_OTHER,
    SUBDISTRICT_LINE,
    UNGRADED,
)

VIEW_MARGIN = 1.2            # the view's half side, in radii
CIRCLE = "#263238"           # the circle and rings: dark slate, no grade's colour
GRADE_COLOURS = {g.grade: g for g in PALETTE}

# Everything in the view, one row per thing drawn: (layer, key, kind, svg path, x, y).
# Outlines are cut to a box of degrees first (cheap), then to the square in metres.
MAP_STATEMENT = """
WITH view AS (SELECT ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326) AS box,
                     ST_MakeEnvelope(-%(h)s, -%(h)s, %(h)s, %(h)s) AS frame)
SELECT 'district', d.code, d.name, ST_AsSVG(ST_Simplify(ST_ClipByBox2D(ST_Transform(
           ST_ClipByBox2D(ST_Boundary(d.geom), view.box), %(proj)s), view.frame), %(tol)s), 0, 0),
       NULL::float8, NULL::float8
FROM districts d, view WHERE d.geom && view.box
UNION ALL
SELECT 'subdistrict', s.code, s.name, ST_AsSVG(ST_Simplify(ST_ClipByBox2D(ST_Transform(
           ST_ClipByBox2D(ST_Boundary(s.geom), view.box), %(proj)s), view.frame), %(tol)s), 0, 0),
       NULL, NULL
FROM subdistricts s, view WHERE s.geom && view.box
UNION ALL
SELECT * FROM (
    SELECT 'unit', u.code, coalesce(u.grade, ''),
           CASE WHEN ST_Dimension(u.geom) > 0 THEN ST_AsSVG(ST_Simplify(ST_ClipByBox2D(
               ST_Transform(u.geom, %(proj)s), view.frame), %(tol)s), 0, 0) END,
           ST_X(p), ST_Y(p)
    FROM risk_units u, view,
         LATERAL (SELECT ST_Transform(ST_PointOnSurface(u.geom), %(proj)s) AS p) q
    WHERE u.geom && view.box
    ORDER BY array_position(%(grades)s::text[], u.grade) DESC NULLS FIRST, u.id) units
UNION ALL
SELECT 'shelter', s.code, s.class, NULL, ST_X(p), ST_Y(p)
FROM shelters s, view, LATERAL (SELECT ST_Transform(s.geom, %(proj)s) AS p) q
WHERE s.geom && view.box
UNION ALL
SELECT 'danger', d.code, d.level, NULL, ST_X(p), ST_Y(p)
FROM hidden_dangers d, view, LATERAL (SELECT ST_Transform(d.geom, %(proj)s) AS p) q
WHERE d.geom && view.box AND d.status = 'open' AND d.level = 'major'
UNION ALL
SELECT 'alarm', a.id::text, a.grade, NULL, ST_X(p), ST_Y(p)
FROM alarms a JOIN monitoring_points m ON m.id = a.monitoring_point_id, view,
     LATERAL (SELECT ST_Transform(m.geom, %(proj)s) AS p) q
WHERE a.state <> 'closed' AND m.geom && view.box
UNION ALL
SELECT 'resource', r.n::text, r.type, NULL, ST_X(p), ST_Y(p)
FROM unnest(%(types)s::text[], %(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY
         AS r(type, lon, lat, n),
     LATERAL (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), %(proj)s) AS p) q
"""


def local_projection(lon: float, lat: float) -> str:
    """PROJ string of the azimuthal equidistant projection centred on the point."""
    return (f"+proj=aeqd +lat_0={lat:.8f} +lon_0={lon:.8f} +datum=WGS84 +units=m +no_defs")


def numbered_resources(answer: dict) -> list[tuple[int, str, dict]]:
    """The nearest resources of the answer, numbered in the order the brief lists them."""
    out, n = [], 0
    for rtype, helpers in answer["nearest"].items():
        for helper in helpers:
            n += 1
            out.append((n, rtype, helper))
    return out


async def map_rows(conn: psycopg.AsyncConnection, answer: dict) -> list[tuple]:
    """What the map draws, from the database (one statement)."""
    lon, lat = answer["centre"]["lon"], answer["centre"]["lat"]
    h = answer["radius_m"] * VIEW_MARGIN
    resources = numbered_resources(answer)
    params = {"proj": local_projection(lon, lat), "h": h, "tol": h / 600,
              "grades": list(GRADES), **circle_box(lon, lat, h * math.sqrt(2)),
              "types": [t for _, t, _ in resources],
              "lons": [r["lon"] for _, _, r in resources],
              "lats": [r["lat"] for _, _, r in resources]}
    cur = await conn.execute(MAP_STATEMENT, params)
    return await cur.fetchall()


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_length(longest: float) -> float:
    """The longest 1, 2 or 5 × 10^n metres not above `longest`."""
    power = 10 ** math.floor(math.log10(longest))
    return max(step * power for step in (1, 2, 5) if step * power <= longest)


def _length_text(metres: float) -> str:
    return f"{_num(metres / 1000)} km" if metres >= 1000 else f"{_num(metres)} m"


def _clamped(x: float, y: float, h: float) -> tuple[float, float, bool]:
    """The point, or where the line to it leaves the view (inset a little)."""
    edge = h * 0.94
    far = max(abs(x), abs(y))
    if far <= edge:
        return x, y, False
    return x * edge / far, y * edge / far, True


SYMBOL = 1 / 70  # a symbol's half size, as a share of the view's half side


def _symbols(rows: list[tuple], h: float) -> list[str]:
    s = h * SYMBOL
    shelter_colour = {c.value: c.colour for c in SHELTER_CLASSES}
    out = []
    for layer, key, kind, path, x, y in rows:
        title = f"<title>{escape(str(key))}</title>"
        if layer == "unit":
            grade = GRADE_COLOURS.get(kind, UNGRADED)
            if path:
                closed = "Z" in path
                fill = f'fill="{grade.colour}" fill-opacity="0.35"' if closed else 'fill="none"'
                width = 0.8 if closed else 1.4
                stroke = grade.outline if closed else grade.colour
                out.append(f'<path d="{path}" {fill} stroke="{stroke}" stroke-width="{width}" '
                           f'vector-effect="non-scaling-stroke">{title}</path>')
            else:
                out.append(f'<circle cx="{_num(x)}" cy="{_num(-y)}" r="{_num(s * 0.7)}" '
                           f'fill="{grade.colour}" stroke="{grade.outline}" stroke-width="0.8" '
                           f'vector-effect="non-scaling-stroke">{title}</circle>')
        elif layer == "shelter":
            colour = shelter_colour.get(kind, SHELTER_OTHER)
            out.append(f'<rect x="{_num(x - s)}" y="{_num(-y - s)}" width="{_num(2 * s)}" '
                       f'height="{_num(2 * s)}" fill="{colour}" stroke="#FFFFFF" '
                       f'stroke-width="0.8" vector-effect="non-scaling-stroke">{title}</rect>')
        elif layer == "danger":
            d = s * 1.2
            out.append(f'<path d="M {_num(x)} {_num(-y - d)} L {_num(x + d)} {_num(-y)} '
                       f'L {_num(x)} {_num(-y + d)} L {_num(x - d)} {_num(-y)} Z" fill="{DANGER}" '
                       f'stroke="#FFFFFF" stroke-width="0.8" vector-effect="non-scaling-stroke">'
                       f'{title}</path>')
        elif layer == "alarm":
            grade = GRADE_COLOURS.get(kind, UNGRADED)
            d = s * 1.4
            out.append(f'<path d="M {_num(x)} {_num(-y - d)} L {_num(x + d)} {_num(-y + d * 0.8)} '
                       f'L {_num(x - d)} {_num(-y + d * 0.8)} Z" fill="{grade.colour}" '
                       f'stroke="#000000" stroke-width="1" vector-effect="non-scaling-stroke">'
                       f'{title}</path>')
    return out


def _resources(rows: list[tuple], h: float) -> list[str]:
    s = h / 32  # numbered discs: big enough to read on the printed map
    out = []
    for layer, key, kind, _, x, y in rows:
        if layer != "resource":
            continue
        cx, cy, outside = _clamped(x, -y, h)
        arrow = ""
        if outside:  # a pointer from the edge marker towards the resource
            angle = math.atan2(cy, cx)
            tip = (cx + math.cos(angle) * s * 1.9, cy + math.sin(angle) * s * 1.9)
            arrow = (f'<line x1="{_num(cx)}" y1="{_num(cy)}" x2="{_num(tip[0])}" '
                     f'y2="{_num(tip[1])}" stroke="{RESOURCE}" stroke-width="2" '
                     f'vector-effect="non-scaling-stroke"/>')
        out.append(f'<g>{arrow}<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(s)}" '
                   f'fill="{RESOURCE}" stroke="#FFFFFF" stroke-width="1" '
                   f'vector-effect="non-scaling-stroke"/><text x="{_num(cx)}" '
                   f'y="{_num(cy + s * 0.42)}" font-size="{_num(s * 1.2)}" fill="#FFFFFF" '
                   f'text-anchor="middle" font-weight="bold">{escape(str(key))}</text>'
                   f'<title>{escape(kind)} {escape(str(key))}</title></g>')
    return out


def _rings(edges: list[float], radius: float, h: float) -> list[str]:
    out = []
    for edge in edges:
        last = edge == radius
        dash = "" if last else ' stroke-dasharray="6 4"'
        out.append(f'<circle cx="0" cy="0" r="{_num(edge)}" fill="none" stroke="{CIRCLE}" '
                   f'stroke-width="{2.2 if last else 1}"{dash} '
                   f'vector-effect="non-scaling-stroke"/>')
        # the ring's label on its north-east side
        a = math.radians(45)
        out.append(f'<text x="{_num(edge * math.cos(a) + h / 150)}" '
                   f'y="{_num(-edge * math.sin(a) - h / 150)}" font-size="{_num(h / 24)}" '
                   f'fill="{CIRCLE}" stroke="#FFFFFF" stroke-width="3" paint-order="stroke" '
                   f'vector-effect="non-scaling-stroke">{_length_text(edge)}</text>')
    return out


def _scale_and_north(h: float) -> list[str]:
    length = _nice_length(h * 0.5)
    x0, y0 = -h * 0.93, h * 0.9
    font = _num(h / 22)
    tick = h / 60
    north_x, north_y, size = h * 0.86, -h * 0.86, h / 16
    return [
        (f'<rect x="{_num(x0 - h / 60)}" y="{_num(y0 - h / 11)}" width="{_num(length + h / 30)}" '
         f'height="{_num(h / 8.5)}" fill="#FFFFFF" fill-opacity="0.85"/>'),
        (f'<path d="M {_num(x0)} {_num(y0 - tick)} V {_num(y0)} H {_num(x0 + length)} '
         f'V {_num(y0 - tick)}" fill="none" stroke="#000000" stroke-width="1.5" '
         f'vector-effect="non-scaling-stroke"/>'),
        (f'<text x="{_num(x0 + length / 2)}" y="{_num(y0 - tick * 1.6)}" font-size="{font}" '
         f'text-anchor="middle">{_length_text(length)}</text>'),
        (f'<g><path d="M {_num(north_x)} {_num(north_y - size)} L {_num(north_x + size * 0.45)} '
         f'{_num(north_y + size * 0.6)} L {_num(north_x)} {_num(north_y + size * 0.25)} '
         f'L {_num(north_x - size * 0.45)} {_num(north_y + size * 0.6)} Z" fill="#000000"/>'
         f'<text x="{_num(north_x)}" y="{_num(north_y - size * 1.15)}" font-size="{font}" '
         f'text-anchor="middle" font-weight="bold">N 北</text></g>'),
    ]


def situation_svg(answer: dict, rows: list[tuple], edges: list[float]) -> str:
    """The map as an inline SVG element (the view is 2 × 1.2 radii on a side)."""
    radius = answer["radius_m"]
    h = radius * VIEW_MARGIN
    outlines = []
    for layer, key, name, path, _, _ in rows:
        if layer in ("district", "subdistrict") and path:
            district = layer == "district"
            colour = DISTRICT_LINE if district else SUBDISTRICT_LINE
            dash = "" if district else ' stroke-dasharray="4 3"'
            outlines.append(f'<path d="{path}" fill="none" stroke="{colour}" '
                            f'stroke-width="{1.6 if district else 0.8}"{dash} '
                            f'vector-effect="non-scaling-stroke"><title>{escape(str(name))}'
                            f'</title></path>')
    centre = h / 45
    parts = [
        (f'<svg class="situation-map" '
         f'viewBox="{_num(-h)} {_num(-h)} {_num(2 * h)} {_num(2 * h)}" role="img" '
         f'aria-label="态势图 Situation map" font-family="sans-serif">'),
        (f'<rect x="{_num(-h)}" y="{_num(-h)}" width="{_num(2 * h)}" height="{_num(2 * h)}" '
         f'fill="{DISTRICT_FILL}"/>'),
         f'<circle cx="0" cy="0" r="{_num(radius)}" fill="{BACKGROUND}" fill-opacity="0.6"/>',
        *outlines, *_symbols(rows, h),
        # what lies outside the circle, faded
        (f'<path d="M {_num(-h)} {_num(-h)} H {_num(h)} V {_num(h)} H {_num(-h)} Z '
         f'M {_num(radius)} 0 A {_num(radius)} {_num(radius)} 0 1 0 {_num(-radius)} 0 '
         f'A {_num(radius)} {_num(radius)} 0 1 0 {_num(radius)} 0 Z" fill="#FFFFFF" '
         f'fill-opacity="0.5" fill-rule="evenodd"/>'),
        *_rings(edges, radius, h), *_resources(rows, h),
        (f'<path d="M {_num(-centre)} 0 H {_num(centre)} M 0 {_num(-centre)} V {_num(centre)}" '
         f'stroke="#000000" stroke-width="3" vector-effect="non-scaling-stroke"/>'),
        (f'<circle cx="0" cy="0" r="{_num(centre / 2.5)}" fill="#FFFFFF" stroke="#000000" '
         f'stroke-width="1.5" vector-effect="non-scaling-stroke"><title>事发点 Incident'
         f'</title></circle>'),
        *_scale_and_north(h),
        (f'<rect x="{_num(-h)}" y="{_num(-h)}" width="{_num(2 * h)}" height="{_num(2 * h)}" '
         f'fill="none" stroke="#000000" stroke-width="1" vector-effect="non-scaling-stroke"/>'),
         "</svg>",
    ]
    return "\n".join(parts)
