"""Serving a tile: the cache when it holds the tile at the current data version, else one
statement in PostGIS, on a pool of connections kept for tiles.

The tile pool's connections are in autocommit mode and are not checked before use, so a
tile costs one round trip; a connection found broken (the server restarted) is replaced
and the statement tried once more. Concurrent requests for the same missing tile share
one query.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from layers.catalogue import Layer
from service.settings import DatabaseSettings, TileSettings
from service.tiles.cache import CachedTile, CacheKey, TileCache
from service.tiles.queries import QueryBook, TileQuery
from service.tiles.versions import Version, VersionReader

logger = logging.getLogger(__name__)

GZIP_IN_THREAD_FROM = 32 * 1024  # larger tiles are compressed off the event loop


def tile_connection_kwargs(conninfo: str, connect_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The app's connection settings, in autocommit and with JIT off (it costs 100-300 ms
    per heavy spatial statement and gains nothing on tiles)."""
    kwargs = dict(connect_kwargs)
    options = kwargs.get("options") or conninfo_to_dict(conninfo).get("options") or ""
    kwargs["options"] = f"{options} -c jit=off".strip()
    kwargs["autocommit"] = True
    kwargs["application_name"] = f"{kwargs.get('application_name', 'onemap')}-tiles"
    return kwargs


class TileService:
    """Tiles of the catalogue's layers: statements, cache, versions and connections."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any], settings: TileSettings,
                 database: DatabaseSettings | None = None):
        database = database or DatabaseSettings()
        self.settings = settings
        self.queries = QueryBook()
        self.cache = TileCache(settings.cache_bytes)
        kwargs = tile_connection_kwargs(conninfo, connect_kwargs)
        self._conninfo, self._kwargs = conninfo, kwargs
        self.pool = AsyncConnectionPool(
            conninfo, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
            max_lifetime=database.pool_max_lifetime, timeout=database.pool_timeout,
            reconnect_timeout=database.reconnect_timeout, kwargs=kwargs, open=False,
            name="onemap-tiles")
        self.versions = VersionReader(self._connect, settings.version_ttl_seconds,
                                      listen=settings.listen_for_changes)
        self._seen: dict[str, Version] = {}
        self._filling: dict[CacheKey, asyncio.Task] = {}

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)

    async def start(self, layers: list[Layer] = ()) -> None:
        """Open the pool (without waiting for the database) and build the layers' statements."""
        await self.pool.open(wait=False)
        if self.cache.enabled:
            self.versions.start()
        for layer in layers:
            self.queries.get(layer)

    async def close(self) -> None:
        for task in list(self._filling.values()):
            task.cancel()
        await self.versions.close()
        await self.pool.close()

    async def tile(self, layer: Layer, z: int, x: int, y: int) -> CachedTile:
        """Tile z/x/y of `layer` (empty bytes: no feature there)."""
        query = self.queries.get(layer)
        if not self.cache.enabled:
            return CachedTile.of(await self._fetch(query, z, x, y))
        version = await self._version(layer, query)
        if version is None:  # not tracked, or unreadable: never cached
            return CachedTile.of(await self._fetch(query, z, x, y))
        key: CacheKey = (layer.name, z, x, y, version, query.digest)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        task = self._filling.get(key)
        if task is None:
            task = asyncio.create_task(self._fill(key, query, z, x, y))
            self._filling[key] = task
        # shielded: one client going away must not cancel the query others wait on
        return await asyncio.shield(task)

    async def gzipped(self, layer: Layer, z: int, x: int, y: int, tile: CachedTile) -> bytes:
        """The gzip form of `tile`, kept with it in the cache."""
        if tile.gzipped is not None:
            return tile.gzipped
        level = self.settings.gzip_level
        if len(tile.data) >= GZIP_IN_THREAD_FROM:
            packed = await asyncio.to_thread(gzip.compress, tile.data, level, mtime=0)
        else:
            packed = gzip.compress(tile.data, level, mtime=0)
        if self.cache.enabled:
            self._keep_gzip(layer, z, x, y, tile, packed)
        return packed

    def invalidate(self, layer: str) -> int:
        """Drop the cached tiles of `layer` (they would not be served again anyway)."""
        return self.cache.invalidate(layer)

    def _keep_gzip(self, layer: Layer, z: int, x: int, y: int, tile: CachedTile,
                   packed: bytes) -> None:
        version = self._seen.get(layer.name)
        query = self.queries.get(layer)
        key: CacheKey = (layer.name, z, x, y, version, query.digest)
        if self.cache.peek(key) is tile:
            self.cache.put(key, tile.with_gzip(packed))

    async def _version(self, layer: Layer, query: TileQuery) -> Version | None:
        versions = await self.versions.current()
        if versions is None:
            return None
        version = versions.get(query.relation)
        if version is None:
            return None
        seen = self._seen.get(layer.name)
        if seen != version and (seen is None or _newer(version, seen)):
            if seen is not None:
                dropped = self.cache.invalidate(layer.name)
                logger.debug("layer %s changed (version %s): %d tiles dropped", layer.name,
                             version[0], dropped)
            self._seen[layer.name] = version
        return version

    async def _fill(self, key: CacheKey, query: TileQuery, z: int, x: int, y: int) -> CachedTile:
        try:
            tile = CachedTile.of(await self._fetch(query, z, x, y))
            # a version newer than this one may have been seen meanwhile: then the key is
            # already out of use, and the tile is not kept
            if self._seen.get(key[0]) == key[4]:
                self.cache.put(key, tile)
            return tile
        finally:
            self._filling.pop(key, None)

    async def _fetch(self, query: TileQuery, z: int, x: int, y: int) -> bytes:
        """Run the layer's statement for z/x/y: the tile's bytes."""
        text, params = query.text(z), query.params(z, x, y)
        # cells are planned for their own zoom each time (a generic plan would scan the
        # index where a low zoom wants the table); single features use a prepared plan
        prepare = text is query.single
        for attempt in (1, 2):
            async with self.pool.connection() as conn:
                try:
                    cur = await conn.execute(text, params, prepare=prepare, binary=True)
                    row = await cur.fetchone()
                except psycopg.OperationalError:
                    if attempt == 1 and conn.broken:
                        continue  # a connection the server dropped: the pool replaces it
                    raise
            return bytes(row[0]) if row and row[0] is not None else b""
        raise AssertionError("unreachable")


def _newer(version: Version, than: Version) -> bool:
    """Whether `version` comes after `than` (a re-created database starts anew: newer time)."""
    return (version[1], version[0]) > (than[1], than[0])
