"""What the database already knows that rows are checked against.

Read once per import, inside its transaction: the districts (codes, names, boundaries),
the risk categories and monitoring kinds, and which of the risk units a file names exist.
Vocabularies from tables also accept their Chinese and English names as values
(`燃气管网` for gas_pipeline, `碑林区` for 610103).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import shapely
from psycopg.rows import dict_row

from geodata.importers.geometry import CityExtent


@dataclass
class Vocabulary:
    """Codes of a reference table and the names that stand for them."""

    codes: dict[str, dict]                            # code -> its row
    names: dict[str, str] = field(default_factory=dict)   # lower-case name -> code

    def resolve(self, value: str) -> str | None:
        """The code a value stands for (the code itself, any case, or a name), or None."""
        if value in self.codes:
            return value
        key = value.strip().lower()
        return self.names.get(key) or next((c for c in self.codes if c.lower() == key), None)

    def listing(self, limit: int = 15) -> str:
        """The codes, for messages."""
        codes = list(self.codes)
        more = f", … ({len(codes)} in all)" if len(codes) > limit else ""
        return ", ".join(codes[:limit]) + more


@dataclass
class CityData:
    """The database's side of the checks."""

    districts: Vocabulary
    district_shapes: dict[str, object]
    risk_categories: Vocabulary
    monitoring_kinds: Vocabulary
    risk_units: dict[str, bool]                 # code -> synthetic, for the codes a file names
    extent: CityExtent

    def vocabulary(self, table: str) -> Vocabulary:
        """The vocabulary of a reference table by its name."""
        return {"districts": self.districts, "risk_categories": self.risk_categories,
                "monitoring_kinds": self.monitoring_kinds}[table]


def _vocabulary(conn: psycopg.Connection, query: str, key: str) -> Vocabulary:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query).fetchall()
    vocab = Vocabulary({r[key]: r for r in rows})
    for row in rows:
        for name in (row.get("name"), row.get("name_en")):
            if name:
                vocab.names.setdefault(str(name).strip().lower(), row[key])
    return vocab


def load_city_data(conn: psycopg.Connection, layer: str, risk_unit_codes: set[str]) -> CityData:
    """Read the reference data; `risk_unit_codes`: the codes a file names, checked here."""
    districts = _vocabulary(conn, "SELECT code, name, name_en FROM districts ORDER BY code", "code")
    shapes = {code: shapely.from_wkb(wkb) for code, wkb in conn.execute(
        "SELECT code, ST_AsBinary(geom) FROM districts ORDER BY code").fetchall()}
    categories = _vocabulary(
        conn, "SELECT code, name, name_en, domain, geometry FROM risk_categories ORDER BY code", "code")
    kinds = _vocabulary(
        conn, "SELECT kind, name, name_en, unit FROM monitoring_kinds ORDER BY kind", "kind")
    units: dict[str, bool] = {}
    if risk_unit_codes:
        units = dict(conn.execute("SELECT code, synthetic FROM risk_units WHERE code = ANY(%s)",
                                  [sorted(risk_unit_codes)]).fetchall())
    return CityData(
        districts=districts,
        district_shapes=shapes,
        risk_categories=categories,
        monitoring_kinds=kinds,
        risk_units=units,
        extent=CityExtent(shapes, envelope=(layer == "districts")),
    )
