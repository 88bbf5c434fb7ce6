"""Reference vocabularies kept as data files and synced into their tables on migrate."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg
from psycopg import sql

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

# table -> (file, key column)
REFERENCE_TABLES = {
    "risk_categories": ("risk_categories.csv", "code"),
    "monitoring_kinds": ("monitoring_kinds.csv", "kind"),
}


def read_rows(filename: str) -> list[dict[str, str]]:
    with (DATA_DIR / filename).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def sync_reference(conn: psycopg.Connection) -> dict[str, int]:
    """Upsert each vocabulary from its file; returns rows per table."""
    counts = {}
    with conn.transaction():
        for table, (filename, key) in REFERENCE_TABLES.items():
            rows = read_rows(filename)
            columns = list(rows[0])
            query = sql.SQL(
                "INSERT INTO {table} ({cols}) VALUES ({vals}) "
                "ON CONFLICT ({key}) DO UPDATE SET {updates}"
            ).format(
                table=sql.Identifier(table),
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                key=sql.Identifier(key),
                updates=sql.SQL(", ").join(
                    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                    for c in columns if c != key
                ),
            )
            with conn.cursor() as cur:
                cur.executemany(query, [[r[c] for c in columns] for r in rows])
            counts[table] = len(rows)
    return counts
