"""Every row checked before anything is written, every problem collected.

A row passes when its geometry is present, valid, of the layer's type and inside the
city; its required fields are filled and every value parses; its codes are known; and
the table's CHECK constraints hold for it. Problems are (row number, reason) pairs, the
row number being the one the user knows (None: the whole file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from geodata.datums import SourceCRS, project_to_local
from geodata.importers.context import CityData
from geodata.importers.geometry import fit_type, shape_problem
from geodata.importers.reading import SourceTable
from geodata.importers.specs import (
    ROAD_SPEEDS_KMH,
    LayerSpec,
    match_columns,
    normalise_header,
)
from geodata.importers.values import BadValue, is_missing, parse, rows_text

Problem = tuple[int | None, str]
REFERENCE_WORDS = {"districts": "a district", "risk_categories": "a risk category",
                   "monitoring_kinds": "a monitoring kind"}


@dataclass
class CheckedRows:
    """Rows ready to load: values of the fields to write and WGS84 geometries."""

    written: list[str]               # the fields every row carries a value for
    rows: list[dict] = field(default_factory=list)
    geometries: list = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Row:
    number: int
    values: dict
    failed: set = field(default_factory=set)       # fields whose cell could not be read
    problems: list[str] = field(default_factory=list)


def check_rows(table: SourceTable, spec: LayerSpec, city: CityData, source: SourceCRS) -> CheckedRows:
    """Check every row of a file for a layer; returns the rows and all problems found."""
    match = match_columns(table.columns, spec, truncated=table.truncated_names)
    out = CheckedRows(written=_written_fields(spec, set(match.columns)))
    out.problems.extend(table.problems)
    out.notes.extend(table.notes + match.notes)
    if match.unknown:
        out.notes.append(f"columns not used (no such field in {spec.name}): "
                         + ", ".join(match.unknown))
    if len(table) == 0:
        out.problems.append((None, f"{table.name} holds no rows"))
    for f in spec.fields:
        if f.required and not f.derived and f.name not in match.columns:
            names = ", ".join((f.name, *f.aliases))
            out.problems.append((None, (f"no column for {f.name}, which is required "
                                       f"(accepted names: {names})")))
    if spec.extent == "city" and not city.extent.codes:
        out.problems.append((None, ("the database holds no districts: import them first "
                                   "(onemap import --layer districts)")))

    labels = {name: (col if normalise_header(col) == name else f"{col} ({name})")
              for name, col in match.columns.items()}
    rows = [_read_cells(spec, match.columns, labels, number, record)
            for number, record in zip(table.row_numbers, table.records)]
    geoms = _check_geometries(table, spec, city, source, rows, out.notes)
    _check_references(spec, city, rows, labels)
    _derive_districts(spec, city, rows, geoms, out.notes)
    for row in rows:
        for rule in RULES.get(spec.name, ()):
            row.problems.extend(rule(row, city, labels))
    _check_duplicates(rows, table.row_label)
    on_synthetic = sum(bool(city.risk_units.get(r.values.get("risk_unit_code"))) for r in rows)
    if on_synthetic:
        out.notes.append(f"rows pointing at synthetic risk units: {on_synthetic:,}; import real risk "
                         "units with the same codes, or those cannot replace the synthetic ones")
    if spec.name == "districts":
        _measure_areas(rows, geoms, table.name)

    reported = {n for n, _ in out.problems}
    for row, geom in zip(rows, geoms):
        out.problems.extend((row.number, p) for p in row.problems)
        if not row.problems and row.number not in reported:
            out.rows.append(_complete(spec, out.written, row.values))
            out.geometries.append(geom)
    out.problems.sort(key=lambda p: -1 if p[0] is None else p[0])
    return out


def _written_fields(spec: LayerSpec, present: set[str]) -> list[str]:
    """Fields in the file, fields worked out by the importer, and their groups."""
    chosen = {f.name for f in spec.fields if f.name in present or f.derived}
    for group in spec.groups:
        if chosen & set(group):
            chosen |= set(group)
    return [f.name for f in spec.fields if f.name in chosen]


def _read_cells(spec, columns, labels, number, record) -> _Row:
    row = _Row(number, {})
    for name, column in columns.items():
        f = spec.field(name)
        raw = record.get(column)
        if is_missing(raw):
            if f.required and not f.derived:
                row.problems.append(f"{labels[name]} is empty; it is required")
            continue
        try:
            row.values[name] = parse(f, raw)
        except BadValue as exc:
            row.failed.add(name)
            row.problems.append(f"{labels[name]} {exc}")
    return row


def _complete(spec: LayerSpec, written: list[str], values: dict) -> dict:
    """The row's value for every written field, empty ones taking the column default."""
    out = {}
    for name in written:
        value = values.get(name)
        if value is None:
            default = spec.field(name).default
            value = dict(default) if isinstance(default, dict) else default
        out[name] = value
    return out


def _point_text(xy) -> str:
    x, y = xy
    return f"({x:.6f}, {y:.6f})" if abs(x) <= 360 and abs(y) <= 360 else f"({x:.1f}, {y:.1f})"


def _check_geometries(table, spec, city, source, rows, notes) -> list:
    """Each row's geometry in WGS84 (None when unusable; the row then has a problem)."""
    read_problems = {n for n, _ in table.problems}
    fitted: dict[int, object] = {}
    if any(g is not None and shapely.has_z(g) for g in table.geometries):
        notes.append("Z coordinates dropped (the map is 2D)")
    for i, (row, geom) in enumerate(zip(rows, table.geometries)):
        reason = shape_problem(geom)
        if reason is None:
            geom, reason = fit_type(shapely.force_2d(geom), spec)
        if reason is None:
            fitted[i] = geom
        elif not (reason == "no geometry" and row.number in read_problems):
            row.problems.append(reason)
    result: list = [None] * len(rows)
    if not fitted:
        return result
    index = list(fitted)
    wgs = source.geometries_to_wgs84([fitted[i] for i in index])
    inside = city.extent.inside(wgs)
    outside = [k for k, ok in enumerate(inside) if not ok]
    if outside and (city.extent.codes or city.extent.area is None):
        raw = np.array([shapely.get_coordinates(fitted[index[k]])[0] for k in outside]).reshape(-1, 2)
        hint = city.extent.crs_hint(source, raw)
        for k, xy in zip(outside, raw):
            where = ("is not longitude/latitude" if city.extent.area is None
                     else city.extent.description)
            rows[index[k]].problems.append(
                f"outside the city: {_point_text(xy)} is {where}" + (f"; {hint}" if hint else ""))
    for k, i in enumerate(index):
        if inside[k]:
            result[i] = wgs[k]
    return result


def _check_references(spec, city, rows, labels) -> None:
    """Codes (or names) that must name a row of a reference table; replaced by the code."""
    for f in spec.fields:
        if f.reference is None:
            continue
        for row in rows:
            given = row.values.get(f.name)
            if given is None:
                continue
            if f.reference == "risk_units":     # too many to list; looked up per file
                if given not in city.risk_units:
                    row.problems.append(f"{labels[f.name]} {given!r} is not a risk unit in "
                                        "the database")
                continue
            vocabulary = city.vocabulary(f.reference)
            code = vocabulary.resolve(given)
            if code is None:
                row.failed.add(f.name)
                row.problems.append(f"{labels[f.name]} {given!r} is not {REFERENCE_WORDS[f.reference]} "
                                    f"in the database (known: {vocabulary.listing()})")
            else:
                row.values[f.name] = code


def _derive_districts(spec, city, rows, geoms, notes) -> None:
    """Rows without a district_code get the district they lie in."""
    if not spec.has("district_code"):
        return
    derive = [i for i, row in enumerate(rows) if row.values.get("district_code") is None
              and "district_code" not in row.failed and geoms[i] is not None]
    if derive:
        for i, code in zip(derive, city.extent.district_of([geoms[i] for i in derive])):
            rows[i].values["district_code"] = code
        notes.append(f"district_code worked out from the location for {rows_text(len(derive))}")


def _check_duplicates(rows: list[_Row], label: str) -> None:
    where: dict[str, list[_Row]] = {}
    for row in rows:
        code = row.values.get("code")
        if code is not None:
            where.setdefault(code, []).append(row)
    for code, same in where.items():
        if len(same) > 1:
            numbers = ", ".join(str(r.number) for r in same)
            for row in same:
                row.problems.append(f"code {code!r} is not unique: it is on {label}s {numbers}")


def _measure_areas(rows, geoms, file_name) -> None:
    """Districts carry their measured area (CGCS2000 Gauss-Krüger, km²) and a source."""
    for row, geom in zip(rows, geoms):
        if geom is not None:
            row.values["area_km2"] = float(shapely.area(project_to_local([geom])[0]) / 1e6)
        row.values.setdefault("source", file_name)


# -- per-layer rules: vocabularies from tables and the tables' CHECK constraints ---------
def _risk_unit_rules(row: _Row, city: CityData, labels) -> list[str]:
    v, out = row.values, []
    if (code := v.get("category")) is not None and "category" not in row.failed:
        domain = city.risk_categories.codes[code]["domain"]
        if v.get("domain") not in (None, domain):
            out.append(f"category {code} belongs to domain {domain}, not {v['domain']}")
        v["domain"] = domain
    grading = ("likelihood", "severity", "lec_l", "lec_e", "lec_c")
    if row.failed & set(grading):
        return out
    matrix = [v.get(n) is not None for n in grading[:2]]
    lec = [v.get(n) is not None for n in grading[2:]]
    if any(matrix) and not all(matrix):
        out.append("likelihood and severity go together: give both")
    if any(lec) and not all(lec):
        out.append("lec_l, lec_e and lec_c go together: give all three")
    if not any(matrix) and not any(lec):
        out.append("no grading inputs: give likelihood and severity (risk matrix) "
                   "or lec_l, lec_e and lec_c (LEC)")
    return out


def _monitoring_rules(row: _Row, city: CityData, labels) -> list[str]:
    v = row.values
    if not row.failed & {"last_value", "last_reading_at"} and (
            (v.get("last_value") is None) != (v.get("last_reading_at") is None)):
        return [("last_value and last_reading_at go together: a latest reading needs both "
                 "its value and its time")]
    if (code := v.get("kind")) is None or "kind" in row.failed:
        return []
    unit = city.monitoring_kinds.codes[code]["unit"]
    given = v.get("unit")
    if given is not None and given.lower() != unit.lower() and "unit" not in row.failed:
        return [(f"{labels['unit']} {given!r} is not the unit of {code} ({unit}); "
                f"thresholds and readings must be in {unit}")]
    v["unit"] = unit
    return []


def _shelter_rules(row: _Row, city: CityData, labels) -> list[str]:
    total, effective = row.values.get("total_area_m2"), row.values.get("effective_area_m2")
    if total is not None and effective is not None and effective > total:
        return [f"effective_area_m2 ({effective:g}) is larger than total_area_m2 ({total:g})"]
    return []


def _hidden_danger_rules(row: _Row, city: CityData, labels) -> list[str]:
    v, out = row.values, []
    status, found, done = v.get("status"), v.get("found_on"), v.get("rectified_on")
    if row.failed & {"status", "found_on", "rectified_on"}:
        return out
    if status == "rectified" and done is None:
        out.append("status is rectified but rectified_on is empty")
    if status == "open" and done is not None:
        out.append("status is open but rectified_on is given")
    if found is not None and done is not None and done < found:
        out.append(f"rectified_on ({done}) is before found_on ({found})")
    return out


def _road_rules(row: _Row, city: CityData, labels) -> list[str]:
    """A road without a speed drives at its class's (ROAD_SPEEDS_KMH)."""
    v = row.values
    if v.get("speed_kmh") is None and not row.failed & {"speed_kmh", "class"}:
        v["speed_kmh"] = ROAD_SPEEDS_KMH[v.get("class") or "other"]
    return []


RULES = {
    "risk_units": (_risk_unit_rules,),
    "monitoring_points": (_monitoring_rules,),
    "shelters": (_shelter_rules,),
    "hidden_dangers": (_hidden_danger_rules,),
    "roads": (_road_rules,),
}
