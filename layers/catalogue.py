"""The layer catalogue: what each layer of the one map is, and which of them a database has.

Every layer is declared once in `LAYERS`; the service, the tiles and the map page read
these declarations and never name a table of their own. Adding a layer is one entry here.
`build_catalogue` keeps the declared layers whose table exists and adds what only the
database knows: the extent, the number of rows and the vocabularies of reference tables.

A layer holding several kinds of geometry can also be published as one collection per
kind (`geometry_parts=True`): clients such as QGIS give a layer a single geometry type,
so a mixed collection would show only one kind there. The parts are derived from the
declaration (`geometry_parts_of`), never declared by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import psycopg
from psycopg import sql

from geodata.errors import UnknownLayerError

logger = logging.getLogger(__name__)

AttributeType = Literal["string", "integer", "number", "boolean", "date", "datetime", "object"]
GeometryType = Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                       "MultiPolygon"]
BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (CRS84)
GeometryKind = Literal["point", "line", "polygon"]

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

# Columns that can filter features (`?grade=red,orange`) where a layer has them; the
# request names `district` for district_code (see QUERY_ALIASES).
QUERYABLE_COLUMNS = ("grade", "district_code", "category", "domain", "kind", "type", "class",
                     "status", "state", "level")
QUERY_ALIASES = {"district": "district_code"}

# Above this many rows (PostgreSQL's estimate), the extent comes from the planner's
# statistics and the count is the estimate: exact ones would scan the whole table.
EXACT_BELOW_ROWS = 100_000


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
    """A layer: its declaration, plus `extent` and `row_count` once read from a database."""

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
    # Publish one more collection per kind of geometry the layer holds (for QGIS).
    geometry_parts: bool = False
    # Set on such a part only: its features are those of this kind, from layer `parent`.
    geometry_kind: GeometryKind | None = None
    parent: str | None = None
    # Filled by build_catalogue; None in the declarations.
    extent: BBox | None = field(default=None, compare=False)
    row_count: int | None = field(default=None, compare=False)

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
        """Type of the feature ids: the id column's attribute type, else integer."""
        for attribute in self.attributes:
            if attribute.name == self.id_column:
                return attribute.type
        return "integer"

    @property
    def queryables(self) -> tuple[Attribute, ...]:
        """The attributes that can filter this layer's features, in declaration order."""
        return tuple(a for a in self.attributes if a.name in QUERYABLE_COLUMNS)


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


def _attr(name: str, type_: AttributeType, title: str, title_en: str,
          labels: tuple[tuple[str, str, str], ...] = (),
          reference: Reference | None = None) -> Attribute:
    """An attribute; `labels` (value, zh, en) make its vocabulary, in that order."""
    return Attribute(name, type_, title, title_en, values=tuple(v for v, _, _ in labels),
                     labels=labels, reference=reference)


# Fixed vocabularies: the CHECK constraints of the schema, with names for people.
GRADES = (("red", "红（重大风险）", "red (major)"), ("orange", "橙（较大风险）", "orange (high)"),
          ("yellow", "黄（一般风险）", "yellow (moderate)"), ("blue", "蓝（低风险）", "blue (low)"))
DOMAINS = (("lifeline", "城市生命线", "Lifelines"), ("public_safety", "公共安全", "Public safety"),
           ("production_safety", "安全生产", "Production safety"))
_GRADE_METHODS = (("matrix", "风险矩阵", "risk matrix"), ("lec", "LEC 法", "LEC"))
_GRADE_SOURCES = (("computed", "计算", "computed"), ("override", "人工认定", "override"))
_SUBDISTRICT_KINDS = (("street", "街道", "street"), ("town", "镇", "town"),
                      ("township", "乡", "township"))
_POINT_STATUSES = (("online", "在线", "online"), ("offline", "离线", "offline"),
                   ("fault", "故障", "fault"))
_SHELTER_CLASSES = (("emergency", "紧急避难场所", "emergency"), ("fixed", "固定避难场所", "fixed"),
                    ("central", "中心避难场所", "central"))
_SHELTER_TERMS = (("short", "短期", "short"), ("medium", "中期", "medium"),
                  ("long", "长期", "long"))
_SITE_TYPES = (("park", "公园", "park"), ("square", "广场", "square"), ("school", "学校", "school"),
               ("stadium", "体育场馆", "stadium"), ("green", "绿地", "green space"),
               ("other", "其他", "other"))
_RESOURCE_TYPES = (("storage", "物资储备点", "storage"), ("rescue_team", "救援队伍", "rescue team"),
                   ("fire_station", "消防站", "fire station"),
                   ("broadcast", "应急广播", "broadcast"),
                   ("supply_enterprise", "保障企业", "supply enterprise"),
                   ("medical", "医疗机构", "medical"))
_RESOURCE_LEVELS = (("city", "市级", "city"), ("district", "区级", "district"),
                    ("town", "街镇级", "town"))
_DANGER_LEVELS = (("major", "重大隐患", "major"), ("general", "一般隐患", "general"))
_DANGER_STATUSES = (("open", "未整改", "open"), ("rectified", "已整改", "rectified"))
_ALARM_STATES = (("open", "未处置", "open"), ("acknowledged", "已确认", "acknowledged"),
                 ("closed", "已关闭", "closed"))


# Columns that several layers share, labelled once.
_CODE = _attr("code", "string", "编码", "Code")
_NAME = _attr("name", "string", "名称", "Name")
_NAME_EN = _attr("name_en", "string", "英文名称", "English name")
_DISTRICT = _attr("district_code", "string", "所属区县代码", "District code",
                  reference=Reference("districts", "code"))
_GRADE = _attr("grade", "string", "风险等级", "Risk grade", GRADES)
_ADDRESS = _attr("address", "string", "地址", "Address")
_SYNTHETIC = _attr("synthetic", "boolean", "模拟数据", "Synthetic (demonstration) data")
_POLYGONAL: tuple[GeometryType, ...] = ("MultiPolygon",)
_POINT: tuple[GeometryType, ...] = ("Point",)
# risk_units.geom accepts these six (see the CHECK in the base schema).
_ANY_SIMPLE: tuple[GeometryType, ...] = ("Point", "LineString", "Polygon", "MultiPoint",
                                         "MultiLineString", "MultiPolygon")

LAYERS: tuple[Layer, ...] = (
    Layer(
        name="districts", table="districts", title="区县", title_en="Districts",
        description="西安市区县行政区划（含开发区管理口径人口）。Districts of Xi'an.",
        id_column="code", geometry_types=_POLYGONAL, minzoom=5, maxzoom=14,
        attributes=(
            _attr("code", "string", "行政区划代码", "Division code"), _NAME, _NAME_EN,
            _attr("population", "integer", "常住人口", "Resident population"),
            _attr("population_basis", "string", "人口口径", "Population basis"),
            _attr("population_year", "integer", "人口年份", "Population year"),
            _attr("area_km2", "number", "面积（平方千米）", "Area (km²)"),
            _attr("official_area_km2", "number", "公布面积（平方千米）", "Official area (km²)"),
            _attr("source", "string", "数据来源", "Source"), _SYNTHETIC,
        ),
    ),
    Layer(
        name="subdistricts", table="subdistricts", title="街道（乡镇）",
        title_en="Sub-districts",
        description="街道办事处、镇、乡。Streets, towns and townships.",
        id_column="code", geometry_types=_POLYGONAL, minzoom=8, maxzoom=16,
        attributes=(
            _CODE, _NAME, _NAME_EN, _attr("kind", "string", "类型", "Kind", _SUBDISTRICT_KINDS),
            _DISTRICT,
            _attr("managed_by", "string", "托管开发区", "Managed by"),
            _attr("population", "integer", "人口", "Population"), _SYNTHETIC,
        ),
    ),
    Layer(
        name="risk_units", table="risk_units", title="风险单元", title_en="Risk units",
        description="城市生命线、公共安全与安全生产风险单元及其分级（红橙黄蓝）。"
                    "Risk units of lifelines, public safety and production safety, graded.",
        id_column="id", geometry_types=_ANY_SIMPLE, minzoom=9, maxzoom=18,
        time_column="graded_at", geometry_parts=True,
        attributes=(
            _CODE, _NAME, _attr("domain", "string", "领域", "Domain", DOMAINS),
            _attr("category", "string", "类别", "Category",
                  reference=Reference("risk_categories", "code")), _DISTRICT, _ADDRESS,
            _attr("likelihood", "integer", "可能性", "Likelihood"),
            _attr("severity", "integer", "严重性", "Severity"),
            _attr("lec_l", "number", "事故发生的可能性（L）", "LEC likelihood (L)"),
            _attr("lec_e", "number", "暴露于危险环境的频繁程度（E）", "LEC exposure (E)"),
            _attr("lec_c", "number", "事故后果（C）", "LEC consequence (C)"),
            _attr("major_hazard_source", "boolean", "重大危险源", "Major hazard source"),
            _GRADE, _attr("base_grade", "string", "基础等级", "Base grade", GRADES),
            _attr("grade_method", "string", "分级方法", "Grading method", _GRADE_METHODS),
            _attr("grade_score", "number", "风险值", "Risk score"),
            _attr("grade_source", "string", "等级来源", "Grade source", _GRADE_SOURCES),
            _attr("grade_explanation", "object", "分级说明", "Grade explanation"),
            _attr("graded_at", "datetime", "评定时间", "Graded at"), _SYNTHETIC,
        ),
    ),
    Layer(
        name="monitoring_points", table="monitoring_points", title="监测点",
        title_en="Monitoring points",
        description="城市生命线监测点（燃气、供水、桥梁等）及最新读数。"
                    "Lifeline monitoring points and their latest readings.",
        id_column="id", geometry_types=_POINT, minzoom=11, maxzoom=18,
        time_column="last_reading_at",
        attributes=(
            _CODE, _NAME, _attr("kind", "string", "监测类型", "Kind",
                                reference=Reference("monitoring_kinds", "kind")),
            _attr("unit", "string", "单位", "Unit"), _DISTRICT,
            _attr("risk_unit_id", "integer", "关联风险单元", "Risk unit"),
            _attr("threshold_blue", "number", "蓝色预警阈值", "Blue threshold"),
            _attr("threshold_yellow", "number", "黄色预警阈值", "Yellow threshold"),
            _attr("threshold_orange", "number", "橙色预警阈值", "Orange threshold"),
            _attr("threshold_red", "number", "红色预警阈值", "Red threshold"),
            _attr("installed_on", "date", "安装日期", "Installed on"),
            _attr("status", "string", "运行状态", "Status", _POINT_STATUSES),
            _attr("last_value", "number", "最新监测值", "Last value"),
            _attr("last_reading_at", "datetime", "最新读数时间", "Last reading at"),
            _attr("grade", "string", "预警等级", "Alarm grade", GRADES), _SYNTHETIC,
        ),
    ),
    Layer(
        name="shelters", table="shelters", title="应急避难场所", title_en="Emergency shelters",
        description="应急避难场所（GB 51143）。Emergency shelters (GB 51143).",
        id_column="id", geometry_types=_POINT, minzoom=10, maxzoom=18,
        attributes=(
            _CODE, _NAME, _attr("class", "string", "类别", "Class", _SHELTER_CLASSES),
            _attr("term", "string", "避难期限", "Term", _SHELTER_TERMS),
            _attr("site_type", "string", "场地类型", "Site type", _SITE_TYPES),
            _attr("total_area_m2", "number", "总面积（平方米）", "Total area (m²)"),
            _attr("effective_area_m2", "number", "有效避难面积（平方米）", "Effective area (m²)"),
            _attr("capacity", "integer", "可容纳人数", "Capacity"), _DISTRICT, _ADDRESS,
            _SYNTHETIC,
        ),
    ),
    Layer(
        name="resources", table="resources", title="应急资源", title_en="Emergency resources",
        description="物资储备点、救援队伍、消防站、应急广播、保障企业、医疗机构。"
                    "Stores, rescue teams, fire stations, broadcast, suppliers, medical.",
        id_column="id", geometry_types=_POINT, minzoom=10, maxzoom=18,
        attributes=(
            _CODE, _NAME, _attr("type", "string", "资源类型", "Type", _RESOURCE_TYPES),
            _attr("level", "string", "级别", "Level", _RESOURCE_LEVELS), _DISTRICT,
            _attr("items", "integer", "物资数量", "Items held"),
            _attr("people", "integer", "人数", "People"),
            _attr("attributes", "object", "其他属性", "Other attributes"), _ADDRESS, _SYNTHETIC,
        ),
    ),
    Layer(
        name="hidden_dangers", table="hidden_dangers", title="隐患", title_en="Hidden dangers",
        description="安全隐患排查与整改（重大/一般，挂牌督办）。"
                    "Hidden dangers found and their rectification.",
        id_column="id", geometry_types=_POINT, minzoom=11, maxzoom=18, time_column="found_on",
        attributes=(
            _CODE, _attr("risk_unit_id", "integer", "关联风险单元", "Risk unit"),
            _attr("title", "string", "隐患描述", "Title"),
            _attr("level", "string", "隐患等级", "Level", _DANGER_LEVELS),
            _attr("status", "string", "整改状态", "Status", _DANGER_STATUSES),
            _attr("supervised", "boolean", "挂牌督办", "Supervised"),
            _attr("found_on", "date", "发现日期", "Found on"),
            _attr("deadline", "date", "整改期限", "Deadline"),
            _attr("rectified_on", "date", "整改完成日期", "Rectified on"), _DISTRICT, _SYNTHETIC,
        ),
    ),
    # Its table comes with migration 002: published only where that table exists, and
    # only while these columns match it (build_catalogue checks).
    Layer(
        name="alarms", table="alarms", title="预警", title_en="Alarms",
        description="监测点超阈值预警（蓝黄橙红）。Alarms raised by monitoring points.",
        id_column="id", geometry_types=_POINT, minzoom=9, maxzoom=18, time_column="raised_at",
        attributes=(
            _attr("monitoring_point_id", "integer", "监测点", "Monitoring point"),
            _attr("grade", "string", "预警等级", "Grade", GRADES),
            _attr("state", "string", "处置状态", "State", _ALARM_STATES),
            _attr("value", "number", "监测值", "Value"),
            _attr("raised_at", "datetime", "预警时间", "Raised at"),
            _attr("acknowledged_at", "datetime", "确认时间", "Acknowledged at"),
            _attr("acknowledged_by", "string", "确认人", "Acknowledged by"),
            _attr("closed_at", "datetime", "关闭时间", "Closed at"),
            _attr("closed_by", "string", "关闭人", "Closed by"),
            _attr("note", "string", "处置说明", "Note"), _DISTRICT, _SYNTHETIC,
        ),
    ),
)


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


async def _existing_columns(conn: psycopg.AsyncConnection, tables: list[str]) -> dict[str, set[str]]:
    """Columns of those of `tables` that exist in the current schema."""
    cur = await conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
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
    tables = {layer.table for layer in declarations}
    tables |= {a.reference.table for layer in declarations for a in layer.attributes
               if a.reference}
    columns = await _existing_columns(conn, sorted(tables))
    vocabularies = await _read_vocabularies(conn, declarations, columns)
    published, unavailable = [], []
    for declared in declarations:
        for layer in (declared, *geometry_parts_of(declared)):
            if layer.table not in columns:
                unavailable.append(layer.name)
                continue
            missing = [c for c in layer.columns if c not in columns[layer.table]]
            if missing:
                if layer.parent is None:  # said once, for the layer, not for each part
                    logger.warning("layer %r left out: table %r has no column %s",
                                   layer.name, layer.table, ", ".join(missing))
                unavailable.append(layer.name)
                continue
            count, bbox = await _read_extent(conn, layer)
            layer = _with_vocabularies(layer, vocabularies)
            published.append(replace(layer, extent=bbox, row_count=count))
    return Catalogue(published, unavailable)
