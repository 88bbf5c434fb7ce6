"""How the `fire_coverage` layer is drawn (read by `layers.style`).

Sober, and kept apart from the four risk grades and the planners' greens, magentas and
violets: the union of the stations' reach as a light slate-teal wash with an outline (where
a crew arrives in time), the built-up land outside it in a dark ochre (where one does not:
the warning), and from zoom 11 each station's own reach as a thin outline. Hidden at first:
the page shows them on request.
"""

from __future__ import annotations

from layers.catalogue import Layer
from layers.tiling import tile_minzoom

REACHED = "#4A7C8C"          # the union: fill (faint) and outline
REACHED_LINE = "#2F5866"
OUTSIDE = "#8C510A"          # built-up land outside the reach
OUTSIDE_LINE = "#543005"
STATIONS_FROM = 11           # zoom where each station's reach is outlined


def _legend_entry(value: str, colour: str, zh: str, en: str) -> dict:
    return {"value": value, "colour": colour, "label_zh": zh, "label_en": en}


def fire_legend() -> dict:
    """The layer's legend, for the style's metadata."""
    return {"label_zh": "消防5分钟可达范围", "label_en": "Fire crews within 5 minutes",
            "kinds": [_legend_entry("union", REACHED, "5分钟内可达", "reached within 5 min"),
                      _legend_entry("outside", OUTSIDE, "可达范围外的建成区",
                                    "built-up land outside the reach"),
                      _legend_entry("station", REACHED_LINE, "单站可达范围（缩放 ≥ 11）",
                                    "one station's reach (zoom ≥ 11)")]}


def fire_layers(layer: Layer) -> list[dict]:
    """The style layers of the fire coverage, hidden until shown."""
    common = {"source": layer.name, "source-layer": layer.name,
              "minzoom": tile_minzoom(layer), "layout": {"visibility": "none"}}

    def kind(value: str) -> list:
        return ["==", ["get", "kind"], value]

    width = ["interpolate", ["linear"], ["zoom"], 8, 0.6, 14, 1.6]
    return [
        {"id": "fire-coverage-union-fill", "type": "fill", **common, "filter": kind("union"),
         "paint": {"fill-color": REACHED, "fill-opacity": 0.14}},
        {"id": "fire-coverage-union-line", "type": "line", **common, "filter": kind("union"),
         "paint": {"line-color": REACHED_LINE, "line-width": width, "line-opacity": 0.9}},
        {"id": "fire-coverage-outside-fill", "type": "fill", **common,
         "filter": kind("outside"),
         "paint": {"fill-color": OUTSIDE, "fill-opacity": 0.45}},
        {"id": "fire-coverage-outside-line", "type": "line", **common,
         "filter": kind("outside"),
         "paint": {"line-color": OUTSIDE_LINE, "line-width": 0.7, "line-opacity": 0.8}},
        {"id": "fire-coverage-station-line", "type": "line", **common,
         "minzoom": max(STATIONS_FROM, common["minzoom"]), "filter": kind("station"),
         "paint": {"line-color": REACHED_LINE, "line-width": 0.8, "line-opacity": 0.6,
                   "line-dasharray": [2, 2]}},
    ]

