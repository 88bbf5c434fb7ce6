"""Versioned schema migrations: `migrations/NNN_name.sql`, each applied once, in order.

A version table records what ran; an advisory lock keeps two processes from migrating at
once; each migration runs in its own transaction, so a failing one leaves nothing behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 7_406_113  # arbitrary, constant: "onemap migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if m := _NAME.match(path.name):
            found.append(Migration(int(m.group(1)), m.group(2), path))
    return found


def applied(conn: psycopg.Connection) -> set[int]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply what is missing; return the migrations applied now (needs an autocommit connection)."""
    if not conn.autocommit:
        raise ValueError("migrate() needs a connection in autocommit mode")
    conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = applied(conn)
        ran = []
        for migration in available():
            if migration.version in done:
                continue
            with conn.transaction():
                conn.execute(migration.path.read_text())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    [migration.version, migration.name],
                )
            ran.append(migration)
        return ran
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
