"""The SQL of the feature requests, composed with `psycopg.sql`.

Table and column names come from the catalogue only (`sql.Identifier`); every value a
request carries is a bound parameter.

PostgreSQL writes the GeoJSON: a page is one statement that answers the number matched,
the number returned and the features as one JSON text, which the service sends on
without parsing it.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from layers.catalogue import Attribute, Layer, layer_scope
from service.features.params import (
    AttributeFilter,
    BBox,
    GradeStatsQuery,
    Interval,
    as_bounds,
)

GEOJSON_DECIMALS = 7          # ~1 cm in degrees: more is noise, fewer loses survey data
WGS84_SRID = 4326

Condition = tuple[sql.Composable, list[Any]]


def _datetime_text(column: sql.Composable) -> sql.Composed:
    """A time stamp as RFC 3339 text in UTC, whatever the session's time zone.

    Fractions of a second are written only when the value has them.
    """
    return sql.SQL(
        "to_char({c} AT TIME ZONE 'UTC', CASE WHEN {c} = date_trunc('second', {c}) "
        "THEN 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"' END)"
    ).format(c=column)


def _json_value(attribute: Attribute, column: sql.Composable) -> sql.Composable:
    """How an attribute is written into a feature's properties."""
    if attribute.type == "datetime":
        return _datetime_text(column)
    if attribute.type == "number":
        # Always with a decimal point (4 -> 4.0): QGIS and GDAL type a field from the
        # first features they read, and a real number typed integer is cut (22.5 -> 22).
        return sql.SQL("CASE WHEN {c}::text ~ '^-?[0-9]+$' THEN ({c}::text || '.0')::json "
                       "ELSE to_json({c}) END").format(c=column)
    return column  # integers, booleans, dates (ISO) and jsonb keep their JSON type


def _text_value(attribute: Attribute) -> sql.Composable:
    """How an attribute is written into a CSV cell: text that does not depend on settings."""
    column = sql.Identifier(attribute.name)
    if attribute.type == "datetime":
        return _datetime_text(column)
    if attribute.type == "date":
        return sql.SQL("to_char({}, 'YYYY-MM-DD')").format(column)
    if attribute.type == "boolean":
        return sql.SQL("CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END").format(c=column)
    return sql.SQL("{}::text").format(column)


def selected_attributes(layer: Layer, properties: tuple[str, ...] | None) -> tuple[Attribute, ...]:
    """The attributes to write, in the order asked (all of them when None)."""
    if properties is None:
        return layer.attributes
    return tuple(layer.attribute(name) for name in properties)


def _page_columns(layer: Layer, attributes: tuple[Attribute, ...]) -> sql.Composable:
    """The columns a page reads from the table: id, the attributes asked, geometry."""
    names = dict.fromkeys([layer.id_column, *(a.name for a in attributes), layer.geometry_column])
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def feature_from(layer: Layer, page: sql.Composable, properties: tuple[str, ...] | None = None,
                 with_links: bool = False) -> sql.Composed:
    """`FROM` a page of rows (a sub-select exposing the table's columns) to one
    `page_feature` record per row, whose `to_json` is a GeoJSON Feature.

    `to_json` of a record writes compact JSON with the keys in column order, so the
    properties come out in declaration order (or in the order asked). With
    `with_links`, the feature takes a `links` member from the next bound parameter.
    """
    attributes = selected_attributes(layer, properties)
    values = [sql.SQL("{} AS {}").format(_json_value(a, sql.Identifier("page", a.name)),
                                         sql.Identifier(a.name)) for a in attributes]
    links = sql.SQL(", %s::json AS links") if with_links else sql.SQL("")
    return sql.SQL(
        "{page} AS page, LATERAL (SELECT {values}) AS page_properties, "
        "LATERAL (SELECT 'Feature' AS type, page.{id} AS id, "
        "ST_AsGeoJSON(page.{geom}, {decimals})::json AS geometry, "
        "to_json(page_properties) AS properties{links}) AS page_feature"
    ).format(page=page, values=sql.SQL(", ").join(values), id=sql.Identifier(layer.id_column),
             geom=sql.Identifier(layer.geometry_column), decimals=sql.Literal(GEOJSON_DECIMALS),
             links=links)


def _bbox_condition(layer: Layer, bbox: BBox) -> Condition:
    # `&&` lets the planner use the GiST index; ST_Intersects then keeps only the
    # features that touch the box, not those whose own box merely overlaps it.
    geom = sql.Identifier(layer.geometry_column)
    envelope = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, {})").format(sql.Literal(WGS84_SRID))
    one = sql.SQL("({geom} && {env} AND ST_Intersects({geom}, {env}))").format(
        geom=geom, env=envelope)
    boxes = bbox.envelopes()
    params = [value for box in boxes for value in (*box, *box)]
    return sql.SQL("({})").format(sql.SQL(" OR ").join([one] * len(boxes))), params


def _time_condition(layer: Layer, interval: Interval) -> Condition:
    column = sql.Identifier(layer.time_column)
    lower, upper, upper_inclusive = as_bounds(interval, layer.attribute(layer.time_column).type)
    parts, params = [sql.SQL("{} IS NOT NULL").format(column)], []
    if lower is not None:
        parts.append(sql.SQL("{} >= %s").format(column))
        params.append(lower)
    if upper is not None:
        parts.append(sql.SQL("{} <= %s" if upper_inclusive else "{} < %s").format(column))
        params.append(upper)
    return sql.SQL(" AND ").join(parts), params


def where_clause(layer: Layer, bbox: BBox | None = None, interval: Interval | None = None,
                 filters: tuple[AttributeFilter, ...] = ()) -> Condition:
    """The conditions of a request on `layer` (its scope first), and their parameters."""
    conditions: list[Condition] = [layer_scope(layer)]
    if bbox is not None:
        conditions.append(_bbox_condition(layer, bbox))
    if interval is not None:
        conditions.append(_time_condition(layer, interval))
    for item in filters:
        conditions.append((sql.SQL("{} = ANY(%s)").format(sql.Identifier(item.column)),
                           [list(item.values)]))
    return (sql.SQL(" AND ").join(c for c, _ in conditions),
            [p for _, params in conditions for p in params])


def page_query(layer: Layer, where: Condition, limit: int, offset: int,
               properties: tuple[str, ...] | None) -> tuple[sql.Composed, list[Any]]:
    """One row: number matched, number returned, the page's features as JSON text.

    The features are joined by commas, without brackets. They are built for the rows of
    the page only: the sub-select picks the page (skipping `offset` rows costs an index
    walk, not JSON). The count of all matches runs only when the page cannot tell it: a
    short page that is not past the end says it (offset + returned), and PostgreSQL
    evaluates the count's sub-select only when reached.
    """
    condition, params = where
    attributes = selected_attributes(layer, properties)
    page = sql.SQL("(SELECT {columns} FROM {table} WHERE {where} ORDER BY {id} LIMIT %s OFFSET %s)"
                   ).format(columns=_page_columns(layer, attributes),
                            table=sql.Identifier(layer.source), where=condition,
                            id=sql.Identifier(layer.id_column))
    query = sql.SQL(
        "SELECT CASE WHEN count(*) < %s AND (count(*) > 0 OR %s = 0) THEN %s + count(*) "
        "ELSE (SELECT count(*) FROM {table} WHERE {where}) END, count(*), "
        "coalesce(string_agg(to_json(page_feature)::text, ',' ORDER BY page.{id}), '') "
        "FROM {features}"
    ).format(table=sql.Identifier(layer.source), where=condition,
             id=sql.Identifier(layer.id_column), features=feature_from(layer, page, properties))
    return query, [limit, offset, offset, *params, *params, limit, offset]


def item_query(layer: Layer, feature_id: Any, links_json: str) -> tuple[sql.Composed, list[Any]]:
    """The feature of `layer` with that id (within the layer's scope), links included."""
    scope, scope_params = layer_scope(layer)
    page = sql.SQL("(SELECT {columns} FROM {table} WHERE {scope} AND {id} = %s)").format(
        columns=_page_columns(layer, layer.attributes), table=sql.Identifier(layer.source),
        scope=scope, id=sql.Identifier(layer.id_column))
    query = sql.SQL("SELECT to_json(page_feature)::text FROM {}").format(
        feature_from(layer, page, with_links=True))
    return query, [*scope_params, feature_id, links_json]


def csv_query(layer: Layer, where: Condition, limit: int, offset: int,
              properties: tuple[str, ...] | None) -> tuple[sql.Composed, list[Any]]:
    """Rows of text: id, the properties, the geometry as WKT; one row more than `limit`
    when there is a next page."""
    condition, params = where
    cells = [sql.SQL("{}::text").format(sql.Identifier(layer.id_column)),
             *(_text_value(a) for a in selected_attributes(layer, properties)),
             sql.SQL("ST_AsText({}, {})").format(sql.Identifier(layer.geometry_column),
                                                 sql.Literal(GEOJSON_DECIMALS))]
    # ORDER BY names the table's column: a bare "id" would sort the text cell called id
    query = sql.SQL("SELECT {cells} FROM {table} WHERE {where} ORDER BY {id} LIMIT %s OFFSET %s"
                    ).format(cells=sql.SQL(", ").join(cells), table=sql.Identifier(layer.source),
                             where=condition, id=sql.Identifier(layer.source, layer.id_column))
    return query, [*params, limit + 1, offset]


def grade_stats_query(layer: Layer, stats: GradeStatsQuery,
                      grades: tuple[str, ...]) -> tuple[sql.Composed, list[Any]]:
    """Counts per grade for each value of the grouping column, then the total row.

    Columns: key, is_total, one count per grade, ungraded, total.
    """
    condition, params = where_clause(layer, bbox=stats.bbox, filters=stats.filters)
    grade, key = sql.Identifier("grade"), sql.Identifier(stats.column)
    per_grade = [sql.SQL("count(*) FILTER (WHERE {} = %s)").format(grade) for _ in grades]
    query = sql.SQL(
        "SELECT {key}, GROUPING({key}) = 1, {per_grade}, count(*) FILTER (WHERE {grade} IS NULL), "
        "count(*) FROM {table} WHERE {where} GROUP BY ROLLUP ({key}) ORDER BY 2, 1"
    ).format(key=key, per_grade=sql.SQL(", ").join(per_grade), grade=grade,
             table=sql.Identifier(layer.source), where=condition)
    return query, [*grades, *params]
