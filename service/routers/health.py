"""`GET /healthz`: does the database answer, which versions, how many rows per layer.

It answers within a few `health_timeout`s whatever the database does, so that a load
balancer or `make run` can poll it: 200 when the service can serve, 503 saying why not.
Rows are counted for the top-level layers, not for the geometry parts of a layer.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg import sql

from geodata.errors import DatabaseSetupError
from layers.catalogue import EXACT_BELOW_ROWS, Catalogue, Layer
from service.deps import Backend, BackendDep, SettingsDep

router = APIRouter(tags=["health"])

NO_CACHE = {"Cache-Control": "no-store"}


class Unavailable(Exception):
    """Why the service cannot serve now; `reachable` says whether the database answered."""

    def __init__(self, reachable: bool, reason: str):
        super().__init__(reason)
        self.reachable = reachable
        self.reason = reason


def counted_layers(catalogue: Catalogue) -> list[Layer]:
    """The layers /healthz counts: the top-level ones, in catalogue order.

    A geometry part is a view of its parent's table: counting it would scan that table
    once more for a number the parent's count already holds.
    """
    return [layer for layer in catalogue if layer.parent is None]


def health_query(catalogue: Catalogue) -> tuple[sql.Composed, list[str]]:
    """One statement: server versions, schema version, then one row count per counted layer.

    Columns come in the order of `counted_layers` after the first three. Tables that were
    large when the catalogue was built get the planner's estimate: counting them on every
    poll would cost a full scan each time.
    """
    exact = sql.SQL("(SELECT count(*) FROM {})")
    estimated = sql.SQL(
        "(SELECT reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relname = %s)"
    )
    counts, params = [], []
    for layer in counted_layers(catalogue):
        if (layer.row_count or 0) >= EXACT_BELOW_ROWS:
            counts.append(estimated)
            params.append(layer.table)
        else:
            counts.append(exact.format(sql.Identifier(layer.table)))
    query = sql.SQL(
        "SELECT current_setting('server_version'), postgis_lib_version(), "
        "(SELECT max(version) FROM schema_migrations){sep}{counts}"
    ).format(sep=sql.SQL(", ") if counts else sql.SQL(""), counts=sql.SQL(", ").join(counts))
    return query, params


def encode_health(row: tuple, catalogue: Catalogue, pool_stats: dict[str, int]) -> dict[str, Any]:
    """The 200 body from the health row."""
    server_version, postgis, schema_version, *counts = row
    return {
        "status": "ok",
        "database": {
            "reachable": True,
            "postgresql": server_version.split()[0],  # "15.10 (Debian ...)" -> "15.10"
            "postgis": postgis,
            "schema_version": schema_version,
        },
        "layers": {layer.name: max(int(n or 0), 0)
                   for layer, n in zip(counted_layers(catalogue), counts, strict=True)},
        "pool": {
            "size": pool_stats.get("pool_size", 0),
            "available": pool_stats.get("pool_available", 0),
            "waiting": pool_stats.get("requests_waiting", 0),
        },
    }


def encode_unavailable(problem: Unavailable) -> dict[str, Any]:
    """The 503 body."""
    return {"status": "unavailable",
            "database": {"reachable": problem.reachable, "error": problem.reason}}


async def read_health(backend: Backend, timeout: float) -> dict[str, Any]:
    """The health report; Unavailable when the database cannot serve."""
    # Nothing idle in the pool: it may be down. A direct attempt says so at once
    # (connection refused), where waiting on the pool would take the whole timeout.
    if backend.pool.get_stats().get("pool_available", 0) == 0 and (
            reason := await backend.probe(timeout)):
        raise Unavailable(False, reason)
    try:
        catalogue = await backend.catalogue(timeout=timeout)
        query, params = health_query(catalogue)
        async with backend.pool.connection(timeout=timeout) as conn:
            # bound by the health timeout, not the (longer) one of ordinary requests
            await conn.execute("SELECT set_config('statement_timeout', %s, true)",
                               [str(int(timeout * 1000))])
            row = await (await conn.execute(query, params)).fetchone()
    except psycopg.errors.QueryCanceled:
        raise Unavailable(True, f"the database did not answer within {timeout:g} s") from None
    except psycopg.OperationalError:  # PoolTimeout included
        reason = await backend.probe(timeout) or "no free connection in the pool"
        raise Unavailable(False, reason) from None
    except DatabaseSetupError as exc:  # answers, but cannot serve (no PostGIS 3, no schema)
        raise Unavailable(True, str(exc)) from None
    return encode_health(row, catalogue, backend.pool.get_stats())


@router.get("/healthz", summary="Service and database health",
            responses={503: {"description": "The database does not answer or cannot serve"}})
async def healthz(backend: BackendDep, settings: SettingsDep) -> JSONResponse:
    """200 with versions and per-layer row counts, or 503 saying why the service cannot serve."""
    try:
        report = await read_health(backend, settings.database.health_timeout)
    except Unavailable as problem:
        return JSONResponse(encode_unavailable(problem), status_code=503, headers=NO_CACHE)
    return JSONResponse(report, headers=NO_CACHE)
