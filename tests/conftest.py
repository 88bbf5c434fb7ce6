"""One real PostGIS for the whole suite: the embedded cluster (or ONEMAP_DATABASE_URL's server).

Databases made here (never the user's own `onemap` database), named per test session so
two runs on one server do not collide, and dropped at the end:
- `<prefix>_base`: schema, reference data and the districts; the template of the others;
- `<prefix>`: the base plus the demonstration dataset, seeded once per session;
- a scratch copy of either per test that changes data (`scratch_base_url`, `scratch_url`),
  or of the seeded one per module (`module_scratch_url`).
"""

from __future__ import annotations

import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from geodata.db import ENV_URL
from geodata.db.cluster import Cluster
from geodata.db.migrate import migrate
from geodata.db.reference import sync_reference

TEST_SEED = 610100
PREFIX = f"onemap_t{os.getpid()}"


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the maintenance database of the server the tests use."""
    if url := os.environ.get("ONEMAP_TEST_DATABASE_URL") or os.environ.get(ENV_URL):
        return _with_dbname(url, "postgres")
    cluster = Cluster()
    cluster.start()
    return cluster.url(dbname="postgres")


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _copy(admin: psycopg.Connection, template: str, name: str) -> None:
    _drop(admin, name)
    # A template must have no other sessions: end those of this suite that linger. An app
    # of a module-scoped fixture may connect again at once (its pool refills, its listener
    # reconnects), so try a few times.
    for attempt in range(10):
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", [template]
        )
        try:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 9:
                raise
            time.sleep(0.1)


def _drop_leftovers(admin: psycopg.Connection) -> None:
    """Drop test databases of earlier sessions whose process is gone."""
    for (name,) in admin.execute(
        "SELECT datname FROM pg_database WHERE datname ~ '^onemap_t[0-9]+'"
    ).fetchall():
        pid = int(name[len("onemap_t"):].split("_")[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _drop(admin, name)
        except PermissionError:
            pass


@pytest.fixture(scope="session")
def admin(server_url):
    with psycopg.connect(server_url, autocommit=True) as conn:
        _drop_leftovers(conn)
        yield conn
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [PREFIX + "%"]
        ).fetchall():
            _drop(conn, name)


@pytest.fixture(scope="session")
def base_url(admin, server_url) -> str:
    """Migrated schema + reference data + the 13 districts."""
    from geodata.boundaries import demonstration_districts, load_districts

    name = f"{PREFIX}_base"
    _drop(admin, name)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        sync_reference(conn)
        with conn.transaction():
            load_districts(conn, demonstration_districts())
    return url


@pytest.fixture(scope="session")
def seeded_url(admin, base_url, server_url) -> str:
    """The base plus the demonstration dataset (seed TEST_SEED)."""
    from geodata.demo.seed import seed_database
    from layers.grading import regrade

    name = PREFIX
    _copy(admin, f"{PREFIX}_base", name)
    url = _with_dbname(server_url, name)
    with psycopg.connect(url) as conn:
        seed_database(conn, seed=TEST_SEED, replace=True, progress=False)
        regrade(conn, requested_by="tests")
    return url


def _scratch(admin, server_url, template: str):
    name = f"{PREFIX}_s{uuid.uuid4().hex[:8]}"
    _copy(admin, template, name)
    try:
        yield _with_dbname(server_url, name)
    finally:
        _drop(admin, name)


@pytest.fixture
def scratch_base_url(admin, base_url, server_url):
    """A private copy of the base database (districts, no demonstration data)."""
    yield from _scratch(admin, server_url, f"{PREFIX}_base")


@pytest.fixture
def scratch_url(admin, seeded_url, server_url):
    """A private copy of the seeded database, for tests that change data."""
    yield from _scratch(admin, server_url, PREFIX)


@pytest.fixture(scope="module")
def module_scratch_url(admin, seeded_url, server_url):
    """A private copy of the seeded database shared by the tests of a module."""
    yield from _scratch(admin, server_url, PREFIX)


@pytest.fixture
def conn(seeded_url):
    """A connection to the seeded test database (read-mostly; roll back what you change)."""
    with psycopg.connect(seeded_url) as connection:
        yield connection
        connection.rollback()
