"""Reading one cell as the type its field declares.

Cells arrive as text (CSV) or as whatever GDAL made of them (ints, floats with NaN for
empty, dates, timestamps). Each parser returns the Python value or raises `BadValue` with
a phrase that completes "<column> <phrase>", e.g. "'12,5' is not a number".
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

# A time without a zone is taken as China Standard Time: the data are Chinese records.
CHINA_TIME = ZoneInfo("Asia/Shanghai")
INT_MAX = 2**31 - 1   # integer columns are 4 bytes

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]0?0:00(?::00(?:\.0+)?)?)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TRUE = {"true", "t", "yes", "y", "1", "是", "有", "√"}
_FALSE = {"false", "f", "no", "n", "0", "否", "无", "×"}


class BadValue(ValueError):
    """A cell that cannot be read as its field's type (message: a phrase for people)."""


def is_missing(value) -> bool:
    """Empty cells: None, NaN/NaT, and blank text."""
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, dict)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def rows_text(n: int, noun: str = "row") -> str:
    """`1 row`, `1,204 rows`."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def shown(value) -> str:
    """A cell as quoted in messages (long values cut)."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "…")


def _plain(value):
    """numpy scalars -> Python scalars."""
    return value.item() if isinstance(value, np.generic) else value


def as_text(value) -> str:
    """Text, stripped; a code stored as a number reads as its digits."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))     # a code stored as a number: 610102.0 -> "610102"
    return str(value).strip()


def _number_text(value) -> str:
    text = str(value).strip().replace("，", ",")
    if _THOUSANDS.fullmatch(text):   # 1,204 -> 1204; "12,5" stays and is refused
        text = text.replace(",", "")
    return text


def as_float(value) -> float:
    """A finite number; `1,204` is read, `12,5` (a decimal comma) is refused."""
    value = _plain(value)
    if isinstance(value, bool):
        raise BadValue(f"{shown(value)} is not a number")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    else:
        try:
            number = float(_number_text(value))
        except ValueError:
            raise BadValue(f"{shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise BadValue(f"{shown(value)} is not a finite number")
    return number


def as_int(value) -> int:
    """A whole number (`300`, `300.0`, `1,204`)."""
    try:
        number = as_float(value)
    except BadValue:
        number = math.nan
    if not number.is_integer():
        raise BadValue(f"{shown(value)} is not a whole number")
    return int(number)


def as_bool(value) -> bool:
    """Yes or no, in the spellings of English and Chinese spreadsheets."""
    value = _plain(value)
    if isinstance(value, bool):
        return value
    key = as_text(value).lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise BadValue(f"{shown(value)} is not yes/no (true/false, 1/0, 是/否)")


def as_date(value) -> dt.date:
    """A calendar date: `2024-03-01`, `2024/3/1`, `20240301`, `2024年3月1日`."""
    value = _plain(value)
    if isinstance(value, dt.datetime) or hasattr(value, "to_pydatetime"):
        moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        if moment.time() != dt.time(0):
            raise BadValue(f"{shown(value)} has a time of day; expected a date (YYYY-MM-DD)")
        return moment.date()
    if isinstance(value, dt.date):
        return value
    text = as_text(value)
    match = _DATE.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    try:
        if match:
            return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise BadValue(f"{shown(value)} is not a date that exists") from None
    raise BadValue(f"{shown(value)} is not a date (YYYY-MM-DD)")


def as_datetime(value) -> dt.datetime:
    """A moment with its zone (China Standard Time when none is given)."""
    value = _plain(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    else:
        text = as_text(value).replace("/", "-")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = dt.datetime.combine(as_date(text), dt.time(0))
            except BadValue:
                raise BadValue(f"{shown(value)} is not a date and time "
                               "(YYYY-MM-DD HH:MM[:SS][+08:00])") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TIME)


def as_json(value) -> dict:
    """A JSON object (a mapping), given as text or already parsed."""
    value = _plain(value)
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        raise BadValue(f"{shown(value)} is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadValue(f"{shown(value)} is not a JSON object ({{\"key\": value, …}})")
    return parsed


PARSERS = {"text": as_text, "int": as_int, "float": as_float, "bool": as_bool,
           "date": as_date, "datetime": as_datetime, "json": as_json}


def parse(field, value):
    """A cell as its field's type, with the field's own limits; raises `BadValue`."""
    result = PARSERS[field.type](value)
    if field.type == "text":
        if field.choices:
            result = choose(field, result)
        if field.pattern and not re.fullmatch(field.pattern, result):
            raise BadValue(f"{shown(result)} is not {field.pattern_hint or field.pattern}")
    elif field.type in ("int", "float"):
        _check_number(field, result)
    return result


def choose(field, text: str) -> str:
    """A vocabulary value in its canonical spelling (case and Chinese words accepted)."""
    key = text.strip().lower()
    for choice in field.choices:
        if key == choice.lower():
            return choice
    if key in field.value_aliases:
        return field.value_aliases[key]
    raise BadValue(f"{shown(text)} is not one of {', '.join(field.choices)}")


def _check_number(field, number) -> None:
    if field.type == "int" and abs(number) > INT_MAX:
        raise BadValue(f"{shown(number)} is too large")
    if field.one_of and not any(math.isclose(number, v) for v in field.one_of):
        raise BadValue(f"{shown(number)} is not one of {', '.join(f'{v:g}' for v in field.one_of)}")
    if field.positive and number <= 0:
        raise BadValue(f"{shown(number)} is not above zero")
    if field.minimum is not None and number < field.minimum:
        raise BadValue(f"{shown(number)} is below {field.minimum:g}")
    if field.maximum is not None and number > field.maximum:
        raise BadValue(f"{shown(number)} is above {field.maximum:g}")
