"""TileJSON 3.0.0 documents of the tiled layers."""

from __future__ import annotations

import math
from typing import Any

from layers.catalogue import BBox, Layer
from layers.tiling import (
    CELL_FIELDS,
    cells_layer_name,
    field_type,
    individual_from,
    integer_id,
    tile_attributes,
    tile_maxzoom,
    tile_minzoom,
    tiling_of,
)
from service.tiles.grid import MAX_LATITUDE, fitting_zoom

WORLD: BBox = (-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE)
ATTRIBUTION = "城市安全风险一张图 · City-safety one map"


def _outward(bbox: BBox, decimals: int = 6) -> list[float]:
    scale = 10 ** decimals
    west, south, east, north = bbox
    return [math.floor(west * scale) / scale, math.floor(south * scale) / scale,
            math.ceil(east * scale) / scale, math.ceil(north * scale) / scale]


def tile_url(layer: Layer, base_url: str) -> str:
    return f"{base_url}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt"


def tilejson_url(layer: Layer, base_url: str) -> str:
    return f"{base_url}/tiles/{layer.name}.json"


def vector_layers(layer: Layer) -> list[dict[str, Any]]:
    """The layers inside the tiles of `layer`: its features, and its cells below their zoom."""
    minzoom, maxzoom, start = tile_minzoom(layer), tile_maxzoom(layer), individual_from(layer)
    fields = {a.name: field_type(a) for a in tile_attributes(layer)}
    identity = (f" Feature id: {layer.id_column}." if integer_id(layer) else "")
    found = [{"id": layer.name, "description": f"{layer.title} · {layer.title_en}.{identity}",
              "minzoom": max(minzoom, start), "maxzoom": maxzoom, "fields": fields}]
    if start > minzoom:
        n = tiling_of(layer).cells_per_side
        found.append({
            "id": cells_layer_name(layer),
            "description": f"{layer.title}（聚合）· {layer.title_en}, aggregated below zoom {start}: "
                           f"one point per grid cell ({n} x {n} a tile) with the count of each "
                           "grade, the total and the worst grade.",
            "minzoom": minzoom, "maxzoom": start - 1, "fields": dict(CELL_FIELDS)})
    return found


def tilejson_document(layer: Layer, base_url: str, fallback_bounds: BBox | None = None
                      ) -> dict[str, Any]:
    """TileJSON 3.0.0 of `layer`; an empty layer takes `fallback_bounds` (the city)."""
    bounds = layer.extent or fallback_bounds or WORLD
    minzoom, maxzoom = tile_minzoom(layer), tile_maxzoom(layer)
    west, south, east, north = bounds
    centre_zoom = max(minzoom, min(maxzoom, fitting_zoom(bounds)))
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": f"{layer.title} · {layer.title_en}. {layer.description}",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [tile_url(layer, base_url)],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": _outward(bounds),
        "center": [round((west + east) / 2, 6), round((south + north) / 2, 6), centre_zoom],
        "vector_layers": vector_layers(layer),
        # not TileJSON: the zoom from which the tiles hold single features (0: always)
        "individual_from": individual_from(layer),
    }
