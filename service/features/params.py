"""Query parameters of the feature requests, parsed into small frozen dataclasses.

Everything here works on the raw `(name, value)` pairs of a query string and the layer's
declaration, so it is tested without HTTP. Every refusal is an `InvalidParameter` naming
the parameter (the service answers 400 with its message): a client mistake never reaches
the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from layers.catalogue import QUERY_ALIASES, QUERYABLE_COLUMNS, Attribute, Layer
from service.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Longitude first: the bbox is read as given.
CRS84_NAMES = frozenset({CRS84, "CRS84", "OGC:CRS84", "[OGC:CRS84]",
                         "https://www.opengis.net/def/crs/OGC/1.3/CRS84"})
# EPSG:4326 states latitude first; OGC API - Features reads a bbox in the axis order of
# its bbox-crs, so these boxes are swapped to longitude first.
EPSG4326_NAMES = frozenset({"http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326",
                            "[EPSG:4326]", "https://www.opengis.net/def/crs/EPSG/0/4326"})
FORMATS = ("json", "csv")
# What the items request takes besides the layer's attribute filters.
ITEMS_PARAMETERS = ("limit", "offset", "bbox", "bbox-crs", "datetime", "properties", "f", "crs")
ITEM_PARAMETERS = ("f", "crs")
MAX_OFFSET = 2 ** 53  # beyond any table; keeps OFFSET a plain bigint
GRADE_GROUPINGS = {"district": "district_code", "category": "category", "domain": "domain"}

_UNSIGNED = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})?")


@dataclass(frozen=True)
class BBox:
    """A box in CRS84 (longitude, latitude); west > east crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    def envelopes(self) -> tuple[tuple[float, float, float, float], ...]:
        """The box as one or two (west, south, east, north) boxes that do not cross ±180°."""
        if self.west <= self.east:
            return ((self.west, self.south, self.east, self.north),)
        return ((self.west, self.south, 180.0, self.north),
                (-180.0, self.south, self.east, self.north))


@dataclass(frozen=True)
class Interval:
    """A time interval; a None end is open. A date bound stands for its whole day (UTC)."""

    start: date | datetime | None
    end: date | datetime | None


@dataclass(frozen=True)
class AttributeFilter:
    """Features whose `column` holds any of `values`."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ItemsQuery:
    """What a request for features asks: one page, filtered, in one format."""

    limit: int
    offset: int = 0
    bbox: BBox | None = None
    interval: Interval | None = None
    filters: tuple[AttributeFilter, ...] = ()
    properties: tuple[str, ...] | None = None   # None: every attribute
    format: str = "json"


@dataclass(frozen=True)
class GradeStatsQuery:
    """What a request for grade statistics asks: the grouping, filters, format."""

    by: str
    column: str
    filters: tuple[AttributeFilter, ...] = ()
    bbox: BBox | None = None
    format: str = "json"


def _short(value: str, length: int = 40) -> str:
    """`value` quoted for a message, cut when long (messages echo what clients send)."""
    return repr(value if len(value) <= length else value[:length] + "…")


class _Parameters:
    """The request's parameters, each given at most once and each one known."""

    def __init__(self, pairs: Iterable[tuple[str, str]], allowed: Iterable[str],
                 refusals: dict[str, str] | None = None):
        self.values: dict[str, str] = {}
        allowed = list(dict.fromkeys(allowed))
        unknown = []
        for name, value in pairs:
            if name in (refusals or {}):
                raise InvalidParameter(name, refusals[name])
            if name not in allowed:
                unknown.append(name)
            elif name in self.values:
                raise InvalidParameter(name, "is given more than once")
            else:
                self.values[name] = value
        if unknown:
            names = ", ".join(repr(n) for n in dict.fromkeys(unknown))
            raise InvalidParameter(unknown[0], f"unknown parameter {names}; this request takes "
                                               f"{', '.join(allowed)}")

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    """The page size: `default` when absent, capped at `maximum` (not an error)."""
    if value is None:
        return default
    if not _UNSIGNED.fullmatch(value) or not value.strip("0"):
        raise InvalidParameter("limit", f"must be a positive integer, got {_short(value)}")
    if len(value.lstrip("0")) > len(str(maximum)):  # no int() of a huge string: capped anyway
        return maximum
    return min(int(value), maximum)


def parse_offset(value: str | None) -> int:
    """How many matching features to skip (0 when absent)."""
    if value is None:
        return 0
    if not _UNSIGNED.fullmatch(value):
        raise InvalidParameter("offset", f"must be an integer of 0 or more, got {_short(value)}")
    if len(value.lstrip("0")) > len(str(MAX_OFFSET)) or int(value) > MAX_OFFSET:
        raise InvalidParameter("offset", f"is too large (at most {MAX_OFFSET})")
    return int(value)


def parse_bbox(value: str | None, crs: str | None = None) -> BBox | None:
    """`minx,miny,maxx,maxy` (or 6 numbers with heights) in CRS84 or EPSG:4326.

    Coordinates beyond the world are clamped to it: a client zoomed out far sends boxes
    such as -250,-100,250,100, which mean "everything".
    """
    if crs is not None and crs not in CRS84_NAMES | EPSG4326_NAMES:
        raise InvalidParameter("bbox-crs", f"unsupported CRS {_short(crs)}; use {CRS84} "
                                           "or http://www.opengis.net/def/crs/EPSG/0/4326")
    if value is None:
        if crs is not None:
            raise InvalidParameter("bbox-crs", "is given without bbox")
        return None
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter("bbox", f"needs 4 numbers (minx,miny,maxx,maxy) or 6, "
                                       f"got {len(parts)} value(s) in {_short(value)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter("bbox", f"needs numbers, got {_short(value)}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter("bbox", f"needs finite numbers, got {_short(value)}")
    if len(numbers) == 6:  # minx, miny, minz, maxx, maxy, maxz: heights are not used
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    x1, y1, x2, y2 = numbers
    if crs in EPSG4326_NAMES:
        x1, y1, x2, y2 = y1, x1, y2, x2
    if y1 > y2:
        raise InvalidParameter("bbox", "its minimum latitude is above its maximum in "
                                       f"{_short(value)}")
    if x2 - x1 >= 360:
        x1, x2 = -180.0, 180.0
    clamp = lambda v, limit: max(-limit, min(limit, v))
    return BBox(clamp(x1, 180), clamp(y1, 90), clamp(x2, 180), clamp(y2, 90))


def _parse_instant(text: str, parameter: str) -> date | datetime:
    """An RFC 3339 date or date-time with a time zone."""
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidParameter(parameter, f"{_short(text)} is not a valid date") from None
    match = _DATETIME.fullmatch(text)
    if not match:
        raise InvalidParameter(parameter, f"{_short(text)} is not an RFC 3339 date or date-time "
                                          "(e.g. 2024-05-01 or 2024-05-01T08:00:00Z), "
                                          "nor an interval start/end")
    if match["zone"] is None:
        # refused rather than guessed: UTC and Beijing time differ by 8 hours
        raise InvalidParameter(parameter, f"{_short(text)} has no time zone: add Z or an offset "
                                          "such as +08:00")
    zone = "+00:00" if match["zone"] in "Zz" else match["zone"]
    fraction = f".{(match['fraction'] or '')[:6].ljust(6, '0')}" if match["fraction"] else ""
    try:
        return datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{zone}")
    except ValueError:
        raise InvalidParameter(parameter, f"{_short(text)} is not a valid date-time") from None


def _as_moment(value: date | datetime, end: bool) -> datetime:
    """A bound as a UTC moment, a date standing for the start (or end) of its day."""
    if isinstance(value, datetime):
        return value
    moment = datetime.combine(value, time(0), UTC)
    return moment + timedelta(days=1) if end else moment


def parse_datetime(value: str | None, layer: Layer) -> Interval | None:
    """An instant, `start/end`, `../end` or `start/..` (an empty end is open too)."""
    if value is None:
        return None
    if layer.time_column is None:
        raise InvalidParameter("datetime", f"layer {layer.name!r} has no time attribute "
                                           "to filter on")
    parts = value.split("/")
    if len(parts) > 2:
        raise InvalidParameter("datetime", f"{_short(value)} has more than one '/'")
    if len(parts) == 1:
        if value in ("", ".."):
            raise InvalidParameter("datetime",
                                   f"{_short(value)} is neither an instant nor an interval")
        instant = _parse_instant(value, "datetime")
        return Interval(instant, instant)
    start, end = (None if p in ("", "..") else _parse_instant(p, "datetime") for p in parts)
    if start is not None and end is not None and \
            _as_moment(start, end=False) > _as_moment(end, end=True):
        raise InvalidParameter("datetime", f"the interval {_short(value)} ends before it starts")
    return Interval(start, end)


def _filter_names(layer: Layer) -> dict[str, Attribute]:
    """Parameter name -> attribute, for the layer's queryable attributes and their aliases."""
    names = {a.name: a for a in layer.queryables}
    for alias, column in QUERY_ALIASES.items():
        if column in names:
            names[alias] = names[column]
    return names


def _absent_filters(layer: Layer, names: Iterable[str]) -> dict[str, str]:
    """Why each queryable name this layer lacks is refused (a clearer 400 than 'unknown')."""
    everywhere = {*QUERYABLE_COLUMNS, *QUERY_ALIASES}
    offered = ", ".join(names) or "none"
    return {name: f"layer {layer.name!r} has no attribute {name!r} to filter on; "
                  f"its filters: {offered}" for name in everywhere - set(names)}


def parse_filter(name: str, value: str, attribute: Attribute) -> AttributeFilter:
    """`value` as a comma list of values of `attribute` (any of them matches)."""
    values = tuple(v.strip() for v in value.split(","))
    if any(v == "" for v in values):
        raise InvalidParameter(name, f"has an empty value in {_short(value)}")
    if attribute.values:
        bad = [v for v in values if v not in attribute.values]
        if bad:
            raise InvalidParameter(name, f"{_short(bad[0])} is not a valid "
                                         f"{attribute.title_en.lower()}; use one of "
                                         f"{', '.join(attribute.values)}")
    return AttributeFilter(attribute.name, tuple(dict.fromkeys(values)))


def _parse_filters(parameters: _Parameters,
                   names: dict[str, Attribute]) -> tuple[AttributeFilter, ...]:
    filters: dict[str, AttributeFilter] = {}
    for name, attribute in names.items():
        if (value := parameters.get(name)) is None:
            continue
        if attribute.name in filters:  # `district` and `district_code` both given
            raise InvalidParameter(name, f"filters {attribute.name!r}, which another "
                                         "parameter filters already")
        filters[attribute.name] = parse_filter(name, value, attribute)
    return tuple(filters.values())


def parse_properties(value: str | None, layer: Layer) -> tuple[str, ...] | None:
    """The attributes to return, in the order given (empty: none; None: all)."""
    if value is None:
        return None
    if value == "":
        return ()
    names = tuple(dict.fromkeys(p.strip() for p in value.split(",")))
    declared = [a.name for a in layer.attributes]
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise InvalidParameter("properties", f"layer {layer.name!r} has no property "
                                             f"{_short(unknown[0])}; its properties: "
                                             f"{', '.join(declared)}")
    return names


def parse_format(value: str | None, formats: Sequence[str] = FORMATS) -> str:
    """The output format (`json` when absent)."""
    if value is None:
        return formats[0]
    if value not in formats:
        raise InvalidParameter("f", f"unsupported format {_short(value)}; "
                                    f"use {' or '.join(formats)}")
    return value


def parse_crs(value: str | None) -> None:
    """Only CRS84 is served: other output CRSs (Part 2) are refused."""
    if value is not None and value not in CRS84_NAMES:
        raise InvalidParameter("crs", f"unsupported CRS {_short(value)}; "
                                      f"features are served in {CRS84}")


def parse_items(pairs: Iterable[tuple[str, str]], layer: Layer, default_limit: int,
                max_limit: int) -> ItemsQuery:
    """The items request for `layer` from its query parameters."""
    names = _filter_names(layer)
    parameters = _Parameters(pairs, [*ITEMS_PARAMETERS, *names], _absent_filters(layer, names))
    parse_crs(parameters.get("crs"))
    return ItemsQuery(
        limit=parse_limit(parameters.get("limit"), default_limit, max_limit),
        offset=parse_offset(parameters.get("offset")),
        bbox=parse_bbox(parameters.get("bbox"), parameters.get("bbox-crs")),
        interval=parse_datetime(parameters.get("datetime"), layer),
        filters=_parse_filters(parameters, names),
        properties=parse_properties(parameters.get("properties"), layer),
        format=parse_format(parameters.get("f")),
    )


def parse_item(pairs: Iterable[tuple[str, str]]) -> str:
    """The format of a single-feature request (its only parameters are `f` and `crs`)."""
    parameters = _Parameters(pairs, ITEM_PARAMETERS)
    parse_crs(parameters.get("crs"))
    return parse_format(parameters.get("f"), ("json",))


def parse_grade_stats(pairs: Iterable[tuple[str, str]], layer: Layer) -> GradeStatsQuery:
    """`by`, the attribute filters of `layer`, `bbox` and `f` of a grade statistics request."""
    names = _filter_names(layer)
    parameters = _Parameters(pairs, ["by", "f", "bbox", "bbox-crs", *names],
                             _absent_filters(layer, names))
    by = parameters.get("by") or "district"
    if by not in GRADE_GROUPINGS:
        raise InvalidParameter("by", f"cannot group by {_short(by)}; use one of "
                                     f"{', '.join(GRADE_GROUPINGS)}")
    return GradeStatsQuery(
        by=by, column=GRADE_GROUPINGS[by], filters=_parse_filters(parameters, names),
        bbox=parse_bbox(parameters.get("bbox"), parameters.get("bbox-crs")),
        format=parse_format(parameters.get("f")),
    )


def as_bounds(interval: Interval, column_type: str) -> tuple[object | None, object | None, bool]:
    """The interval as (lower, upper, upper_inclusive) values of a column of that type.

    For a date column a bound becomes the day it falls in (a day is in the interval when
    the two overlap); for a time stamp, a date end bound becomes the next midnight, not
    included, so that `../2024-05-01` takes the whole of 1 May.
    """
    start, end = interval.start, interval.end
    if column_type == "date":
        as_day = lambda v: v.astimezone(UTC).date() if isinstance(v, datetime) else v
        return (None if start is None else as_day(start),
                None if end is None else as_day(end), True)
    lower = None if start is None else _as_moment(start, end=False)
    upper = None if end is None else _as_moment(end, end=True)
    return lower, upper, isinstance(end, datetime)
