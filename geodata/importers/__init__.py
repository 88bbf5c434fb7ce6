"""Real data into the map: `import_file(conn, path, layer)`, behind `onemap import`.

A file is read (`reading`), each of its rows checked against the layer's declared fields
(`specs`, `values`, `geometry`) and what the database knows (`context`, `checks`), and
only if every row passes are they loaded, in one transaction (`loading`). Imported rows
are real (`synthetic = false`) and replace the layer's synthetic demonstration rows.
A population raster (`--layer population`) is not rows: `population_raster` takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from geodata.errors import ImportRejected
from geodata.importers.checks import check_rows
from geodata.importers.context import load_city_data
from geodata.importers.geometry import choose_crs, crs_label, is_wgs84, parse_crs_option
from geodata.importers.loading import effects, load_rows, lock_tables
from geodata.importers.population_raster import PopulationReport, import_population
from geodata.importers.reading import read_source
from geodata.importers.specs import LAYERS, RASTER_LAYERS, layer_spec, match_columns
from geodata.importers.values import as_text, is_missing, rows_text

__all__ = ["LAYERS", "RASTER_LAYERS", "ImportReport", "PopulationReport", "RowsRejected",
           "import_file"]


class RowsRejected(ImportRejected):
    """Rows of a file failed their checks; `row_label` says how they are numbered."""

    def __init__(self, message: str, problems, row_label: str):
        super().__init__(message, problems)
        self.row_label = row_label


@dataclass
class ImportReport:
    """What an import did (or, with `dry_run`, would do)."""

    layer: str
    source: str                      # the file's name
    rows_loaded: int
    synthetic_replaced: int
    real_updated: int
    source_crs: str                  # e.g. "EPSG:4490", "GCJ-02"
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The import in plain words, e.g. "loaded 1,204 risk_units from units.gpkg
        (EPSG:4490 → WGS84); replaced 3,176 synthetic rows"."""
        verb = "would load" if self.dry_run else "loaded"
        crs = "WGS84" if self.source_crs in ("EPSG:4326", "OGC:CRS84") else f"{self.source_crs} → WGS84"
        text = f"{verb} {self.rows_loaded:,} {self.layer} from {self.source} ({crs})"
        done = []
        if self.synthetic_replaced:
            done.append(f"{'would replace' if self.dry_run else 'replaced'} "
                        f"{rows_text(self.synthetic_replaced, 'synthetic row')}")
        if self.real_updated:
            done.append(f"{'would update' if self.dry_run else 'updated'} "
                        f"{rows_text(self.real_updated, 'existing row')}")
        return "; ".join([text, *done])


def _risk_unit_codes(table, spec) -> set[str]:
    """The risk-unit codes a file names (looked up in one query, not row by row)."""
    if "risk_unit_code" not in spec.links:
        return set()
    column = match_columns(table.columns, spec, table.truncated_names).columns.get("risk_unit_code")
    if column is None:
        return set()
    return {as_text(r[column]) for r in table.records if not is_missing(r.get(column))}


def import_file(conn: psycopg.Connection, path: str | Path, layer: str, crs: str | None = None,
                dry_run: bool = False,
                progress: Callable[[str], None] | None = None) -> ImportReport | PopulationReport:
    """Check every row of a file and load them all into a layer, or load nothing.

    `crs` (EPSG code, `gcj02`, `bd09`, …) overrides the file's own CRS; a file without one
    is taken as WGS84. Raises `ImportRejected` (`RowsRejected` for bad rows, with every
    problem as (row number, reason)) and then changes nothing. Runs in one transaction of
    `conn`: committed on success unless the caller already holds a transaction open.
    `progress` is told what is being done, for a status line. The `population` layer takes
    a raster instead (`import_population`) and answers a `PopulationReport`.
    """
    if str(layer).strip().lower() in RASTER_LAYERS:
        return import_population(conn, path, crs=crs, dry_run=dry_run, progress=progress)
    say = progress or (lambda message: None)
    spec = layer_spec(layer)
    override = parse_crs_option(crs) if crs is not None else None
    path = Path(path)
    say(f"reading {path.name}")
    table = read_source(path, spec.name)
    source, crs_notes = choose_crs(override, table.crs, path.name)
    label = "EPSG:4326" if is_wgs84(source) else crs_label(source)
    try:
        with conn.transaction():
            if not dry_run:
                lock_tables(conn, spec)
            city = load_city_data(conn, spec.name, _risk_unit_codes(table, spec))
            say(f"checking {rows_text(len(table))}")
            checked = check_rows(table, spec, city, source)
            if checked.problems:
                raise _rejection(path.name, table.row_label, checked.problems)
            planned = effects(conn, spec, [r["code"] for r in checked.rows])
            if not dry_run:
                say(f"loading {rows_text(len(checked.rows))}")
                load_rows(conn, spec, checked, path.name, label, planned)
    except psycopg.Error as exc:
        # the checks should make this unreachable; if not, still a message, not a traceback
        detail = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise ImportRejected(f"the database refused the rows of {path.name}: {detail}; "
                             "nothing was loaded") from exc
    return ImportReport(
        layer=spec.name, source=path.name, rows_loaded=len(checked.rows),
        synthetic_replaced=planned.synthetic_replaced, real_updated=planned.real_updated,
        source_crs=label, dry_run=dry_run, notes=crs_notes + checked.notes + planned.notes)


def _rejection(name: str, row_label: str, problems) -> RowsRejected:
    rows = {n for n, _ in problems if n is not None}
    numbering = ("numbered by line in the file, header = line 1" if row_label == "line"
                 else "numbered by feature, from 1")
    what = f"{rows_text(len(rows), 'bad row')} ({numbering})" if rows else "the file is not usable"
    return RowsRejected(f"{name}: {what}; nothing was loaded", problems, row_label)
