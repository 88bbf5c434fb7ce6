"""`GET /collections/{layer}/items` and `/items/{id}`, as in OGC API - Features - Part 1.

The handlers only orchestrate: parse the query string (`service.features.params`), run
one statement (`service.features.query`) and wrap what PostgreSQL wrote
(`service.features.encode`). The features' JSON text comes from the database as bytes
and goes to the client as it is.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from psycopg.adapt import Loader
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException

from layers.catalogue import Layer
from service.deps import BaseUrlDep, LayerDep, PoolDep, SettingsDep
from service.features import encode
from service.features.params import ItemsQuery, parse_item, parse_items
from service.features.query import (
    csv_query,
    item_query,
    page_query,
    selected_attributes,
    where_clause,
)
from service.features.schema import SCHEMA_MEDIA_TYPE, feature_schema

router = APIRouter(tags=["features"])

_INTEGER_ID = re.compile(r"-?[0-9]{1,18}")  # within bigint


class RawTextLoader(Loader):
    """Loads text columns as the bytes PostgreSQL sent: the features are never decoded."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


# Described once in the API document's components (service.features.openapi), where the
# limit's default and maximum follow the settings.
ITEMS_PARAMETER_REFS = [_ref(n) for n in ("limit", "offset", "bbox", "bbox-crs", "datetime",
                                          "properties", "f", "crs")]
_ITEMS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A GeoJSON FeatureCollection (or CSV with f=csv)",
          "content": {encode.GEOJSON: {}, encode.CSV: {}}},
    400: {"description": "A bad parameter; the message names it"},
    404: {"description": "No such layer"},
}


async def _fetch_page(pool: AsyncConnectionPool, layer: Layer, items: ItemsQuery) -> tuple:
    where = where_clause(layer, items.bbox, items.interval, items.filters)
    query, params = page_query(layer, where, items.limit, items.offset, items.properties)
    async with pool.connection() as conn:
        cursor = conn.cursor()
        cursor.adapters.register_loader("text", RawTextLoader)
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def _csv_page(pool: AsyncConnectionPool, layer: Layer, items: ItemsQuery,
                    base_url: str, raw_query: str) -> Response:
    where = where_clause(layer, items.bbox, items.interval, items.filters)
    query, params = csv_query(layer, where, items.limit, items.offset, items.properties)
    async with pool.connection() as conn:
        rows = await (await conn.execute(query, params)).fetchall()
    has_next = len(rows) > items.limit  # the query reads one row more to tell
    links = encode.items_links(base_url, layer, raw_query, "csv", items.limit, items.offset,
                               has_next)
    header = encode.csv_header(a.name for a in selected_attributes(layer, items.properties))
    headers = {"Content-Disposition": encode.attachment(f"{layer.name}.csv")}
    if link := encode.link_header(links):
        headers["Link"] = link
    return Response(encode.csv_document(header, rows[: items.limit]),
                    media_type=encode.CSV_WITH_CHARSET, headers=headers)


@router.get("/collections/{layer}/items", summary="Features of a layer",
            response_class=Response, responses=_ITEMS_RESPONSES,
            openapi_extra={"parameters": ITEMS_PARAMETER_REFS})
async def get_items(request: Request, layer: LayerDep, pool: PoolDep, settings: SettingsDep,
                    base_url: BaseUrlDep) -> Response:
    """One page of features, ordered by id, as GeoJSON or CSV.

    Besides the standard parameters, each attribute filter of the layer is a parameter
    (`grade=red,orange`, `district=610113`, ...): a comma list matches any of its values.
    """
    items = parse_items(request.query_params.multi_items(), layer,
                        settings.api.default_limit, settings.api.max_limit)
    raw_query = request.url.query
    if items.format == "csv":
        return await _csv_page(pool, layer, items, base_url, raw_query)
    matched, returned, features = await _fetch_page(pool, layer, items)
    links = encode.items_links(base_url, layer, raw_query, "json", items.limit, items.offset,
                               has_next=items.offset + returned < matched)
    return Response(encode.feature_collection(features, matched, returned, links),
                    media_type=encode.GEOJSON)


def feature_key(layer: Layer, feature_id: str) -> int | str:
    """The id as the layer's id column holds it; 404 when it cannot be one of its ids."""
    if layer.id_type != "integer":
        return feature_id
    if not _INTEGER_ID.fullmatch(feature_id):
        raise HTTPException(404, f"no feature {feature_id!r} in layer {layer.name!r}: "
                                 "its ids are integers")
    return int(feature_id)


@router.get("/collections/{layer}/items/{feature_id}", summary="One feature",
            response_class=Response,
            responses={200: {"description": "A GeoJSON Feature", "content": {encode.GEOJSON: {}}},
                       404: {"description": "No such layer or feature"}},
            openapi_extra={"parameters": [_ref("f-item")]})
async def get_item(request: Request, layer: LayerDep, pool: PoolDep, base_url: BaseUrlDep,
                   feature_id: str = Path(description="The feature's id")) -> Response:
    """One feature with its links; for risk units, the grade and its explanation."""
    parse_item(request.query_params.multi_items())
    key = feature_key(layer, feature_id)
    links = orjson.dumps(encode.item_links(base_url, layer, feature_id)).decode()
    query, params = item_query(layer, key, links)
    async with pool.connection() as conn:
        cursor = conn.cursor()
        cursor.adapters.register_loader("text", RawTextLoader)
        row = await (await cursor.execute(query, params)).fetchone()
    if row is None:
        raise HTTPException(404, f"no feature {feature_id!r} in layer {layer.name!r}")
    return Response(row[0], media_type=encode.GEOJSON)


@router.get("/collections/{layer}/schema", summary="The JSON Schema of a layer's features",
            response_class=Response,
            responses={200: {"description": "JSON Schema", "content": {SCHEMA_MEDIA_TYPE: {}}}})
async def get_schema(layer: LayerDep, base_url: BaseUrlDep) -> Response:
    """Each property's type, labels and vocabulary (GDAL types its fields from it)."""
    url = f"{encode.collection_url(base_url, layer)}/schema"
    return Response(orjson.dumps(feature_schema(layer, url)), media_type=SCHEMA_MEDIA_TYPE)
