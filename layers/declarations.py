"""The layers of the one map, each declared once: titles, columns, vocabularies, labels.

The service, the tiles and the map page read these declarations and never name a table
of their own: adding a layer is one entry in `LAYERS`. Which of them a database
actually has is decided when the catalogue is built (`layers.catalogue`).

Labels are for people (Chinese first, then English); the vocabularies of fixed values
follow the CHECK constraints of the schema, those of reference tables are read from the
database (`Reference`).
"""

from __future__ import annotations

from layers.layer import Attribute, AttributeType, GeometryType, Layer, Reference


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
_FIRE_KINDS = (("station", "消防站5分钟可达范围", "a station's reach"),
               ("union", "5分钟可达范围（合并）", "reach of all stations"),
               ("outside", "可达范围外的建成区", "built-up land outside the reach"))
_FIRE_METHODS = (("estimate", "估算（直线距离×绕行系数/车速）", "estimate"),
                 ("network", "路网", "road network"))
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
# What every area-risk view holds besides its key and name: the units counted per grade,
# the worst of them (filterable with the grade vocabulary) and the weighted index.
_AREA_RISK = (
    _attr("red", "integer", "红色风险单元数", "Red units"),
    _attr("orange", "integer", "橙色风险单元数", "Orange units"),
    _attr("yellow", "integer", "黄色风险单元数", "Yellow units"),
    _attr("blue", "integer", "蓝色风险单元数", "Blue units"),
    _attr("total", "integer", "风险单元总数", "Units in all"),
    _attr("worst_grade", "string", "最高风险等级", "Worst grade", GRADES),
    _attr("weighted_score", "number", "加权风险值", "Weighted score"),
    _attr("area_km2", "number", "面积（平方千米）", "Area (km²)"),
    _attr("risk_index", "number", "风险指数（每平方千米）", "Risk index (per km²)"),
)
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
        time_column="last_reading_at", read_from="monitoring_points_now",
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
    # Derived by the shelter analysis (migration 008; layers/shelters/gaps.py).
    Layer(
        name="shelter_gaps", table="shelter_gaps", title="避难场所覆盖缺口",
        title_en="Shelter gaps",
        description="步行范围内没有避难位置的居民（考虑容量；300 米块聚合，按街镇切分）。"
                    "Residents with no place in a shelter within walking range (capacity "
                    "counted; 300 m blocks, cut along sub-districts).",
        id_column="id", geometry_types=_POLYGONAL, minzoom=8, maxzoom=16,
        attributes=(
            _DISTRICT,
            _attr("subdistrict_code", "string", "所属街镇代码", "Sub-district code",
                  reference=Reference("subdistricts", "code")),
            _attr("residents", "integer", "无避难位置人口", "Residents without a place"),
            _attr("area_km2", "number", "面积（平方千米）", "Area (km²)"),
            _attr("built_at", "datetime", "计算时间", "Built at"), _SYNTHETIC,
        ),
    ),
    Layer(
        name="candidate_sites", table="candidate_sites", title="避难场所备选场地",
        title_en="Candidate shelter sites",
        description="可建设避难场所的公园、广场、学校操场等（导入）。"
                    "Parks, squares and school grounds where a shelter could go (imported).",
        id_column="id", geometry_types=_POINT, minzoom=10, maxzoom=18,
        attributes=(
            _CODE, _NAME, _attr("site_type", "string", "场地类型", "Site type", _SITE_TYPES),
            _attr("area_m2", "number", "可用面积（平方米）", "Usable area (m²)"), _DISTRICT,
            _SYNTHETIC,
        ),
    ),
    # Derived from the fire stations and the population (migration 009;
    # layers/commander/fire_layer.py).
    Layer(
        name="fire_coverage", table="fire_coverage", title="消防5分钟可达范围",
        title_en="Fire-station 5-minute reach",
        description="接到出动指令后5分钟内消防队可到达的范围（GB 51080-2015 第4.1.3条）："
                    "各站、合并范围、范围外的建成区。Where fire crews arrive within 5 minutes "
                    "of dispatch (GB 51080-2015 §4.1.3): each station, their union, and the "
                    "built-up land outside it.",
        id_column="id", geometry_types=_POLYGONAL, minzoom=8, maxzoom=16,
        attributes=(
            _attr("kind", "string", "类型", "Kind", _FIRE_KINDS),
            _attr("station_id", "integer", "消防站", "Fire station"), _DISTRICT,
            _attr("residents", "integer", "人口", "Residents"),
            _attr("area_km2", "number", "面积（平方千米）", "Area (km²)"),
            _attr("method", "string", "计算方法", "Method", _FIRE_METHODS),
            _attr("response_s", "number", "响应时间（秒）", "Response time (s)"),
            _attr("built_at", "datetime", "计算时间", "Built at"), _SYNTHETIC,
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
            _attr("kind", "string", "监测类型", "Kind",
                  reference=Reference("monitoring_kinds", "kind")),
            _attr("grade", "string", "预警等级", "Grade", GRADES),
            _attr("state", "string", "处置状态", "State", _ALARM_STATES),
            _attr("value", "number", "监测值", "Value"),
            _attr("peak_value", "number", "峰值", "Peak value"),
            _attr("reason", "string", "预警原因", "Reason"),
            _attr("reading_at", "datetime", "读数时间", "Reading at"),
            _attr("raised_at", "datetime", "预警时间", "Raised at"),
            _attr("escalated_at", "datetime", "升级时间", "Escalated at"),
            _attr("acknowledged_at", "datetime", "确认时间", "Acknowledged at"),
            _attr("acknowledged_by", "string", "确认人", "Acknowledged by"),
            _attr("closed_at", "datetime", "关闭时间", "Closed at"),
            _attr("closed_by", "string", "关闭人", "Closed by"),
            _attr("note", "string", "处置说明", "Note"), _DISTRICT, _SYNTHETIC,
        ),
    ),
    # Area risk (migration 004): materialized views counting the graded units per area,
    # refreshed by every grading run; read like tables.
    Layer(
        name="area_risk_districts", table="area_risk_districts", title="区县风险汇总",
        title_en="District risk summary",
        description="各区县风险单元分级统计、最高等级与风险指数（每次分级后更新）。"
                    "Risk units per grade, worst grade and risk index of each district.",
        id_column="code", geometry_types=_POLYGONAL, minzoom=5, maxzoom=14,
        attributes=(_attr("code", "string", "行政区划代码", "Division code"), _NAME, _NAME_EN,
                    *_AREA_RISK),
    ),
    Layer(
        name="area_risk_subdistricts", table="area_risk_subdistricts", title="街镇风险汇总",
        title_en="Sub-district risk summary",
        description="各街道（乡镇）风险单元分级统计、最高等级与风险指数（每次分级后更新）。"
                    "Risk units per grade, worst grade and risk index of each sub-district.",
        id_column="code", geometry_types=_POLYGONAL, minzoom=8, maxzoom=16,
        attributes=(_CODE, _NAME, _DISTRICT, *_AREA_RISK),
    ),
    Layer(
        name="area_risk_grid", table="area_risk_grid", title="网格风险汇总",
        title_en="Grid risk summary",
        description="2 千米网格（CGCS2000 高斯-克吕格 108°E）风险单元分级统计与风险指数，"
                    "仅含有风险单元的网格（每次分级后更新）。Risk units per grade in 2 km cells "
                    "that hold units; a cell's id is its lower-left corner in km.",
        # the id ("216_3794") is text and not a property of its own
        id_column="id", id_column_type="string", geometry_types=("Polygon",), minzoom=8,
        maxzoom=16, attributes=_AREA_RISK,
    ),
)
