"""The layer catalogue: which of the declared layers a database has, and what it holds.

The layers are declared once in `layers.declarations` (of the shapes in `layers.layer`).
`build_catalogue` keeps the declared layers whose table, view or materialized view
exists and adds what only the database knows: the extent, the number of rows and the
vocabularies of reference tables.

A layer holding several kinds of geometry can also be published as one collection per
kind (`geometry_parts=True`): clients such as QGIS give a layer a single geometry type,
so a mixed collection would show only one kind there. The parts are derived from the
declaration (`geometry_parts_of`), never declared by hand; `layer_scope` is the
condition that keeps a part to its kind.

The names other modules import from here (the declarations and their shapes included)
stay importable from this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from geodata.errors import UnknownLayerError
from layers.declarations import LAYERS
from layers.layer import (
    QUERY_ALIASES,
    QUERYABLE_COLUMNS,
    Attribute,
    AttributeType,
    BBox,
    GeometryKind,
    GeometryType,
    Layer,
    Reference,
)

__all__ = [
    "EXACT_BELOW_ROWS", "GEOMETRY_DIMENSIONS", "LAYERS", "QUERYABLE_COLUMNS",
    "QUERY_ALIASES", "Attribute", "AttributeType", "BBox", "Catalogue", "GeometryKind",
    "GeometryType", "Layer", "Reference", "build_catalogue", "geometry_parts_of",
    "layer_scope", "with_geometry_parts",
]

logger = logging.getLogger(__name__)

# ST_Dimension of each kind: Multi* geometries fall in the kind of their members.
GEOMETRY_DIMENSIONS: dict[GeometryKind, int] = {"point": 0, "line": 1, "polygon": 2}
_KIND_TYPES: dict[GeometryKind, tuple[GeometryType, ...]] = {
    "point": ("Point", "MultiPoint"),
    "line": ("LineString", "MultiLineString"),
    "polygon": ("Polygon", "MultiPolygon"),
}
_KIND_TITLES: dict[GeometryKind, tuple[str, str]] = {
    "point": ("点", "points"), "line": ("线", "lines"), "polygon": ("面", "polygons"),
}

# Above this many rows (PostgreSQL's estimate), the extent comes from the planner's
# statistics and the count is the estimate: exact ones would scan the whole table.
EXACT_BELOW_ROWS = 100_000


def layer_scope(layer: Layer) -> tuple[sql.Composable, list[Any]]:
    """The condition a row of `layer.table` meets to belong to `layer`, and its parameters.

    TRUE for a whole table; for a geometry part, its dimension. Every query on a layer
    (features, counts, extents) adds this condition, so a part never shows another kind.
    """
    if layer.geometry_kind is None:
        return sql.SQL("TRUE"), []
    condition = sql.SQL("ST_Dimension({}) = %s").format(sql.Identifier(layer.geometry_column))
    return condition, [GEOMETRY_DIMENSIONS[layer.geometry_kind]]


def geometry_parts_of(layer: Layer) -> tuple[Layer, ...]:
    """One layer per kind of geometry `layer` declares, when it asks for them.

    `risk_units` gives `risk_units_point`, `risk_units_line` and `risk_units_polygon`, on
    the same table, titled after the kind they hold.
    """
    if not layer.geometry_parts:
        return ()
    parts = []
    for kind, kind_types in _KIND_TYPES.items():
        types = tuple(t for t in layer.geometry_types if t in kind_types)
        if not types:
            continue
        zh, en = _KIND_TITLES[kind]
        parts.append(replace(
            layer, name=f"{layer.name}_{kind}", title=f"{layer.title}（{zh}）",
            title_en=f"{layer.title_en} ({en})",
            description=f"{layer.description} 仅{zh}要素。Only the {en}.",
            geometry_types=types, geometry_parts=False, geometry_kind=kind, parent=layer.name,
        ))
    return tuple(parts)


def with_geometry_parts(declarations: Iterable[Layer]) -> tuple[Layer, ...]:
    """The declared layers, each followed by its geometry parts: the order of publication."""
    return tuple(layer for declared in declarations
                 for layer in (declared, *geometry_parts_of(declared)))


class Catalogue:
    """The layers a database publishes, in declaration order, looked up by name."""

    def __init__(self, layers: Iterable[Layer], unavailable: Iterable[str] = ()):
        self._layers = {layer.name: layer for layer in layers}
        # declared layers this database does not have (their table is missing)
        self._unavailable = frozenset(unavailable) - self._layers.keys()

    def get(self, name: str) -> Layer:
        """The layer called `name`; UnknownLayerError naming the valid ones otherwise."""
        try:
            return self._layers[name]
        except KeyError:
            valid = ", ".join(self._layers) or "none"
            if name in self._unavailable:
                raise UnknownLayerError(
                    f"layer {name!r} is not available in this database; layers: {valid}"
                ) from None
            raise UnknownLayerError(f"unknown layer {name!r}; layers: {valid}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the published layers, in declaration order."""
        return tuple(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers.values())

    def __len__(self) -> int:
        return len(self._layers)

    def __contains__(self, name: object) -> bool:
        return name in self._layers


async def _existing_columns(conn: psycopg.AsyncConnection,
                            tables: list[str]) -> dict[str, set[str]]:
    """Columns of those of `tables` that exist in the current schema.

    Read from pg_attribute, not information_schema.columns: the latter leaves out
    materialized views, and the area-risk layers are materialized views.
    """
    cur = await conn.execute(
        "SELECT t.name, a.attname FROM unnest(%s::text[]) AS t(name) "
        "JOIN pg_class c "
        "  ON c.oid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(t.name)) "
        # tables (plain, partitioned, foreign), views and materialized views; not indexes
        " AND c.relkind IN ('r', 'p', 'f', 'v', 'm') "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped",
        [tables],
    )
    found: dict[str, set[str]] = {}
    for table, column in await cur.fetchall():
        found.setdefault(table, set()).add(column)
    return found


def _extent_query(layer: Layer) -> tuple[sql.Composed, list[Any]]:
    """Exact row count and extent: one scan, for tables of modest size."""
    scope, params = layer_scope(layer)
    query = sql.SQL(
        "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT count(*) AS n, ST_Extent({geom}) AS e FROM {table} WHERE {scope}) AS s"
    ).format(geom=sql.Identifier(layer.geometry_column), table=sql.Identifier(layer.table),
             scope=scope)
    return query, params


async def _read_extent(conn: psycopg.AsyncConnection, layer: Layer) -> tuple[int, BBox | None]:
    cur = await conn.execute(
        "SELECT reltuples::bigint FROM pg_class "
        "WHERE oid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s))",
        [layer.table],
    )
    estimate = (await cur.fetchone())[0]
    # a geometry part has no statistics of its own: its extent and count are exact
    if estimate >= EXACT_BELOW_ROWS and layer.geometry_kind is None:
        cur = await conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_EstimatedExtent(current_schema(), %s, %s) AS e) AS s",
            [layer.table, layer.geometry_column],
        )
        row = await cur.fetchone()
        if row[0] is not None:
            return int(estimate), tuple(float(v) for v in row)  # type: ignore[return-value]
    count, *box = await (await conn.execute(*_extent_query(layer))).fetchone()
    bbox = tuple(float(v) for v in box) if box[0] is not None else None
    return int(count), bbox  # type: ignore[return-value]


async def _read_vocabularies(
    conn: psycopg.AsyncConnection, layers: Iterable[Layer], columns: dict[str, set[str]]
) -> dict[Reference, tuple[tuple[str, str, str], ...]]:
    """The rows of every reference table the layers point at, as (value, zh, en) labels.

    A reference table that is missing (or lacks a column) gives no vocabulary: the
    attribute then takes any value, as before the table existed.
    """
    references = {a.reference for layer in layers for a in layer.attributes if a.reference}
    found: dict[Reference, tuple[tuple[str, str, str], ...]] = {}
    for ref in sorted(references, key=lambda r: (r.table, r.key)):
        if not {ref.key, ref.name, ref.name_en} <= columns.get(ref.table, set()):
            continue
        query = sql.SQL("SELECT {key}::text, {name}::text, coalesce({name_en}::text, '') "
                        "FROM {table} ORDER BY {key}").format(
            key=sql.Identifier(ref.key), name=sql.Identifier(ref.name),
            name_en=sql.Identifier(ref.name_en), table=sql.Identifier(ref.table))
        found[ref] = tuple(tuple(row) for row in await (await conn.execute(query)).fetchall())
    return found


def _with_vocabularies(layer: Layer, vocabularies: dict) -> Layer:
    """`layer` with the vocabularies of its reference attributes filled in."""
    if not any(a.reference in vocabularies for a in layer.attributes):
        return layer
    attributes = tuple(
        replace(a, labels=vocabularies[a.reference],
                values=tuple(v for v, _, _ in vocabularies[a.reference]))
        if a.reference in vocabularies else a
        for a in layer.attributes
    )
    return replace(layer, attributes=attributes)


async def build_catalogue(
    conn: psycopg.AsyncConnection, declarations: Iterable[Layer] = LAYERS
) -> Catalogue:
    """The declared layers whose table exists in the database, with extent and row count.

    A layer whose table lacks a declared column is left out with a warning, so the
    service never builds a query on a column that is not there. A layer declared with
    `geometry_parts` is followed by its parts (each with its own count and extent).
    """
    declarations = list(declarations)
    tables = {layer.source for layer in declarations}
    tables |= {a.reference.table for layer in declarations for a in layer.attributes
               if a.reference}
    columns = await _existing_columns(conn, sorted(tables))
    vocabularies = await _read_vocabularies(conn, declarations, columns)
    published, unavailable = [], []
    for layer in with_geometry_parts(declarations):
        if layer.source not in columns:
            unavailable.append(layer.name)
            continue
        missing = [c for c in layer.columns if c not in columns[layer.source]]
        if missing:
            if layer.parent is None:  # said once, for the layer, not for each part
                logger.warning("layer %r left out: table %r has no column %s",
                               layer.name, layer.source, ", ".join(missing))
            unavailable.append(layer.name)
            continue
        count, bbox = await _read_extent(conn, layer)
        layer = _with_vocabularies(layer, vocabularies)
        published.append(replace(layer, extent=bbox, row_count=count))
    return Catalogue(published, unavailable)
