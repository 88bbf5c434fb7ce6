"""The JSON Schema of a collection's features (`/collections/{layer}/schema`).

Clients that build a layer from the first page of features (GDAL, QGIS) guess each
field's type from the values they see, and a field that is empty there becomes text.
GDAL's OAPIF driver reads this schema instead when the collection links it with
`rel=describedby` (type `application/schema+json`), so every field gets its declared type.
Types are single names, not `[type, "null"]`: GDAL reads only a single type name.
"""

from __future__ import annotations

from typing import Any

from layers.catalogue import Attribute, Layer

SCHEMA_MEDIA_TYPE = "application/schema+json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_GEOMETRY_TYPES = {"Point": "point", "LineString": "linestring", "Polygon": "polygon",
                   "MultiPoint": "multipoint", "MultiLineString": "multilinestring",
                   "MultiPolygon": "multipolygon"}


def attribute_schema(attribute: Attribute) -> dict[str, Any]:
    """One property: its JSON type (and format), labels and vocabulary."""
    schema: dict[str, Any] = {"title": attribute.title, "description": attribute.title_en}
    if attribute.type in ("date", "datetime"):
        schema |= {"type": "string", "format": "date" if attribute.type == "date" else "date-time"}
    else:
        schema["type"] = attribute.type  # string, integer, number, boolean, object
    if attribute.values:
        schema["enum"] = list(attribute.values)
    return schema


def feature_schema(layer: Layer, url: str) -> dict[str, Any]:
    """The schema of one GeoJSON Feature of `layer`."""
    formats = sorted({f"geometry-{_GEOMETRY_TYPES[t]}" for t in layer.geometry_types})
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": url,
        "title": f"{layer.title} · {layer.title_en}",
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer" if layer.id_type == "integer" else "string"},
            "geometry": {"type": "object", "format": formats[0] if len(formats) == 1
                         else "geometry-any"},
            "properties": {
                "type": "object",
                "properties": {a.name: attribute_schema(a) for a in layer.attributes},
            },
        },
    }
