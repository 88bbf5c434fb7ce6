"""What a layer declaration is made of: `Layer`, its `Attribute`s and their `Reference`s.

The declarations themselves are in `layers.declarations`; `layers.catalogue` decides which
of them a database publishes. This module holds only the shapes both of them share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttributeType = Literal["string", "integer", "number", "boolean", "date", "datetime", "object"]
GeometryType = Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                       "MultiPolygon"]
BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (CRS84)
GeometryKind = Literal["point", "line", "polygon"]

# Columns that can filter features (`?grade=red,orange`) where a layer has them; the
# request names `district` for district_code (see QUERY_ALIASES).
QUERYABLE_COLUMNS = ("grade", "worst_grade", "district_code", "category", "domain", "kind",
                     "type", "class", "status", "state", "level")
QUERY_ALIASES = {"district": "district_code"}


@dataclass(frozen=True)
class Reference:
    """A reference table whose rows are the vocabulary of an attribute (read when built)."""

    table: str
    key: str
    name: str = "name"
    name_en: str = "name_en"


@dataclass(frozen=True)
class Attribute:
    """A column published as a feature property, with its labels for people.

    `values` is its vocabulary when it has one (empty: free values), `labels` the
    Chinese and English name of each value, as (value, zh, en). Vocabularies that live in
    a reference table are declared by `reference` and filled in by build_catalogue.
    """

    name: str
    type: AttributeType
    title: str      # Chinese label
    title_en: str
    values: tuple[str, ...] = ()
    labels: tuple[tuple[str, str, str], ...] = ()
    reference: Reference | None = None

    def label(self, value: str) -> tuple[str, str] | None:
        """(Chinese, English) names of `value`, None when not labelled."""
        for key, zh, en in self.labels:
            if key == value:
                return zh, en
        return None


@dataclass(frozen=True)
class Layer:
    """A layer: its declaration, plus `extent` and `row_count` once read from a database.

    `table` may name a table, a view or a materialized view: the catalogue reads all
    three alike. Its data version (`layer_versions`) keys the tile caches; the rows are read
    from `source` (`read_from`, else the table).
    """

    name: str                      # layer id in URLs: /collections/{name}
    table: str
    title: str                     # Chinese title
    title_en: str
    description: str
    id_column: str
    geometry_types: tuple[GeometryType, ...]
    attributes: tuple[Attribute, ...]
    minzoom: int
    maxzoom: int
    time_column: str | None = None
    geometry_column: str = "geom"
    # Type of the ids when the id column is not also a published attribute: without it
    # they are integers (a bigint key), and items/{id} refuses any other text.
    id_column_type: AttributeType | None = None
    # Publish one more collection per kind of geometry the layer holds (for QGIS).
    geometry_parts: bool = False
    # Set on such a part only: its features are those of this kind, from layer `parent`.
    geometry_kind: GeometryKind | None = None
    parent: str | None = None
    # A view that reads the table with what is kept beside it (the latest readings).
    read_from: str | None = None
    # Filled by build_catalogue; None in the declarations.
    extent: BBox | None = field(default=None, compare=False)
    row_count: int | None = field(default=None, compare=False)

    @property
    def source(self) -> str:
        """The relation the layer's rows are read from."""
        return self.read_from or self.table

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the layer reads: id, attributes and geometry."""
        names = [self.id_column, *(a.name for a in self.attributes), self.geometry_column]
        return tuple(dict.fromkeys(names))

    def attribute(self, name: str) -> Attribute:
        """The attribute called `name` (KeyError when the layer has none)."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)

    @property
    def id_type(self) -> AttributeType:
        """Type of the feature ids: the id column's attribute type, else the declared
        `id_column_type`, else integer."""
        for attribute in self.attributes:
            if attribute.name == self.id_column:
                return attribute.type
        return self.id_column_type or "integer"

    @property
    def queryables(self) -> tuple[Attribute, ...]:
        """The attributes that can filter this layer's features, in declaration order."""
        return tuple(a for a in self.attributes if a.name in QUERYABLE_COLUMNS)
