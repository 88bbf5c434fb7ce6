"""Files to rows: GeoPackage, GeoJSON, Shapefile (or a .zip of one) and CSV.

Nothing is judged here beyond what reading needs: every row comes back with its raw
cells, its geometry in the file's own coordinates, and the number the user knows it by
(the line in a CSV file, header = line 1; the feature number, from 1, elsewhere).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyogrio
import shapely
from pyproj import CRS

from geodata.errors import ImportRejected
from geodata.importers.specs import normalise_header
from geodata.importers.values import BadValue, as_float, is_missing

GDAL_SUFFIXES = {".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".json": "GeoJSON",
                 ".shp": "Shapefile", ".zip": "zipped Shapefile"}
SUFFIXES = (*GDAL_SUFFIXES, ".csv")

# CSV coordinate columns, in order of preference (compared after `normalise_header`)
LON_NAMES = ("lon", "lng", "longitude", "long", "x", "point_x", "经度", "东经", "x坐标")
LAT_NAMES = ("lat", "latitude", "y", "point_y", "纬度", "北纬", "y坐标")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")
# UTF-8 (with or without BOM) first; GB18030 reads GBK, the encoding of Excel in China
ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass
class SourceTable:
    """A file's rows as read: raw cells, geometries in the file's CRS, row numbers."""

    name: str
    columns: list[str]
    records: list[dict]
    geometries: list
    row_numbers: list[int]
    row_label: str                       # "line" (CSV) or "feature"
    crs: CRS | None = None               # the file's own CRS, if it has one
    truncated_names: bool = False        # shapefile column names are cut at 10 characters
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def read_source(path: str | Path, layer: str) -> SourceTable:
    """Read a file into a `SourceTable`; a file that cannot be read raises `ImportRejected`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportRejected(f"cannot import {path.name}: the file must be a GeoPackage (.gpkg), "
                             "GeoJSON (.geojson, .json), Shapefile (.shp or .zip) or CSV (.csv)")
    if not path.is_file():
        raise ImportRejected(f"cannot import {path.name}: no such file")
    if suffix == ".csv":
        return read_csv(path)
    return read_gdal(path, layer)


def _unreadable(path: Path, kind: str, detail: str) -> ImportRejected:
    detail = str(detail).replace(str(path), path.name).strip().splitlines()[0]
    return ImportRejected(f"cannot read {path.name} as {kind}: {detail}")


def _pick_layer(path: Path, kind: str, wanted: str) -> tuple[str | None, list[str]]:
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL says why in its own words; any failure means unreadable
        raise _unreadable(path, kind, exc) from exc
    if len(layers) <= 1:
        return (layers[0] if layers else None), []
    if wanted in layers:
        return wanted, [f"{path.name} holds {len(layers)} layers; read the one named {wanted!r}"]
    raise ImportRejected(f"{path.name} holds several layers ({', '.join(layers)}) and none is "
                         f"named {wanted!r}: keep one layer in the file or name it {wanted!r}")


def read_gdal(path: Path, layer: str) -> SourceTable:
    """GeoPackage, GeoJSON, Shapefile (also zipped) through pyogrio."""
    kind = GDAL_SUFFIXES[path.suffix.lower()]
    chosen, notes = _pick_layer(path, kind, layer)
    try:
        frame = pyogrio.read_dataframe(path, layer=chosen)
    except Exception as exc:
        raise _unreadable(path, kind, exc) from exc
    if "geometry" not in frame.columns:
        raise ImportRejected(f"{path.name} has no geometry: it is a table, not a map layer")
    attributes = frame.drop(columns="geometry")
    return SourceTable(
        name=path.name,
        columns=[str(c) for c in attributes.columns],
        records=attributes.astype(object).to_dict("records"),
        geometries=list(frame.geometry.values),
        row_numbers=list(range(1, len(frame) + 1)),
        row_label="feature",
        crs=frame.crs,
        truncated_names=kind.endswith("Shapefile"),
        notes=notes,
    )


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if b"\x00" in raw[:65536]:
        raise ImportRejected(f"cannot read {path.name} as CSV: it is not a text file")
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportRejected(f"cannot read {path.name} as CSV: the text is neither UTF-8 nor GBK")


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _find(headers: list[str], names: tuple[str, ...]) -> str | None:
    keys = {normalise_header(h): h for h in reversed(headers)}
    return next((keys[n] for n in names if n in keys), None)


def read_csv(path: Path) -> SourceTable:
    """A CSV with lon/lat (or WKT) columns; rows numbered by their line in the file."""
    text, encoding = _decode(path, path.read_bytes())
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header: list[str] | None = None
    table = SourceTable(name=path.name, columns=[], records=[], geometries=[], row_numbers=[],
                        row_label="line")
    if encoding != "utf-8-sig":
        table.notes.append(f"{path.name} is not UTF-8: read as GBK (GB18030)")
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue                  # blank lines and Excel's trailing ",,,," rows
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                table.problems.append((start, (f"{len(cells)} values but the header has "
                                              f"{len(header)} columns (an unquoted comma?)")))
            table.row_numbers.append(start)
            table.records.append({h: (cells[i] if i < len(cells) else None)
                                  for i, h in enumerate(header) if h})
    except csv.Error as exc:
        raise ImportRejected(f"cannot read {path.name} as CSV: line {reader.line_num}: {exc}") from exc
    if header is None:
        raise ImportRejected(f"cannot read {path.name} as CSV: the file is empty")
    duplicates = sorted({h for h in header if h and header.count(h) > 1})
    if duplicates:
        raise ImportRejected(f"cannot read {path.name} as CSV: the header repeats "
                             f"{', '.join(repr(d) for d in duplicates)}")
    _csv_geometries(table, [h for h in header if h])
    return table


def _csv_geometries(table: SourceTable, headers: list[str]) -> None:
    """Build each row's geometry from lon/lat or WKT columns, which are then taken out."""
    lon, lat = _find(headers, LON_NAMES), _find(headers, LAT_NAMES)
    wkt = _find(headers, WKT_NAMES)
    if lon and lat:
        used = (lon, lat)
        for number, record in zip(table.row_numbers, table.records):
            table.geometries.append(_point(table, number, record, lon, lat))
    elif wkt:
        used = (wkt,)
        for number, record in zip(table.row_numbers, table.records):
            table.geometries.append(_from_wkt(table, number, record.get(wkt)))
    else:
        raise ImportRejected(
            f"{table.name} has no coordinate columns: give lon and lat (also lng/longitude/x/经度 "
            "and latitude/y/纬度) or a WKT column (wkt, geometry)")
    table.columns = [h for h in headers if h not in used]
    for record in table.records:
        for column in used:
            record.pop(column, None)


def _point(table: SourceTable, number: int, record: dict, lon: str, lat: str):
    x, y = record.get(lon), record.get(lat)
    if is_missing(x) and is_missing(y):
        return None                       # reported as "no geometry" by the checks
    coords = []
    for column, value in ((lon, x), (lat, y)):
        if is_missing(value):
            table.problems.append((number, f"{column} is empty"))
            continue
        try:
            coords.append(as_float(value))
        except BadValue as exc:
            table.problems.append((number, f"{column} {exc}"))
    return shapely.Point(coords) if len(coords) == 2 else None


def _from_wkt(table: SourceTable, number: int, text):
    if is_missing(text):
        return None
    text = re.sub(r"^\s*SRID=\d+;", "", str(text))
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        table.problems.append((number, f"the WKT cannot be read: {str(exc).splitlines()[0]}"))
        return None
