"""What route handlers depend on: the database backend, its pool and the layer catalogue.

`Backend` holds the one connection pool of the app and what is learnt from the database
once (server versions, the layer catalogue). The database may be down when the app
starts: the app starts all the same, and the catalogue is built on first need.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from time import monotonic
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Path, Request
from psycopg_pool import AsyncConnectionPool

from geodata.errors import DatabaseSetupError
from layers.catalogue import Catalogue, Layer, build_catalogue
from service.settings import Settings

logger = logging.getLogger(__name__)

MIN_POSTGIS_MAJOR = 3


@dataclass(frozen=True)
class ServerVersions:
    postgresql: str
    postgis: str


async def check_server(conn: psycopg.AsyncConnection) -> ServerVersions:
    """The server's versions; DatabaseSetupError when PostGIS or the schema is missing or old."""
    cur = await conn.execute(
        "SELECT current_setting('server_version'), "
        "(SELECT extversion FROM pg_extension WHERE extname = 'postgis'), "
        "to_regclass('schema_migrations') IS NOT NULL"
    )
    server_version, postgis, migrated = await cur.fetchone()
    if postgis is None:
        raise DatabaseSetupError(
            "PostGIS is not installed in this database: run `onemap db migrate`"
        )
    if int(postgis.split(".")[0]) < MIN_POSTGIS_MAJOR:
        raise DatabaseSetupError(
            f"PostGIS {postgis} is too old: the service needs PostGIS {MIN_POSTGIS_MAJOR} or newer"
        )
    if not migrated:
        raise DatabaseSetupError("the database has no onemap schema: run `onemap db migrate`")
    return ServerVersions(postgresql=server_version.split()[0], postgis=postgis)


def short_reason(exc: BaseException) -> str:
    """A few words on why a connection failed, without hosts, users or server text."""
    text = str(exc).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("timeout expired", "connection timed out"),
        ("timed out", "connection timed out"),
        ("authentication failed", "authentication failed"),
        ("no password supplied", "authentication failed"),
        ("does not exist", "database or role does not exist"),
        ("translate host name", "unknown host"),
        ("name or service not known", "unknown host"),
        ("starting up", "the database is starting up"),
        ("shutting down", "the database is shutting down"),
        ("too many clients", "too many connections"),
        ("no such file or directory", "no server on that socket"),
    ):
        if needle in text:
            return reason
    return "cannot connect"


class Backend:
    """The database side of the app: pool, direct probes, and the catalogue (built lazily)."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str, connect_kwargs: dict[str, Any],
                 refresh_seconds: float = 0.0):
        self.pool = pool
        self.conninfo = conninfo
        self.connect_kwargs = connect_kwargs
        self.refresh_seconds = refresh_seconds
        self.versions: ServerVersions | None = None
        self._catalogue: Catalogue | None = None
        self._built_at = 0.0
        self._building: asyncio.Task | None = None

    async def start(self) -> None:
        """Open the pool without waiting; check the server and build the catalogue if it answers.

        An unreachable database is only logged (it may come later); a database that answers
        but cannot serve (no PostGIS 3, no schema) stops the start with DatabaseSetupError.
        """
        await self.pool.open(wait=False)
        try:
            # a direct connection fails at once when nothing listens; the pool would wait
            async with await self.connect() as conn:
                await self._load(conn)
        except psycopg.OperationalError as exc:
            logger.warning("the database does not answer at start-up (%s); /healthz says 503 "
                           "until it does", short_reason(exc))
            return
        logger.info("PostgreSQL %s, PostGIS %s; layers: %s", self.versions.postgresql,
                    self.versions.postgis, ", ".join(self._catalogue.names))

    async def close(self) -> None:
        """Stop a catalogue build in flight and close the pool."""
        if self._building is not None:
            self._building.cancel()
        await self.pool.close()

    async def connect(self, timeout: float | None = None) -> psycopg.AsyncConnection:
        """A connection outside the pool (autocommit), with the pool's settings."""
        kwargs = dict(self.connect_kwargs)
        if timeout is not None:
            kwargs["connect_timeout"] = max(2, math.ceil(timeout))  # libpq's minimum is 2
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, **kwargs)

    async def probe(self, timeout: float) -> str | None:
        """None when the database accepts a connection now, else a short reason why not."""
        try:
            async with asyncio.timeout(timeout):
                conn = await self.connect(timeout)
        except TimeoutError:
            return "connection timed out"
        except psycopg.OperationalError as exc:
            return short_reason(exc)
        await conn.close()
        return None

    async def catalogue(self, timeout: float | None = None) -> Catalogue:
        """The layer catalogue; built now if it is missing, refreshed when it is old.

        Concurrent callers share one build. While a refresh runs, the old catalogue serves.
        """
        current = self._catalogue
        if current is not None and not self._stale():
            return current
        if self._building is None or self._building.done():
            self._building = asyncio.create_task(self._rebuild(timeout))
            self._building.add_done_callback(_retrieve_exception)
        if current is not None:
            return current
        # shielded: a client that goes away must not cancel the build others wait on
        return await asyncio.shield(self._building)

    def _stale(self) -> bool:
        return self.refresh_seconds > 0 and monotonic() - self._built_at > self.refresh_seconds

    async def _rebuild(self, timeout: float | None) -> Catalogue:
        try:
            if self._catalogue is None and self.pool.get_stats().get("pool_available", 0) == 0:
                # Never reached the database yet: a direct attempt tells at once that
                # nothing answers, where waiting on the pool takes its whole timeout.
                probe_timeout = timeout or float(self.connect_kwargs.get("connect_timeout", 5))
                if reason := await self.probe(probe_timeout):
                    raise DatabaseSetupError(f"the database does not answer ({reason})")
            async with self.pool.connection(timeout=timeout) as conn:
                await self._load(conn)
        except Exception:
            if self._catalogue is None:
                raise
            logger.warning("could not refresh the layer catalogue; keeping the previous one",
                           exc_info=True)
            self._built_at = monotonic()  # try again after another refresh period
        return self._catalogue

    async def _load(self, conn: psycopg.AsyncConnection) -> None:
        versions = await check_server(conn)
        catalogue = await build_catalogue(conn)
        self.versions, self._catalogue, self._built_at = versions, catalogue, monotonic()


def _retrieve_exception(task: asyncio.Task) -> None:
    # The callers saw the error already (or had a catalogue): keep asyncio from warning.
    if not task.cancelled():
        task.exception()


def get_backend(request: Request) -> Backend:
    """The app's database backend."""
    return request.app.state.backend


def get_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    return request.app.state.settings


def get_pool(backend: Annotated[Backend, Depends(get_backend)]) -> AsyncConnectionPool:
    """The app's connection pool (bounded; requests wait at most `pool_timeout`)."""
    return backend.pool


async def get_catalogue(backend: Annotated[Backend, Depends(get_backend)]) -> Catalogue:
    """The layer catalogue (503 while the database cannot be reached to build it)."""
    return await backend.catalogue()


async def get_layer(
    layer: Annotated[str, Path(description="Layer id, as listed by /collections")],
    catalogue: Annotated[Catalogue, Depends(get_catalogue)],
) -> Layer:
    """The layer named by the `{layer}` path parameter (404 naming the valid ones)."""
    return catalogue.get(layer)


def public_base_url(request: Request) -> str:
    """Absolute base of the links the API writes: the configured one, else the request's."""
    configured = request.app.state.settings.api.public_base_url
    return configured or str(request.base_url).rstrip("/")


BackendDep = Annotated[Backend, Depends(get_backend)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
LayerDep = Annotated[Layer, Depends(get_layer)]
BaseUrlDep = Annotated[str, Depends(public_base_url)]
