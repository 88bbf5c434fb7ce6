"""`GET /styles/onemap.json`: the MapLibre style of the one map; `GET /styles/legend.json`."""

from __future__ import annotations

from fastapi import APIRouter

from layers.style import legend, style_document
from layers.tiling import has_tiles
from service.deps import BaseUrlDep, CatalogueDep

router = APIRouter(tags=["styles"])


@router.get("/styles/onemap.json", summary="The map style (MapLibre, version 8)")
async def get_style(catalogue: CatalogueDep, base_url: BaseUrlDep) -> dict:
    """Districts as the base map, then area risk and the shelter area per resident (hidden),
    shelter gaps (hidden), risk units, shelters, resources, monitoring points, hidden
    dangers and alarms, from this service's vector tiles and, for the shelter area per
    resident, the GeoJSON of `/analysis/shelters`.

    No text layers (they would need a font server); the legends are in `metadata`.
    """
    return style_document([layer for layer in catalogue if has_tiles(layer)], base_url)


@router.get("/styles/legend.json", summary="The grade colours and their names")
async def get_legend() -> list[dict[str, str]]:
    """Red, orange, yellow, blue and 'not graded': colours and Chinese and English names."""
    return legend()
