"""The four-colour palette of risk grades and the MapLibre style of the one map.

The palette is defined here once, with the Chinese and English names of the grades, so
the map style, the page's legend and any chart use the same colours and words
(`legend()` gives it as JSON). The style draws the districts as the base map (a light
fill and outlines: no online base map is needed) and the layers of the one map on top,
from the service's vector tiles. It has no text layers: those need glyphs from a font
server, which an intranet does not have; the page writes the district names as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from layers.catalogue import Layer
from layers.tiling import cells_layer_name, has_tiles, individual_from, tile_minzoom

STYLE_ID = "onemap"


@dataclass(frozen=True)
class GradeColour:
    """One grade: its colour and its names for people."""

    grade: str        # value in the data: red, orange, yellow, blue
    colour: str       # fill and circle colour
    outline: str      # a darker shade, for strokes on a light map
    name_zh: str      # 红色
    level_zh: str     # 重大风险
    name_en: str      # Red
    level_en: str     # major risk

    @property
    def label_zh(self) -> str:
        return f"{self.name_zh}（{self.level_zh}）"

    @property
    def label_en(self) -> str:
        return f"{self.name_en} ({self.level_en})"


# Worst first. Red, orange, yellow and blue, as the grading standards name them.
PALETTE: tuple[GradeColour, ...] = (
    GradeColour("red", "#E02020", "#9E1313", "红色", "重大风险", "Red", "major risk"),
    GradeColour("orange", "#F57C00", "#A85400", "橙色", "较大风险", "Orange", "high risk"),
    GradeColour("yellow", "#F2C200", "#9C7D00", "黄色", "一般风险", "Yellow", "moderate risk"),
    GradeColour("blue", "#1F6FE5", "#0F4699", "蓝色", "低风险", "Blue", "low risk"),
)
GRADE_ORDER: tuple[str, ...] = tuple(g.grade for g in PALETTE)   # worst first
UNGRADED = GradeColour("", "#7D8A96", "#4E5963", "灰色", "未分级", "Grey", "not graded")

# Colours of the layers that have no grade, and of the base map.
BACKGROUND = "#F3F1EB"
DISTRICT_FILL = "#FCFBF7"
DISTRICT_LINE = "#6F6A60"
SUBDISTRICT_LINE = "#A7A195"
SHELTER = "#2E9D5B"
RESOURCE = "#7B4FD0"
DANGER = "#3B3B3B"

SUBDISTRICT_OUTLINES_FROM = 10   # zoom where the sub-district outlines appear


def grade_colour(grade: str) -> GradeColour:
    """The palette entry of `grade` (UNGRADED for anything else)."""
    for entry in PALETTE:
        if entry.grade == grade:
            return entry
    return UNGRADED


def legend() -> list[dict[str, str]]:
    """The palette as JSON: grade, colours and names, worst first, then 'not graded'."""
    return [{**asdict(g), "label_zh": g.label_zh, "label_en": g.label_en}
            for g in (*PALETTE, UNGRADED)]


def colour_by(prop: str, shade: str = "colour") -> list:
    """A MapLibre expression colouring by the grade held in property `prop`."""
    pairs: list[Any] = []
    for entry in PALETTE:
        pairs += [entry.grade, getattr(entry, shade)]
    return ["match", ["coalesce", ["get", prop], ""], *pairs, getattr(UNGRADED, shade)]


def _kind(*types: str) -> list:
    # geometry-type may say Multi* for features of several parts: match both spellings
    return ["match", ["geometry-type"], [*types, *(f"Multi{t}" for t in types)], True, False]


def _cell_radius(largest: int) -> list:
    """Circle radius growing with the square root of the cell's count (area ∝ count)."""
    return ["interpolate", ["linear"], ["sqrt", ["get", "total"]],
            1, 5, largest ** 0.5, 24]


def _cells(layer: Layer, style_id: str, largest: int) -> dict:
    return {
        "id": style_id, "type": "circle", "source": layer.name,
        "source-layer": cells_layer_name(layer), "maxzoom": individual_from(layer),
        "paint": {"circle-color": colour_by("worst_grade"), "circle-radius": _cell_radius(largest),
                  "circle-opacity": 0.85, "circle-stroke-color": "#FFFFFF",
                  "circle-stroke-width": 1},
    }


def _circle(layer: Layer, style_id: str, colour: Any, radius: Any, minzoom: int,
            stroke: Any = "#FFFFFF") -> dict:
    return {
        "id": style_id, "type": "circle", "source": layer.name, "source-layer": layer.name,
        "minzoom": minzoom,
        "paint": {"circle-color": colour, "circle-radius": radius,
                  "circle-stroke-color": stroke, "circle-stroke-width": 1},
    }


def _zoom_ramp(*stops: float) -> list:
    return ["interpolate", ["linear"], ["zoom"], *stops]


def _area_risk(layer: Layer) -> list[dict]:
    # choropleths of the area risk: present but hidden; the page switches them on
    return [{
        "id": layer.name.replace("_", "-") + "-fill", "type": "fill", "source": layer.name,
        "source-layer": layer.name, "layout": {"visibility": "none"},
        "paint": {"fill-color": colour_by("worst_grade"), "fill-opacity": 0.35,
                  "fill-outline-color": colour_by("worst_grade", "outline")},
    }]


def _layers_for(layer: Layer) -> list[dict]:
    """The style layers drawing `layer` (none for a layer the style does not know)."""
    name = layer.name
    start = individual_from(layer)
    if name == "districts":
        return [
            {"id": "districts-fill", "type": "fill", "source": name, "source-layer": name,
             "paint": {"fill-color": DISTRICT_FILL, "fill-opacity": 0.9}},
            {"id": "districts-line", "type": "line", "source": name, "source-layer": name,
             "layout": {"line-join": "round"},
             "paint": {"line-color": DISTRICT_LINE, "line-width": _zoom_ramp(6, 0.8, 14, 2.5)}},
        ]
    if name == "subdistricts":
        return [{"id": "subdistricts-line", "type": "line", "source": name, "source-layer": name,
                 "minzoom": SUBDISTRICT_OUTLINES_FROM, "layout": {"line-join": "round"},
                 "paint": {"line-color": SUBDISTRICT_LINE, "line-width": 0.8,
                           "line-dasharray": [3, 2]}}]
    if name == "risk_units":
        layers = [_cells(layer, "risk-units-cells", 200)] if start else []
        return layers + [
            {"id": "risk-units-fill", "type": "fill", "source": name, "source-layer": name,
             "minzoom": start, "filter": _kind("Polygon"),
             "paint": {"fill-color": colour_by("grade"), "fill-opacity": 0.45,
                       "fill-outline-color": colour_by("grade", "outline")}},
            {"id": "risk-units-line", "type": "line", "source": name, "source-layer": name,
             "minzoom": start, "filter": _kind("LineString"),
             "layout": {"line-cap": "round", "line-join": "round"},
             "paint": {"line-color": colour_by("grade"), "line-width": _zoom_ramp(11, 1.5, 16, 4)}},
            _circle(layer, "risk-units-point", colour_by("grade"), _zoom_ramp(11, 3, 16, 7),
                    start) | {"filter": _kind("Point")},
        ]
    if name == "monitoring_points":
        cells = _cells(layer, "monitoring-points-cells", 1500)
        cells["paint"] |= {"circle-opacity": 0.45, "circle-stroke-width": 0.5}
        layers = [cells] if start else []
        return layers + [_circle(layer, "monitoring-points", colour_by("grade"),
                                 _zoom_ramp(12, 2.5, 17, 5), start)]
    if name == "shelters":
        return [_circle(layer, "shelters", SHELTER, _zoom_ramp(10, 3, 16, 7), tile_minzoom(layer))]
    if name == "resources":
        return [_circle(layer, "resources", RESOURCE, _zoom_ramp(10, 3, 16, 6),
                        tile_minzoom(layer))]
    if name == "hidden_dangers":
        stroke = ["match", ["get", "level"], "major", PALETTE[0].colour, PALETTE[1].colour]
        return [_circle(layer, "hidden-dangers", DANGER, _zoom_ramp(11, 3, 16, 6),
                        tile_minzoom(layer), stroke=stroke)
                | {"filter": ["==", ["get", "status"], "open"]}]
    if name == "alarms":
        return [_circle(layer, "alarms", colour_by("grade"), _zoom_ramp(9, 4, 16, 9),
                        tile_minzoom(layer), stroke=colour_by("grade", "outline"))
                | {"filter": ["!=", ["get", "state"], "closed"]}]
    if name.startswith("area_risk_"):
        return _area_risk(layer)
    return []


# Drawing order, bottom to top.
# Monitoring points go under the risk units: there are seven times as many, mostly without
# an alarm (grey), and on top they would hide the units' four colours.
DRAW_ORDER = ("districts", "area_risk_districts", "area_risk_subdistricts", "area_risk_grid",
              "subdistricts", "monitoring_points", "risk_units", "shelters", "resources",
              "hidden_dangers", "alarms")


def style_document(layers: Iterable[Layer], base_url: str, name: str = "城市安全风险一张图") -> dict:
    """The MapLibre style (version 8) for the tiled `layers`, sources at `base_url`.

    Every source is the TileJSON of a layer (`/tiles/{layer}.json`); layers the style has
    no drawing for are left out, and so are their sources.
    """
    by_name = {layer.name: layer for layer in layers if has_tiles(layer)}
    style_layers: list[dict] = [{"id": "background", "type": "background",
                                 "paint": {"background-color": BACKGROUND}}]
    sources: dict[str, dict] = {}
    for layer_name in DRAW_ORDER:
        layer = by_name.get(layer_name)
        if layer is None:
            continue
        drawn = _layers_for(layer)
        if drawn:
            sources[layer.name] = {"type": "vector", "url": f"{base_url}/tiles/{layer.name}.json"}
            style_layers += drawn
    city = by_name.get("districts")
    style: dict[str, Any] = {"version": 8, "name": name}
    if city is not None and city.extent is not None:
        west, south, east, north = city.extent
        style |= {"center": [round((west + east) / 2, 5), round((south + north) / 2, 5)],
                  "zoom": 8}
    return style | {
        "metadata": {"onemap:legend": legend(),
                     "onemap:individual_from": {n: individual_from(layer)
                                                for n, layer in by_name.items()
                                                if individual_from(layer)}},
        "sources": sources,
        "layers": style_layers,
    }
