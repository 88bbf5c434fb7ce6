"""Checked rows into a layer table, all or nothing, inside the caller's transaction.

Rows are COPied into a temporary table, then one INSERT … SELECT upserts them by `code`
as real rows (`synthetic = false`), so importing the same file twice changes nothing the
second time. Then the layer's synthetic rows that the file did not replace are deleted,
and the import is logged in `imports`. Columns the file does not carry are left as they
are on rows that exist already (a boundary file without population keeps the census).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
import shapely
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from geodata.errors import ImportRejected
from geodata.importers.checks import CheckedRows
from geodata.importers.specs import LayerSpec

STAGING = "onemap_import_rows"
SQL_TYPES = {"text": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
             "date": "date", "datetime": "timestamptz", "json": "jsonb"}
LOCK_ORDER = ("districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
              "resources", "hidden_dangers", "candidate_sites", "roads")


@dataclass
class Effects:
    """What loading does (or would do) to the table."""

    synthetic_replaced: int = 0
    real_updated: int = 0
    notes: list[str] = field(default_factory=list)


def lock_tables(conn: psycopg.Connection, spec: LayerSpec) -> None:
    """Keep the layer, and the tables its checks read, still until the import commits.

    Always in the same order, so two imports running at once wait for each other
    instead of deadlocking."""
    read = {"districts", *(table for _, table in spec.links.values())}
    if spec.name == "risk_units":       # checked for rows pointing at removed units
        read |= {"monitoring_points", "hidden_dangers"}
    for table in LOCK_ORDER:
        if table == spec.table:
            mode = sql.SQL("SHARE ROW EXCLUSIVE")
        elif table in read:
            mode = sql.SQL("SHARE")
        else:
            continue
        conn.execute(sql.SQL("LOCK TABLE {} IN {} MODE").format(sql.Identifier(table), mode))


def effects(conn: psycopg.Connection, spec: LayerSpec, codes: list[str]) -> Effects:
    """Count what loading these codes replaces and updates; refuse to orphan real rows."""
    table = sql.Identifier(spec.table)
    synthetic, synthetic_matched, real = conn.execute(
        sql.SQL("SELECT count(*) FILTER (WHERE synthetic), "
                "count(*) FILTER (WHERE synthetic AND code = ANY({codes})), "
                "count(*) FILTER (WHERE NOT synthetic AND code = ANY({codes})) FROM {table}"
                ).format(codes=sql.Placeholder("codes"), table=table),
        {"codes": codes}).fetchone()
    result = Effects(synthetic if spec.deletes_synthetic else synthetic_matched, real)
    if not spec.deletes_synthetic and synthetic > synthetic_matched:
        result.notes.append(f"{synthetic - synthetic_matched:,} synthetic {spec.name} not in the "
                            "file were kept: other layers point at them")
    if spec.deletes_synthetic:
        _orphans(conn, spec, codes, result)
    return result


# what deleting a row does to the rows pointing at it (pg_constraint.confdeltype)
ON_DELETE = {"c": "deleted with", "n": "unlinked from", "d": "set to their default on losing"}


def _dependants(conn: psycopg.Connection, spec: LayerSpec) -> list[dict]:
    """Foreign keys pointing at the layer's table, read from the catalogue (so tables
    added by later migrations are covered too)."""
    query = """
        SELECT n.nspname AS schema, cl.relname AS "table", a.attname AS "column",
               ra.attname AS referenced, c.confdeltype AS action,
               EXISTS (SELECT 1 FROM pg_attribute s WHERE s.attrelid = c.conrelid
                       AND s.attname = 'synthetic' AND NOT s.attisdropped) AS has_synthetic,
               EXISTS (SELECT 1 FROM pg_attribute s WHERE s.attrelid = c.conrelid
                       AND s.attname = 'code' AND NOT s.attisdropped) AS has_code
        FROM pg_constraint c
        JOIN pg_class cl ON cl.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.confrelid = to_regclass(%s)
          AND c.conrelid <> c.confrelid AND cardinality(c.conkey) = 1
        ORDER BY cl.relname, a.attname"""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [spec.table]).fetchall()


def _orphans(conn: psycopg.Connection, spec: LayerSpec, codes: list[str], result: Effects) -> None:
    """Deleting synthetic rows must not take imported rows of other layers with it, nor
    anything else unnoticed: refuse the first, note the rest."""
    for dep in _dependants(conn, spec):
        real = (sql.SQL("count(*) FILTER (WHERE NOT d.synthetic)") if dep["has_synthetic"]
                else sql.SQL("0"))
        example = (sql.SQL("min(d.code) FILTER (WHERE NOT d.synthetic)")
                   if dep["has_synthetic"] and dep["has_code"] else sql.SQL("NULL"))
        query = sql.SQL(
            "SELECT count(*), {real}, {example} FROM {dep} d JOIN {table} r ON r.{ref} = d.{col} "
            "WHERE r.synthetic AND NOT (r.code = ANY({codes}))"
        ).format(real=real, example=example, dep=sql.Identifier(dep["schema"], dep["table"]),
                 table=sql.Identifier(spec.table), ref=sql.Identifier(dep["referenced"]),
                 col=sql.Identifier(dep["column"]), codes=sql.Placeholder("codes"))
        total, real_rows, example_code = conn.execute(query, {"codes": codes}).fetchone()
        if not total:
            continue
        name = dep["table"]
        if dep["action"] not in ON_DELETE:      # NO ACTION / RESTRICT: the delete would fail
            raise ImportRejected(
                f"rows of {name} pointing at synthetic {spec.name} that this import would remove: "
                f"{total:,}; add those {spec.name} to the file, or remove those rows first; "
                "nothing was loaded")
        if real_rows and name in LOCK_ORDER:
            raise ImportRejected(
                f"{real_rows:,} imported {name} (e.g. {example_code}) point at synthetic "
                f"{spec.name} that this import would remove: add those {spec.name} to the file, "
                f"or first import the {name} again pointing at real {spec.name}; "
                "nothing was loaded")
        result.notes.append(f"rows of {name} {ON_DELETE[dep['action']]} the synthetic {spec.name} "
                            f"that were replaced: {total:,}"
                            + (f" ({real_rows:,} of them not synthetic)" if real_rows else ""))


def _staging_columns(spec: LayerSpec, written: list[str]) -> list[tuple[str, str]]:
    return [(name, SQL_TYPES[spec.field(name).type]) for name in written]


def _copy_value(value):
    return Jsonb(value) if isinstance(value, dict) else value


def _stage(conn: psycopg.Connection, spec: LayerSpec, checked: CheckedRows) -> None:
    columns = _staging_columns(spec, checked.written)
    staging = sql.Identifier(STAGING)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (n integer, {}, geom bytea) ON COMMIT DROP").format(
        staging, sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                                    for n, t in columns)))
    names = ["n", *checked.written, "geom"]
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        staging, sql.SQL(", ").join(map(sql.Identifier, names)))
    wkb = shapely.to_wkb(checked.geometries)
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for n, (row, geom) in enumerate(zip(checked.rows, wkb)):
            copy.write_row([n, *(_copy_value(row[c]) for c in checked.written), geom])


def _upsert(conn: psycopg.Connection, spec: LayerSpec, written: list[str]) -> None:
    """One INSERT … SELECT from the staging table, by code."""
    s, t, r = sql.Identifier("s"), sql.Identifier("t"), sql.Identifier("r")
    targets, values = [], []
    for name in written:
        if spec.latest and name in spec.latest:
            continue  # kept apart (_upsert_latest)
        f = spec.field(name)
        if name in spec.links:
            column, _ = spec.links[name]
            targets.append(column)
            values.append(sql.SQL("{}.id").format(r))
        elif f.fallback:
            targets.append(name)
            values.append(sql.SQL("coalesce({s}.{c}, {t}.{c}, {s}.{fb})").format(
                s=s, t=t, c=sql.Identifier(name), fb=sql.Identifier(f.fallback)))
        else:
            targets.append(name)
            values.append(sql.SQL("{}.{}").format(s, sql.Identifier(name)))
    joins = [sql.SQL("LEFT JOIN {} {} ON {}.code = {}.code").format(
        sql.Identifier(spec.table), t, t, s)]
    for name, (_, table) in spec.links.items():
        if name in written:
            joins.append(sql.SQL("LEFT JOIN {} {} ON {}.code = {}.{}").format(
                sql.Identifier(table), r, r, s, sql.Identifier(name)))
    geom = sql.SQL("ST_Multi(ST_GeomFromWKB({}.geom, 4326))" if spec.multi
                   else "ST_GeomFromWKB({}.geom, 4326)").format(s)
    query = sql.SQL(
        "INSERT INTO {table} ({targets}, synthetic, geom) "
        "SELECT {values}, false, {geom} FROM {staging} {s} {joins} ORDER BY {s}.n "
        "ON CONFLICT (code) DO UPDATE SET {updates}, synthetic = false, geom = EXCLUDED.geom"
    ).format(
        table=sql.Identifier(spec.table),
        targets=sql.SQL(", ").join(map(sql.Identifier, targets)),
        values=sql.SQL(", ").join(values),
        geom=geom,
        staging=sql.Identifier(STAGING),
        s=s,
        joins=sql.SQL(" ").join(joins),
        updates=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                                   for c in targets if c != "code"),
    )
    conn.execute(query)


def _upsert_latest(conn: psycopg.Connection, spec: LayerSpec, written: list[str]) -> None:
    """The rows' latest readings into monitoring_latest, where newer than the one kept."""
    value, ts = spec.latest
    if value not in written:
        return
    conn.execute(sql.SQL(
        "INSERT INTO monitoring_latest AS l (monitoring_point_id, ts, value) "
        "SELECT t.id, s.{ts}, s.{value} FROM {staging} s JOIN {table} t ON t.code = s.code "
        "WHERE s.{ts} IS NOT NULL AND s.{value} IS NOT NULL "
        "ON CONFLICT (monitoring_point_id) DO UPDATE SET ts = EXCLUDED.ts, value = EXCLUDED.value, "
        "before_ts = l.ts, before_value = l.value WHERE l.ts IS NULL OR l.ts < EXCLUDED.ts"
    ).format(ts=sql.Identifier(ts), value=sql.Identifier(value), table=sql.Identifier(spec.table),
             staging=sql.Identifier(STAGING)))


def load_rows(conn: psycopg.Connection, spec: LayerSpec, checked: CheckedRows,
              source: str, source_crs: str, planned: Effects) -> int:
    """Write checked rows; the caller holds the transaction (and the locks). Returns rows loaded."""
    _stage(conn, spec, checked)
    _upsert(conn, spec, checked.written)
    if spec.latest:
        _upsert_latest(conn, spec, checked.written)
    if spec.deletes_synthetic:
        conn.execute(sql.SQL(
            "DELETE FROM {table} WHERE synthetic AND code NOT IN (SELECT code FROM {staging})"
        ).format(table=sql.Identifier(spec.table), staging=sql.Identifier(STAGING)))
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(STAGING)))
    conn.execute(
        "INSERT INTO imports (layer, source, source_crs, rows, replaced, synthetic) "
        "VALUES (%s, %s, %s, %s, %s, false)",
        [spec.name, source, source_crs, len(checked.rows), planned.synthetic_replaced])
    return len(checked.rows)
