"""The four-colour palette of risk grades and the MapLibre style of the one map.

The palette is defined here once, with the Chinese and English names of the grades, so
the map style, the page's legend and any chart use the same colours and words
(`legend()` gives it as JSON). The style draws the districts as the base map (a light
fill and outlines: no online base map is needed) and the layers of the one map on top,
from the service's vector tiles. It has no text layers: those need glyphs from a font
server, which an intranet does not have; the page writes the district names as HTML.

The planners' layers have colours of their own, kept apart from the four grades so that
nobody reads them as risk: shelters in the greens of shelter signs, by class; the shelter
area per resident (a choropleth of `GET /analysis/shelters` as GeoJSON) in magenta below
the standard and green above it; residents without a shelter place in violet hatching.
Their legends are in the style's metadata (`onemap:legends`), the hatching's pattern too
(`onemap:patterns`: the page draws it, as there is no sprite). The commanders' fire-station
reach has colours of its own as well (`layers.commander.fire_style`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from layers.catalogue import Layer
from layers.commander.fire_style import fire_layers, fire_legend
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
RESOURCE = "#7B4FD0"
DANGER = "#3B3B3B"

SUBDISTRICT_OUTLINES_FROM = 10   # zoom where the sub-district outlines appear


@dataclass(frozen=True)
class Swatch:
    """A colour of a legend that is not a grade, and what it stands for."""

    value: str
    colour: str
    label_zh: str
    label_en: str


# Shelter classes of GB 51143-2015: greens (the colour of shelter signs), darker for larger.
SHELTER_CLASSES: tuple[Swatch, ...] = (
    Swatch("emergency", "#43A047", "紧急避难场所", "Emergency"),
    Swatch("fixed", "#1B6E35", "固定避难场所", "Fixed"),
    Swatch("central", "#0A3D1E", "中心避难场所", "Central"),
)
SHELTER_OTHER = "#6E8B74"          # a class the legend does not know


@dataclass(frozen=True)
class ProvisionBin:
    """A class of the shelter-area choropleth: area per resident as a share of the standard."""

    meets: bool                # meets the standard (the analysis' `meets_standard`)
    low: float                 # share of the standard, from (inclusive) ...
    high: float | None         # ... to (exclusive); None: no upper bound
    colour: str


# Magenta below the standard, green above it (ColorBrewer PiYG, safe for colour blindness),
# darker the further from it; neither can pass for a grade's red, orange, yellow or blue.
SHELTER_PROVISION: tuple[ProvisionBin, ...] = (
    ProvisionBin(False, 0.0, 0.5, "#8E0152"),
    ProvisionBin(False, 0.5, 0.8, "#C51B7D"),
    ProvisionBin(False, 0.8, None, "#E592C0"),   # up to the standard itself
    ProvisionBin(True, 1.0, 1.5, "#B8E186"),
    ProvisionBin(True, 1.5, 2.0, "#6BAE3A"),
    ProvisionBin(True, 2.0, None, "#33701A"),
)
NO_RESIDENTS = Swatch("", "#C9C6BE", "无常住人口", "No residents")
PROVISION_OPACITY = 0.62
PROVISION_SUBDISTRICTS_FROM = SUBDISTRICT_OUTLINES_FROM
PROVISION_LAYER = "shelter_provision"   # the page's name for the choropleth's style layers
PROVISION_DATA = {"districts": "/analysis/shelters?format=geojson",
                  "subdistricts": "/analysis/shelters?level=subdistricts&format=geojson"}

# Residents without a shelter place within walking range: violet hatching (it must read over
# the choropleth's solid fills), stronger where more of them live on a km² (a patch's total
# would darken large rural patches of few people). There is no sprite on an intranet: the
# page draws the pattern named here from `onemap:patterns`; a client that does not, draws
# the outlines only.
SHELTER_GAP = "#4E2382"
SHELTER_GAP_LINE = "#3A1766"
SHELTER_GAP_PATTERN = "onemap-hatch-shelter-gaps"
PATTERNS = {SHELTER_GAP_PATTERN: {"colour": SHELTER_GAP, "size": 7, "width": 2}}  # px
SHELTER_GAP_DENSITY = ((50, 0.35), (1000, 0.65), (10000, 1.0))   # residents per km², opacity


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


def _shelters(layer: Layer) -> list[dict]:
    """Shelters coloured by class, the circle's area growing with the effective area."""
    pairs: list[Any] = []
    for entry in SHELTER_CLASSES:
        pairs += [entry.value, entry.colour]
    colour = ["match", ["coalesce", ["get", "class"], ""], *pairs, SHELTER_OTHER]
    root = ["sqrt", ["to-number", ["coalesce", ["get", "effective_area_m2"], 2000]]]

    def size(small: float, large: float) -> list:  # 1,000 m² to 400,000 m² (a central one)
        return ["interpolate", ["linear"], root, 1000 ** 0.5, small, 400_000 ** 0.5, large]

    circle = _circle(layer, "shelters", colour,
                     ["interpolate", ["linear"], ["zoom"], 10, size(2.5, 9), 16, size(5, 18)],
                     tile_minzoom(layer))
    circle["paint"] |= {"circle-stroke-width": 1.2, "circle-opacity": 0.92}
    return [circle]


def _shelter_gaps(layer: Layer) -> list[dict]:
    density = ["/", ["to-number", ["get", "residents"], 0],
               ["max", ["to-number", ["get", "area_km2"], 1], 0.01]]
    ramp = [v for stop in SHELTER_GAP_DENSITY for v in stop]
    common = {"source": layer.name, "source-layer": layer.name,
              "minzoom": tile_minzoom(layer), "layout": {"visibility": "none"}}
    return [
        {"id": "shelter-gaps-fill", "type": "fill", **common,
         "paint": {"fill-pattern": SHELTER_GAP_PATTERN,
                   "fill-opacity": ["interpolate", ["linear"], density, *ramp]}},
        {"id": "shelter-gaps-line", "type": "line", **common,
         "layout": {**common["layout"], "line-join": "round"},
         "paint": {"line-color": SHELTER_GAP_LINE, "line-width": _zoom_ramp(8, 0.6, 14, 1.6),
                   "line-dasharray": [2, 1]}},
    ]


def _candidate_sites(layer: Layer) -> list[dict]:
    circle = _circle(layer, "candidate-sites", "#FFFFFF", _zoom_ramp(10, 3, 16, 7),
                     tile_minzoom(layer), stroke=SHELTER_CLASSES[1].colour)
    circle["paint"]["circle-stroke-width"] = 2
    return [circle]


def provision_colour() -> list:
    """The choropleth's colour: pass or fail, shaded by area per resident over the standard."""
    per_resident = ["get", "area_per_resident_m2"]
    share = ["/", ["to-number", per_resident], ["to-number", ["get", "standard_m2"]]]

    def steps(meets: bool) -> list:
        bins = [b for b in SHELTER_PROVISION if b.meets == meets]
        expression: list[Any] = ["step", share, bins[0].colour]
        for b in bins[1:]:
            expression += [b.low, b.colour]
        return expression

    return ["case", ["!=", ["typeof", per_resident], "number"], NO_RESIDENTS.colour,
            ["==", ["get", "meets_standard"], True], steps(True), steps(False)]


def _shelter_provision(base_url: str) -> tuple[dict[str, dict], list[dict]]:
    """The choropleth's GeoJSON sources and style layers: districts, then from zoom 10 the
    sub-districts. Hidden: the page fetches the data when someone shows them."""
    sources, layers = {}, []
    for level, zooms, width in (("districts", {"maxzoom": PROVISION_SUBDISTRICTS_FROM}, 1.2),
                                ("subdistricts", {"minzoom": PROVISION_SUBDISTRICTS_FROM}, 0.7)):
        source = f"{PROVISION_LAYER}_{level}"
        sources[source] = {"type": "geojson", "data": base_url + PROVISION_DATA[level]}
        common = {"source": source, "metadata": {"onemap:layer": PROVISION_LAYER}, **zooms}
        layers += [
            {"id": f"shelter-provision-{level}", "type": "fill", **common,
             "layout": {"visibility": "none"},
             "paint": {"fill-color": provision_colour(), "fill-opacity": PROVISION_OPACITY}},
            {"id": f"shelter-provision-{level}-line", "type": "line", **common,
             "layout": {"visibility": "none", "line-join": "round"},
             "paint": {"line-color": "#FFFFFF", "line-width": width, "line-opacity": 0.8}},
        ]
    return sources, layers


def planners_legends() -> dict[str, Any]:
    """Legends of the planners' layers (not grades): by style layer group, for the page."""
    return {
        "shelters": [asdict(s) for s in SHELTER_CLASSES],
        PROVISION_LAYER: {
            "bins": [asdict(b) for b in SHELTER_PROVISION],
            "no_residents": asdict(NO_RESIDENTS),
            "standard_property": "standard_m2",
            "label_zh": "人均避难场所面积（平方米/人）",
            "label_en": "Shelter area per resident (m²)",
            "meets_zh": "达标", "meets_en": "meets the standard",
            "fails_zh": "未达标", "fails_en": "below the standard",
        },
        "shelter_gaps": {
            "colour": SHELTER_GAP, "outline": SHELTER_GAP_LINE,
            "pattern": SHELTER_GAP_PATTERN,
            "stops": [{"density": d, "opacity": o} for d, o in SHELTER_GAP_DENSITY],
            "label_zh": "无避难位置居民（人/平方千米）",
            "label_en": "Residents without a shelter place (per km²)",
        },
        "fire_coverage": fire_legend(),
    }


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
        return _shelters(layer)
    if name == "shelter_gaps":
        return _shelter_gaps(layer)
    if name == "candidate_sites":
        return _candidate_sites(layer)
    if name == "fire_coverage":
        return fire_layers(layer)
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
# The shelter-area choropleth (not a tiled layer) goes right above the districts.
DRAW_ORDER = ("districts", PROVISION_LAYER, "area_risk_districts", "area_risk_subdistricts",
              "area_risk_grid", "subdistricts", "shelter_gaps", "fire_coverage",
              "monitoring_points",
              "risk_units", "shelters", "candidate_sites", "resources", "hidden_dangers",
              "alarms")


def style_document(layers: Iterable[Layer], base_url: str, name: str = "城市安全风险一张图") -> dict:
    """The MapLibre style (version 8) for the tiled `layers`, sources at `base_url`.

    Every source is the TileJSON of a layer (`/tiles/{layer}.json`); layers the style has
    no drawing for are left out, and so are their sources. Where there are districts and
    shelters, the shelter-area choropleth comes with two GeoJSON sources (the analysis).
    """
    by_name = {layer.name: layer for layer in layers if has_tiles(layer)}
    style_layers: list[dict] = [{"id": "background", "type": "background",
                                 "paint": {"background-color": BACKGROUND}}]
    sources: dict[str, dict] = {}
    for layer_name in DRAW_ORDER:
        if layer_name == PROVISION_LAYER:
            if {"districts", "shelters"} <= set(by_name):
                provision_sources, provision_layers = _shelter_provision(base_url)
                sources |= provision_sources
                style_layers += provision_layers
            continue
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
        "metadata": {"onemap:legend": legend(), "onemap:legends": planners_legends(),
                     "onemap:patterns": PATTERNS,
                     "onemap:individual_from": {n: individual_from(layer)
                                                for n, layer in by_name.items()
                                                if individual_from(layer)}},
        "sources": sources,
        "layers": style_layers,
    }
