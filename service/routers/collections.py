"""`GET /collections` and `GET /collections/{layer}`, as in OGC API - Features - Part 1.

Request parsing is done by the dependencies (the layer through the catalogue); the
documents are encoded by the functions below, which need no request, so they are easy
to test and to reuse from the landing page or the map page. They run no query: with the
database down, a collection already in the catalogue still answers.

Besides the standard members, each collection states `itemCount`, its number of features
as counted when the catalogue was last built (the planner's estimate for large tables;
a geometry part counts only its kind), and links its JSON Schema with `rel=describedby`,
from which GDAL types the fields instead of guessing them from the first features.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter

from layers.catalogue import BBox, Catalogue, Layer
from service.deps import BaseUrlDep, CatalogueDep, LayerDep
from service.features.schema import SCHEMA_MEDIA_TYPE

router = APIRouter(tags=["collections"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
JSON = "application/json"
GEOJSON = "application/geo+json"
BBOX_DECIMALS = 6  # ~0.1 m: more is noise from the float boxes PostGIS keeps


def _outward(bbox: BBox) -> list[float]:
    """The bbox rounded to BBOX_DECIMALS without shrinking it (mins down, maxes up)."""
    scale = 10 ** BBOX_DECIMALS
    west, south, east, north = bbox
    return [math.floor(west * scale) / scale, math.floor(south * scale) / scale,
            math.ceil(east * scale) / scale, math.ceil(north * scale) / scale]


def collection_document(layer: Layer, base_url: str) -> dict[str, Any]:
    """One collection: id, titles, CRS, extent (when the layer has rows), item count, links."""
    href = f"{base_url}/collections/{layer.name}"
    document: dict[str, Any] = {
        "id": layer.name,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": [CRS84],
    }
    if layer.extent is not None:  # an empty layer has no extent to state
        document["extent"] = {"spatial": {"bbox": [_outward(layer.extent)], "crs": CRS84}}
    if layer.row_count is not None:  # None only for a layer not read from a database
        document["itemCount"] = layer.row_count
    document["links"] = [
        {"href": href, "rel": "self", "type": JSON, "title": layer.title_en},
        {"href": f"{href}/items", "rel": "items", "type": GEOJSON,
         "title": f"{layer.title_en}: features"},
        {"href": f"{href}/schema", "rel": "describedby", "type": SCHEMA_MEDIA_TYPE,
         "title": f"{layer.title_en}: schema of the features"},
    ]
    return document


def collections_document(catalogue: Catalogue, base_url: str) -> dict[str, Any]:
    """The list of collections: one document per published layer, and a self link."""
    return {
        "links": [{"href": f"{base_url}/collections", "rel": "self", "type": JSON,
                   "title": "Collections"}],
        "collections": [collection_document(layer, base_url) for layer in catalogue],
    }


@router.get("/collections", summary="The layers of the one map")
async def list_collections(catalogue: CatalogueDep, base_url: BaseUrlDep):
    """Every published layer as an OGC API - Features collection."""
    return collections_document(catalogue, base_url)


@router.get("/collections/{layer}", summary="One layer",
            responses={404: {"description": "No such layer; the message lists the valid ones"}})
async def get_collection(layer: LayerDep, base_url: BaseUrlDep):
    """One layer's collection document (404 naming the valid layers when unknown)."""
    return collection_document(layer, base_url)
