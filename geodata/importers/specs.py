"""What each importable layer holds: its fields, their types and vocabularies, its geometry.

Every field is declared once here; reading, checking and loading all work from these
declarations. Aliases are the column names people actually use (Chinese headers of Excel
exports, AMap's `adcode`, the `XZQDM`/`XZQMC` of land-survey data); value aliases are the
Chinese words for a vocabulary's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from geodata.errors import ImportRejected


@dataclass(frozen=True)
class Field:
    """One column of a layer as the importer accepts it."""

    name: str                       # the table column (or a link, see `LayerSpec.links`)
    type: str = "text"              # text, int, float, bool, date, datetime or json
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()   # allowed values (canonical spelling)
    value_aliases: dict[str, str] = field(default_factory=dict)  # other spelling -> choice
    reference: str | None = None    # checked against this table: "districts", "risk_units", …
    pattern: str | None = None      # regular expression a text value must match in full
    pattern_hint: str = ""          # how to say the pattern to people
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False          # strictly greater than zero
    one_of: tuple[float, ...] = ()  # allowed numbers (LEC scales)
    default: object = None          # used when the cell is empty (the column's DB default)
    derived: bool = False           # may be left out: the importer works it out
    fallback: str | None = None     # when empty: the stored value, else this field's value
    computed: bool = False          # never read from a file (measured by the importer)


@dataclass(frozen=True)
class LayerSpec:
    """An importable layer: its table, fields and the geometry it takes."""

    name: str
    fields: tuple[Field, ...]
    geometry: tuple[str, ...]       # allowed kinds: "point", "line", "polygon"
    multi: bool = False             # the column is MultiPolygon: polygons are made multi
    # fields written together: if the file carries one, all are written (NULL when
    # absent), so a partial update can never break a CHECK that spans them
    groups: tuple[tuple[str, ...], ...] = ()
    # file field -> (table column, referenced table): resolved by code when loading
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    # synthetic rows can be deleted (districts cannot: every other table points at them)
    deletes_synthetic: bool = True
    # the extent rows must lie in: "city" (districts + 1 km) or "envelope" (districts + ~50 km)
    extent: str = "city"
    # the fields (value, time) of the latest reading, kept in monitoring_latest, not in the table
    latest: tuple[str, str] | None = None

    @property
    def table(self) -> str:
        return self.name

    def field(self, name: str) -> Field:
        """The declaration of one field."""
        return next(f for f in self.fields if f.name == name)

    def has(self, name: str) -> bool:
        """Whether the layer has such a field."""
        return any(f.name == name for f in self.fields)


def _choices(*pairs: tuple[str, tuple[str, ...]]) -> tuple[tuple[str, ...], dict[str, str]]:
    """(value, its other spellings) pairs -> (choices, value aliases)."""
    return tuple(v for v, _ in pairs), {a: v for v, spellings in pairs for a in spellings}


CODE = Field("code", required=True, aliases=("编码", "编号", "代码", "id"))
NAME = Field("name", required=True, aliases=("名称", "名字"))
ADDRESS = Field("address", aliases=("地址", "详细地址"))
DISTRICT = Field("district_code", required=True, reference="districts", derived=True,
                 aliases=("区县代码", "区县编码", "所属区县", "区县", "district"))
RISK_UNIT = Field("risk_unit_code", reference="risk_units",
                  aliases=("风险单元编码", "风险单元代码", "风险单元", "risk_unit"))

_CLASS = _choices(("emergency", ("紧急", "紧急避难场所")), ("fixed", ("固定", "固定避难场所")),
                  ("central", ("中心", "中心避难场所")))
_TERM = _choices(("short", ("短期",)), ("medium", ("中期",)), ("long", ("长期",)))
_SITE = _choices(("park", ("公园",)), ("square", ("广场",)), ("school", ("学校",)),
                 ("stadium", ("体育场", "体育场馆")), ("green", ("绿地",)), ("other", ("其他",)))
_RESOURCE = _choices(("storage", ("储备库", "物资储备库", "物资储备点")),
                     ("rescue_team", ("救援队伍", "救援队")), ("fire_station", ("消防站",)),
                     ("broadcast", ("应急广播",)), ("supply_enterprise", ("保障企业", "物资保障企业")),
                     ("medical", ("医疗", "医疗机构")))
_LEVEL = _choices(("city", ("市级",)), ("district", ("区级", "区县级")), ("town", ("街镇级", "乡镇级")))
_DANGER_LEVEL = _choices(("major", ("重大", "重大隐患")), ("general", ("一般", "一般隐患")))
_DANGER_STATUS = _choices(("open", ("未整改", "整改中")), ("rectified", ("已整改",)))
_SUB_KIND = _choices(("street", ("街道", "街道办事处")), ("town", ("镇",)), ("township", ("乡",)))
_POINT_STATUS = _choices(("online", ("在线",)), ("offline", ("离线",)), ("fault", ("故障",)))
_GRADE = _choices(("red", ("红", "红色", "重大风险")), ("orange", ("橙", "橙色", "较大风险")),
                  ("yellow", ("黄", "黄色", "一般风险")), ("blue", ("蓝", "蓝色", "低风险")))
_DOMAIN = _choices(("lifeline", ("城市生命线",)), ("public_safety", ("公共安全",)),
                   ("production_safety", ("生产安全", "安全生产")))

DISTRICTS = LayerSpec(
    name="districts",
    geometry=("polygon",),
    multi=True,
    deletes_synthetic=False,
    extent="envelope",
    fields=(
        Field("code", required=True, pattern=r"[0-9]{6}", pattern_hint="6 digits",
              aliases=("区县代码", "行政区划代码", "区划代码", "adcode", "xzqdm", "编码", "代码")),
        Field("name", required=True, aliases=("名称", "区县名称", "xzqmc")),
        # NOT NULL in the table: an empty one keeps the stored name, or takes `name`
        Field("name_en", aliases=("英文名称",), derived=True, fallback="name"),
        Field("population", "int", minimum=0, aliases=("人口", "常住人口")),
        Field("population_basis", choices=("county", "management")),
        Field("population_year", "int", minimum=1900, maximum=2100, aliases=("人口年份",)),
        Field("official_area_km2", "float", positive=True, aliases=("面积", "公布面积")),
        Field("source", aliases=("来源", "数据来源"), derived=True),
        # measured from the geometry; an official figure goes in official_area_km2
        Field("area_km2", "float", derived=True, computed=True),
    ),
)

SUBDISTRICTS = LayerSpec(
    name="subdistricts",
    geometry=("polygon",),
    multi=True,
    fields=(
        Field("code", required=True, pattern=r"[0-9]{9}([0-9]{3})?", pattern_hint="9 or 12 digits",
              aliases=("街镇代码", "乡镇代码", "区划代码", "行政区划代码", "xzqdm", "编码", "代码")),
        Field("name", required=True, aliases=("名称", "街镇名称", "乡镇名称", "xzqmc")),
        Field("name_en", aliases=("英文名称",)),
        Field("kind", choices=_SUB_KIND[0], value_aliases=_SUB_KIND[1], default="street",
              aliases=("类型",)),
        DISTRICT,
        Field("managed_by", aliases=("管理机构", "托管")),
        Field("population", "int", minimum=0, aliases=("人口", "常住人口")),
    ),
)

RISK_UNITS = LayerSpec(
    name="risk_units",
    geometry=("point", "line", "polygon"),
    groups=(("likelihood", "severity", "lec_l", "lec_e", "lec_c"), ("domain", "category")),
    fields=(
        CODE, NAME,
        Field("domain", choices=_DOMAIN[0], value_aliases=_DOMAIN[1], derived=True,
              aliases=("领域",)),
        Field("category", required=True, reference="risk_categories",
              aliases=("类别", "风险类别", "风险类型")),
        DISTRICT, ADDRESS,
        Field("likelihood", "int", minimum=1, maximum=5, aliases=("可能性",)),
        Field("severity", "int", minimum=1, maximum=5, aliases=("严重性", "严重程度")),
        Field("lec_l", "float", one_of=(10, 6, 3, 1, 0.5, 0.2, 0.1), aliases=("l",)),
        Field("lec_e", "float", one_of=(10, 6, 3, 2, 1, 0.5), aliases=("e",)),
        Field("lec_c", "float", one_of=(100, 40, 15, 7, 3, 1), aliases=("c",)),
        Field("major_hazard_source", "bool", default=False, aliases=("重大危险源",)),
        Field("grade", choices=_GRADE[0], value_aliases=_GRADE[1], aliases=("等级", "风险等级")),
        Field("graded_at", "datetime", aliases=("评估时间", "分级时间")),
    ),
)

MONITORING_POINTS = LayerSpec(
    name="monitoring_points",
    geometry=("point",),
    links={"risk_unit_code": ("risk_unit_id", "risk_units")},
    groups=(("kind", "unit"), ("last_value", "last_reading_at")),
    latest=("last_value", "last_reading_at"),
    fields=(
        CODE, NAME,
        Field("kind", required=True, reference="monitoring_kinds", aliases=("监测类型", "类型")),
        # the kind's unit when left out; thresholds and readings are in it
        Field("unit", derived=True, aliases=("单位",)),
        DISTRICT, RISK_UNIT,
        Field("threshold_blue", "float", aliases=("蓝色阈值",)),
        Field("threshold_yellow", "float", aliases=("黄色阈值",)),
        Field("threshold_orange", "float", aliases=("橙色阈值",)),
        Field("threshold_red", "float", aliases=("红色阈值",)),
        Field("installed_on", "date", aliases=("安装日期",)),
        Field("status", choices=_POINT_STATUS[0], value_aliases=_POINT_STATUS[1],
              default="online", aliases=("状态",)),
        Field("last_value", "float", aliases=("最新值",)),
        Field("last_reading_at", "datetime", aliases=("最新时间",)),
    ),
)

SHELTERS = LayerSpec(
    name="shelters",
    geometry=("point",),
    groups=(("total_area_m2", "effective_area_m2"),),
    fields=(
        CODE, NAME,
        Field("class", required=True, choices=_CLASS[0], value_aliases=_CLASS[1],
              aliases=("类别", "场所类别", "避难场所类别")),
        Field("term", choices=_TERM[0], value_aliases=_TERM[1], aliases=("期限",)),
        Field("site_type", choices=_SITE[0], value_aliases=_SITE[1], default="other",
              aliases=("场地类型",)),
        Field("total_area_m2", "float", positive=True, aliases=("总面积", "占地面积")),
        Field("effective_area_m2", "float", required=True, positive=True,
              aliases=("有效面积", "有效避难面积")),
        Field("capacity", "int", minimum=0, aliases=("容纳人数", "可容纳人数")),
        DISTRICT, ADDRESS,
    ),
)

RESOURCES = LayerSpec(
    name="resources",
    geometry=("point",),
    fields=(
        CODE, NAME,
        Field("type", required=True, choices=_RESOURCE[0], value_aliases=_RESOURCE[1],
              aliases=("类型", "资源类型")),
        Field("level", choices=_LEVEL[0], value_aliases=_LEVEL[1], aliases=("级别",)),
        DISTRICT,
        Field("items", "int", minimum=0, aliases=("物资数量",)),
        Field("people", "int", minimum=0, aliases=("人数",)),
        Field("attributes", "json", default={}, aliases=("属性",)),
        ADDRESS,
    ),
)

HIDDEN_DANGERS = LayerSpec(
    name="hidden_dangers",
    geometry=("point",),
    links={"risk_unit_code": ("risk_unit_id", "risk_units")},
    groups=(("status", "found_on", "rectified_on"),),
    fields=(
        CODE, RISK_UNIT,
        Field("title", required=True, aliases=("标题", "隐患名称", "隐患描述", "名称")),
        Field("level", required=True, choices=_DANGER_LEVEL[0], value_aliases=_DANGER_LEVEL[1],
              aliases=("隐患等级", "等级")),
        Field("status", required=True, choices=_DANGER_STATUS[0],
              value_aliases=_DANGER_STATUS[1], aliases=("整改状态", "状态")),
        Field("supervised", "bool", default=False, aliases=("挂牌督办",)),
        Field("found_on", "date", required=True, aliases=("发现日期",)),
        Field("deadline", "date", aliases=("整改期限",)),
        Field("rectified_on", "date", aliases=("整改日期", "整改完成日期")),
        DISTRICT,
    ),
)

# Where a new shelter could go: the proposals of the shelter analysis try these first.
CANDIDATE_SITES = LayerSpec(
    name="candidate_sites",
    geometry=("point",),
    fields=(
        CODE, NAME,
        Field("site_type", choices=_SITE[0], value_aliases=_SITE[1], default="other",
              aliases=("场地类型",)),
        Field("area_m2", "float", positive=True, aliases=("面积", "可用面积")),
        DISTRICT,
    ),
)

# Road classes: the urban classes of CJJ 37-2012 (快速路, 主干路, 次干路, 支路) and the highway
# grades of JTG B01-2014 (高速公路, 一级 … 四级公路), on OpenStreetMap's names.
_ROAD_CLASS = _choices(
    ("motorway", ("高速公路", "高速")), ("trunk", ("快速路", "城市快速路")),
    ("primary", ("主干路", "主干道", "一级公路")), ("secondary", ("次干路", "次干道", "二级公路")),
    ("tertiary", ("支路", "三级公路")), ("residential", ("街巷", "小区道路", "四级公路")),
    ("service", ("内部道路", "专用道路")), ("other", ("其他",)))
# An emergency vehicle's speed where a file gives none (km/h): the lower end of each class's
# design speed (CJJ 37-2012 §3.2: 快速路 60-100, 主干路 40-60, 次干路 30-50, 支路 20-40;
# JTG B01-2014: 高速公路 80-120), as traffic keeps vehicles below it. Give real speeds when
# known.
ROAD_SPEEDS_KMH = {"motorway": 80.0, "trunk": 60.0, "primary": 40.0, "secondary": 30.0,
                   "tertiary": 20.0, "residential": 15.0, "service": 10.0, "other": 15.0}

# The road network that travel times are routed over. Lines only: a MultiLineString whose
# parts join end to end (in their drawn direction) is taken as one line; any other is
# refused (give each part a row of its own), since a one-way road's direction must be kept.
ROADS = LayerSpec(
    name="roads",
    geometry=("line",),
    fields=(
        CODE,
        Field("name", aliases=("名称", "道路名称", "路名")),
        Field("class", choices=_ROAD_CLASS[0], value_aliases=_ROAD_CLASS[1], default="other",
              aliases=("等级", "道路等级", "道路类别", "fclass", "highway")),
        # km/h; by class when empty (ROAD_SPEEDS_KMH)
        Field("speed_kmh", "float", positive=True, maximum=150, derived=True,
              aliases=("速度", "车速", "限速", "设计速度", "speed", "maxspeed")),
        # traffic only the way the line is drawn
        Field("oneway", "bool", default=False, aliases=("单行", "单向", "单行道")),
        DISTRICT,
    ),
)

LAYERS: dict[str, LayerSpec] = {s.name: s for s in (
    DISTRICTS, SUBDISTRICTS, RISK_UNITS, MONITORING_POINTS, SHELTERS, RESOURCES, HIDDEN_DANGERS,
    CANDIDATE_SITES, ROADS)}
# layers imported from a raster, not rows (geodata/importers/population_raster.py)
RASTER_LAYERS = ("population",)


def layer_spec(name: str) -> LayerSpec:
    """The spec of a layer; an unknown name is refused with the list of valid ones."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in LAYERS:
        raise ImportRejected(f"unknown layer {name!r} (--layer): use one of "
                             f"{', '.join([*LAYERS, *RASTER_LAYERS])}")
    return LAYERS[key]


def normalise_header(name: str) -> str:
    """Column names compared without case, surrounding blanks, spaces or hyphens."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


@dataclass
class ColumnMatch:
    """Which file column gives which field; what is left over."""

    columns: dict[str, str]         # field name -> column in the file
    unknown: list[str]              # columns no field takes
    notes: list[str]                # columns passed over for a better-named one


def match_columns(columns: list[str], spec: LayerSpec, truncated: bool = False) -> ColumnMatch:
    """Map a file's columns to the layer's fields by name or alias.

    `truncated`: names cut at 10 characters (shapefiles) also match a field whose name or
    alias they are the unique start of (`district_c` -> district_code).
    """
    names: dict[str, tuple[str, int]] = {}      # header -> (field, rank: 0 = its own name)
    for f in spec.fields:
        if f.computed:
            continue
        for rank, n in enumerate((f.name, *f.aliases)):
            names.setdefault(normalise_header(n), (f.name, rank))
    found: dict[str, list[tuple[int, str]]] = {}
    unknown = []
    for col in columns:
        key = normalise_header(col)
        target = names.get(key)
        if target is None and truncated and len(key) == 10:
            starts = {t[0] for n, t in names.items() if n.startswith(key)}
            target = (starts.pop(), len(names)) if len(starts) == 1 else None
        if target is None:
            unknown.append(col)
        else:
            found.setdefault(target[0], []).append((target[1], col))
    chosen, notes = {}, []
    for name, candidates in found.items():
        # the field's own name wins, then its aliases in the order declared
        ranked = [col for _, col in sorted(candidates, key=lambda c: c[0])]
        chosen[name] = ranked[0]
        if len(ranked) > 1:
            notes.append(f"columns {', '.join(repr(c) for c in ranked)} all give {name}: "
                         f"used {ranked[0]!r}")
    return ColumnMatch(chosen, unknown, notes)
