"""The tile SQL of each layer: one statement per tile, all the work done by PostGIS.

Built once per layer (at start-up, or when the catalogue first shows the layer) from the
catalogue's identifiers and the tile settings of `layers.tiling`, rendered to text once, so
that every request sends the same text and psycopg prepares it once per connection. The
bound values are z, x and y and scales derived from z; the others are constants.

Single features: rows whose box meets the tile's envelope (plus its buffer), lines and
polygons clipped and simplified to about a pixel where the layer asks for it, projected
to Web Mercator and cut to the tile by `ST_AsMVTGeom` (extent 4096, buffer 64).

Aggregation cells (below the layer's `individual_from` zoom): every feature's
representative point falls in one square cell of one tile of the zoom (the cell's column
and row are computed from the point in Mercator terms, the tile is the cell's column and
row divided by the cells per side), so the cells of all tiles of a zoom count each
feature exactly once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import sql
from psycopg.types.numeric import Float8, Int4

from layers.catalogue import Attribute, Layer, layer_scope
from layers.style import GRADE_ORDER
from layers.tiling import (
    BUFFER,
    EXTENT,
    aggregated,
    cells_layer_name,
    individual_from,
    integer_id,
    simplified,
    tile_attributes,
    tiling_of,
)

GEOM = sql.Identifier("mvt_geom")  # the output geometry column of a tile's rows
ENVELOPE = sql.SQL("ST_TileEnvelope(%(z)s, %(x)s, %(y)s)")
# the tile and its buffer, in the layers' own CRS (Mercator boxes stay boxes in degrees)
BUFFERED_4326 = sql.SQL("ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, "
                        "margin => {}), 4326)").format(sql.Literal(BUFFER / EXTENT))
# a unit of margin: a point on a tile's edge is looked at by both tiles, and counted by one
EDGE_4326 = sql.SQL("ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, "
                    "margin => {}), 4326)").format(sql.Literal(1 / EXTENT))
# about a pixel of a 512-pixel tile, in degrees (bound: see `tile_params`)
PIXEL_DEGREES = sql.SQL("%(pixel)s")


@dataclass(frozen=True)
class TileQuery:
    """The tile statements of one layer, as text."""

    layer: str
    relation: str               # the table or view: its data version keys the cache
    single: str                 # single features
    cells: str | None           # aggregation cells, below `individual_from`
    individual_from: int
    digest: str                 # identifies the statements (part of the cache key)

    cells_per_side: int = 16

    def text(self, z: int) -> str:
        """The statement for a tile of zoom `z`."""
        if self.cells is not None and z < self.individual_from:
            return self.cells
        return self.single

    def params(self, z: int, x: int, y: int) -> dict[str, Int4 | Float8]:
        """The values bound for tile z/x/y (see `tile_params`)."""
        return tile_params(z, x, y, self.cells_per_side)


def tile_params(z: int, x: int, y: int, cells_per_side: int = 16) -> dict[str, Int4 | Float8]:
    """z, x, y and what the statements derive from the zoom, computed here once.

    Prepared statements run with a generic plan after a few executions, where an
    expression of a parameter is computed again for every row: scales are bound instead.
    Types are fixed (int4, float8), so that one prepared statement serves every tile.
    """
    scale = float(2 ** z * cells_per_side)
    return {"z": Int4(z), "x": Int4(x), "y": Int4(y),
            "pixel": Float8(360.0 / 512 / 2 ** z),
            "columns": Float8(scale / 360.0), "rows": Float8(scale / 2.0)}


def _property(attribute: Attribute) -> sql.Composable:
    """A column as a tile property: types MVT has (text, integers, doubles, booleans)."""
    column = sql.Identifier(attribute.name)
    if attribute.type == "number":
        return sql.SQL("{}::float8 AS {}").format(column, column)
    if attribute.type in ("date", "datetime", "string"):
        return sql.SQL("{}::text AS {}").format(column, column)
    return column


def _scope(layer: Layer) -> sql.Composable:
    scope, params = layer_scope(layer)
    if params:  # parts by geometry kind have no tiles of their own
        raise ValueError(f"layer {layer.name!r} is a part: its features are in its parent's tiles")
    return scope


def single_sql(layer: Layer) -> sql.Composed:
    """Tile of single features of `layer`."""
    geom = sql.Identifier(layer.geometry_column)
    shape: sql.Composable = geom
    if simplified(layer):
        # preserveCollapsed: a shape smaller than the tolerance stays as a dot, not nothing
        shape = sql.SQL("ST_Simplify(ST_ClipByBox2D({}, {}), {}, true)").format(
            geom, BUFFERED_4326, PIXEL_DEGREES)
    columns = [_property(a) for a in tile_attributes(layer)]
    feature_id = sql.SQL("")
    if integer_id(layer):
        columns.insert(0, sql.Identifier(layer.id_column))
        feature_id = sql.SQL(", {}").format(sql.Literal(layer.id_column))
    columns.append(sql.SQL("ST_AsMVTGeom(ST_Transform({shape}, 3857), {env}, {extent}, "
                           "{buffer}, true) AS {out}").format(
        shape=shape, env=ENVELOPE, extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER),
        out=GEOM))
    return sql.SQL(
        "SELECT ST_AsMVT(t, {name}, {extent}, {out}{feature_id}) FROM ("
        "SELECT {columns} FROM {table} WHERE {geom} && {box} AND {scope}"
        ") AS t WHERE {geom_out} IS NOT NULL"
    ).format(name=sql.Literal(layer.name), extent=sql.Literal(EXTENT),
             out=sql.Literal("mvt_geom"), feature_id=feature_id,
             columns=sql.SQL(", ").join(columns), table=sql.Identifier(layer.source),
             geom=geom, box=BUFFERED_4326, scope=_scope(layer), geom_out=GEOM)


def representative_point(layer: Layer) -> sql.Composable:
    """The one point a feature is counted at: itself, a line's middle, a point on a surface."""
    geom = sql.Identifier(layer.geometry_column)
    if all(t == "Point" for t in layer.geometry_types):
        return geom
    return sql.SQL("CASE GeometryType({g}) WHEN 'POINT' THEN {g} "
                   "WHEN 'LINESTRING' THEN ST_LineInterpolatePoint({g}, 0.5) "
                   "ELSE ST_PointOnSurface({g}) END").format(g=geom)


def cells_sql(layer: Layer) -> sql.Composed:
    """Tile of aggregation cells of `layer`: counts per grade, total, worst grade."""
    n = tiling_of(layer).cells_per_side
    ranks = sql.SQL("{}::text[]").format(sql.Literal(list(reversed(GRADE_ORDER))))  # 1 = best
    counts = [sql.SQL("count(*) FILTER (WHERE r = {}) AS {}").format(
        sql.Literal(len(GRADE_ORDER) - i), sql.Identifier(grade))
        for i, grade in enumerate(GRADE_ORDER)]
    return sql.SQL(
        "SELECT ST_AsMVT(t, {name}, {extent}, 'mvt_geom') FROM ("
        "SELECT {grades}, total, ({ranks})[worst] AS worst_grade, "
        "ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 3857), {env}, "
        "{extent}, {buffer}, true) AS mvt_geom "
        "FROM (SELECT ci, cj, {counts}, count(*) AS total, max(r) AS worst, "
        "avg(lon) AS lon, avg(lat) AS lat "
        "FROM (SELECT r, lon, lat, "
        "floor((lon + 180.0) * %(columns)s)::int AS ci, "
        "floor((1.0 - asinh(tan(radians(lat))) / pi()) * %(rows)s)::int AS cj "
        "FROM (SELECT array_position({ranks}, {grade}::text) AS r, "
        "ST_X(p) AS lon, ST_Y(p) AS lat "
        "FROM (SELECT {grade}, {point} AS p FROM {table} WHERE {geom} && {box} AND {scope}) AS s"
        ") AS f) AS c "
        # OFFSET 0 keeps the tile test below out of the scan, where it would be computed twice
        "GROUP BY ci, cj OFFSET 0) AS g "
        "WHERE ci / {n} = %(x)s AND cj / {n} = %(y)s) AS t"
    ).format(name=sql.Literal(cells_layer_name(layer)), extent=sql.Literal(EXTENT),
             buffer=sql.Literal(BUFFER), env=ENVELOPE,
             grades=sql.SQL(", ").join(map(sql.Identifier, GRADE_ORDER)), ranks=ranks,
             counts=sql.SQL(", ").join(counts), n=sql.Literal(n),
             grade=sql.Identifier("grade"), point=representative_point(layer),
             table=sql.Identifier(layer.source), geom=sql.Identifier(layer.geometry_column),
             box=EDGE_4326, scope=_scope(layer))


def build_query(layer: Layer) -> TileQuery:
    """The tile statements of `layer`, rendered to text."""
    single = single_sql(layer).as_string(None)
    cells = cells_sql(layer).as_string(None) if aggregated(layer) else None
    digest = hashlib.blake2b(f"{single}\0{cells}".encode(), digest_size=6).hexdigest()
    return TileQuery(layer=layer.name, relation=layer.table, single=single, cells=cells,
                     individual_from=individual_from(layer), digest=digest,
                     cells_per_side=tiling_of(layer).cells_per_side)


class QueryBook:
    """The tile statements of every layer met so far, rebuilt when a layer changes."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[Layer, TileQuery]] = {}

    def get(self, layer: Layer) -> TileQuery:
        known = self._built.get(layer.name)
        if known is not None and (known[0] is layer or known[0] == layer):
            return known[1]
        query = build_query(layer)
        self._built[layer.name] = (layer, query)
        return query

    def __len__(self) -> int:
        return len(self._built)
