"""A throw-away database on the same server, for benchmarks that must not touch `onemap`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from geodata.db import database_url
from geodata.db.migrate import migrate
from geodata.db.reference import sync_reference


def url_for(dbname: str) -> str:
    """The project's database URL with another database name."""
    return urlunsplit(urlsplit(database_url())._replace(path=f"/{dbname}"))


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A new, migrated database `name` (its URL); dropped afterwards, whatever happens."""
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        _drop(admin, name)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(url_for(name), autocommit=True) as conn:
            migrate(conn)
            sync_reference(conn)
        yield url_for(name)
    finally:
        with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
            _drop(admin, name)
