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


def drop_database(name: str) -> None:
    """Drop the database `name` if it exists (its sessions ended)."""
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        _drop(admin, name)


def copy_of_project_database(name: str, say=print) -> str:
    """A migrated copy of the project's database as `name` (a fresh demonstration seed when
    that database is in use and cannot be a template); its URL. Drop it with `drop_database`."""
    source = urlsplit(database_url()).path.lstrip("/") or "onemap"
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        _drop(admin, name)
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source)))
            seeded = False
        except psycopg.errors.ObjectInUse:
            say(f"{source} is in use: seeding a fresh copy instead")
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            seeded = True
    url = url_for(name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        if seeded:
            from geodata.boundaries import demonstration_districts, load_districts
            from geodata.demo.seed import seed_database
            from layers.grading import regrade
            sync_reference(conn)
            load_districts(conn, demonstration_districts())
            with psycopg.connect(url) as tx:
                seed_database(tx, replace=True, progress=False)
                regrade(tx, requested_by="bench")
    return url


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
