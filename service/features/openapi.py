"""The API description served at `/api`: FastAPI's document, made into what clients read.

- OpenAPI 3.0 (the OGC `oas30` class; QGIS and GDAL ask for version 3.0): FastAPI writes
  3.1, so nullable unions are rewritten and the version set;
- `components/parameters` with `limit`'s default and maximum from the settings: QGIS
  reads them there to choose its page size, GDAL from the items path;
- one items path per collection, listing its attribute filters, from which QGIS and GDAL
  learn which filters the server evaluates;
- 400 (what this API answers to a bad parameter) in place of FastAPI's 422.
"""

from __future__ import annotations

import copy
from typing import Any

from layers.catalogue import QUERY_ALIASES, Catalogue, Layer
from service.features.params import CRS84, FORMATS
from service.settings import ApiSettings

OPENAPI_VERSION = "3.0.3"
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
_ERROR_SCHEMA = {"type": "object", "required": ["code", "description"],
                 "properties": {"code": {"type": "string"}, "description": {"type": "string"},
                                "parameter": {"type": "string"}}}
_ERROR_RESPONSE = {"description": "A bad parameter; the message names it",
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/Exception"}}}}


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "description": description, "schema": schema, **extra}


def parameter_components(api: ApiSettings) -> dict[str, Any]:
    """The shared query parameters of the feature requests."""
    return {
        "limit": _query("limit", f"Features per page; larger values are capped at "
                                 f"{api.max_limit}.",
                        {"type": "integer", "minimum": 1, "maximum": api.max_limit,
                         "default": api.default_limit}),
        "offset": _query("offset", "Matching features to skip (pages follow the id order).",
                         {"type": "integer", "minimum": 0, "default": 0}),
        "bbox": _query("bbox", "minx,miny,maxx,maxy (or 6 numbers with heights), CRS84 "
                               "unless bbox-crs says EPSG:4326 (then latitude first).",
                       {"type": "array", "minItems": 4, "maxItems": 6,
                        "items": {"type": "number"}}),
        "bbox-crs": _query("bbox-crs", "CRS of bbox.",
                           {"type": "string", "format": "uri", "default": CRS84,
                            "enum": [CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326"]}),
        "datetime": _query("datetime", "An RFC 3339 instant or interval (a/b, ../b, a/..), "
                                       "on the layer's time attribute.", {"type": "string"}),
        "properties": _query("properties", "Comma list of the properties to return.",
                             {"type": "array", "items": {"type": "string"}}),
        "f": _query("f", "Output format.", {"type": "string", "enum": list(FORMATS),
                                            "default": FORMATS[0]}),
        "f-item": _query("f", "Output format.", {"type": "string", "enum": ["json"],
                                                 "default": "json"}),
        "crs": _query("crs", "CRS of the answer: CRS84 only.",
                      {"type": "string", "format": "uri", "enum": [CRS84], "default": CRS84}),
    }


def _filter_parameters(layer: Layer) -> list[dict[str, Any]]:
    """The layer's attribute filters, as form parameters with their vocabulary."""
    aliases = {column: alias for alias, column in QUERY_ALIASES.items()}
    parameters = []
    for attribute in layer.queryables:
        schema: dict[str, Any] = {"type": "string"}
        if attribute.values:
            schema["enum"] = list(attribute.values)
        for name in (attribute.name, aliases.get(attribute.name)):
            if name:
                parameters.append(_query(name, f"{attribute.title} / {attribute.title_en}: "
                                               "a comma list matches any of its values.", schema))
    return parameters


def collection_items_path(layer: Layer) -> dict[str, Any]:
    """The items path of one collection, with exactly the parameters it takes."""
    refs = [n for n in ("limit", "offset", "bbox", "bbox-crs", "datetime", "properties", "f", "crs")
            if n != "datetime" or layer.time_column]
    return {"get": {
        "tags": ["features"],
        "summary": f"{layer.title} · {layer.title_en}",
        "operationId": f"get_items_{layer.name}",
        "parameters": [{"$ref": f"#/components/parameters/{n}"} for n in refs]
                      + _filter_parameters(layer),
        "responses": {"200": {"description": "A GeoJSON FeatureCollection (or CSV with f=csv)",
                              "content": {"application/geo+json": {}, "text/csv": {}}},
                      "400": _ERROR_RESPONSE},
    }}


def _nullable_to_30(node: Any) -> Any:
    """3.1 `anyOf: [X, {type: null}]` -> 3.0 `X` with `nullable: true`, everywhere."""
    if isinstance(node, list):
        return [_nullable_to_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:  # before the members change
        rest = [o for o in options if o != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1:
            node = {**rest[0], **node}
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    if node.get("type") == "null":  # a lone null schema has no 3.0 spelling
        node = {k: v for k, v in node.items() if k != "type"} | {"nullable": True}
    return {key: _nullable_to_30(value) for key, value in node.items()}


def api_document(generated: dict[str, Any], catalogue: Catalogue, api: ApiSettings,
                 base_url: str) -> dict[str, Any]:
    """The document for `/api` from FastAPI's `app.openapi()` (left unchanged)."""
    document = _nullable_to_30(copy.deepcopy(generated))
    document["openapi"] = OPENAPI_VERSION
    document["servers"] = [{"url": base_url}]
    components = document.setdefault("components", {})
    components.setdefault("parameters", {}).update(parameter_components(api))
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Exception"] = _ERROR_SCHEMA
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None or operation.get("parameters"):
                responses.setdefault("400", _ERROR_RESPONSE)
    for layer in catalogue:
        document["paths"][f"/collections/{layer.name}/items"] = collection_items_path(layer)
    return document
