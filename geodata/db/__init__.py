"""The database: which one (embedded cluster or `ONEMAP_DATABASE_URL`), and its schema."""

from __future__ import annotations

import os

import psycopg

from geodata.db.cluster import Cluster
from geodata.errors import DatabaseSetupError

ENV_URL = "ONEMAP_DATABASE_URL"


def database_url() -> str:
    """`ONEMAP_DATABASE_URL` when set, else the embedded cluster's URL."""
    if url := os.environ.get(ENV_URL):
        return url
    cluster = Cluster()
    if not cluster.initialised:
        raise DatabaseSetupError("no database: run `onemap db start` or set ONEMAP_DATABASE_URL")
    return cluster.url()


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url or database_url(), **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseSetupError(
            f"cannot reach the database ({exc.args[0].strip().splitlines()[-1]}); "
            "is it started? `onemap db start`"
        ) from exc
