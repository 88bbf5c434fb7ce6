"""The data version of each layer's table, read from the database's `layer_versions`.

Statement-level triggers bump a table's row there in the transaction that changes it
(migration 005), and `bump_layer_versions(...)` does it for the materialized views when
they are refreshed; so a new version becomes visible exactly when the data does, whoever
changed it (this service, `onemap grade`, an import, psql). Every bump also notifies the
channel `onemap_layer_versions` at commit.

How fresh a read must be:
- while the reader listens on that channel (`listen=True`, the service's default), a read
  is reused until a notification arrives or `ttl_seconds` pass, whichever comes first: a
  change shows up as soon as its notification is in (well under a millisecond after the
  commit on one machine), and `ttl_seconds` bounds it if one were ever missed;
- otherwise (not listening, the listener down, or `ttl_seconds` = 0) every request waits
  for a read that started after it arrived. Reads are shared: while one runs, the requests
  that arrive join the next, so under load one tiny query serves many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic

import psycopg

logger = logging.getLogger(__name__)

QUERY = "SELECT name, version, changed_at FROM layer_versions"
CHANNEL = "onemap_layer_versions"
Version = tuple[int, float]  # the counter and when it last moved (tells databases apart)
Connect = Callable[[], Awaitable[psycopg.AsyncConnection]]


class VersionReader:
    """Current versions of the layer relations, or None when they cannot be read."""

    def __init__(self, connect: Connect, ttl_seconds: float = 0.0, listen: bool = False,
                 retry_missing_seconds: float = 30.0, relisten_seconds: float = 2.0):
        self._connect = connect
        self.ttl = ttl_seconds
        self.retry_missing = retry_missing_seconds
        self.relisten = relisten_seconds
        self._conn: psycopg.AsyncConnection | None = None
        self._next: asyncio.Future | None = None   # the read the newcomers wait for
        self._running: asyncio.Task | None = None
        self._last: Mapping[str, Version] | None = None
        self._last_started = float("-inf")
        self._last_notified = -1
        self._missing_until = float("-inf")
        self._listen = listen
        self._listener: asyncio.Task | None = None
        self.listening = False
        self.notified = 0       # notifications received
        self.reads = 0

    def start(self) -> None:
        """Start listening for changes (when asked to); call with the event loop running."""
        if self._listen and self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever())

    def _reusable(self, now: float) -> bool:
        return (self.listening and self.ttl > 0 and self._last is not None
                and self._last_notified == self.notified and now - self._last_started < self.ttl)

    async def current(self) -> Mapping[str, Version] | None:
        """The versions as of a read that started after this call (or, while listening, after
        the last notification and within the ttl)."""
        now = monotonic()
        self.start()
        if now < self._missing_until:
            return None
        if self._reusable(now):
            return self._last
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            if self._running is None:
                self._start()
        # shielded: a request that goes away must not cancel what others wait on
        return await asyncio.shield(future)

    def _start(self) -> None:
        future, self._next = self._next, None
        self._running = asyncio.create_task(self._read(future))

    async def _read(self, future: asyncio.Future) -> None:
        started, notified = monotonic(), self.notified
        try:
            versions = await self._query()
            if versions is not None:
                self._last, self._last_started, self._last_notified = versions, started, notified
            future.set_result(versions)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no warning when nobody waits any more
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._running = None
            if self._next is not None:
                self._start()

    async def _query(self) -> Mapping[str, Version] | None:
        self.reads += 1
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            cur = await self._conn.execute(QUERY, prepare=True)
            rows = await cur.fetchall()
        except psycopg.errors.UndefinedTable:
            logger.warning("no layer_versions table (run `onemap db migrate`): tiles are not "
                           "cached")
            self._missing_until = monotonic() + self.retry_missing
            return None
        except psycopg.Error as exc:
            logger.warning("cannot read the layer versions (%s): tiles are not cached",
                           type(exc).__name__)
            await self._close_reader()
            return None
        return {name: (version, changed_at.timestamp()) for name, version, changed_at in rows}

    async def _listen_forever(self) -> None:
        """Listen on the channel; on any failure, read on every request until back."""
        while True:
            conn = None
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {CHANNEL}")
                self.notified += 1  # what changed before LISTEN took effect: read again
                self.listening = True
                async for _ in conn.notifies():
                    self.notified += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may come back
                logger.debug("layer version listener: %s", type(exc).__name__)
            finally:
                self.listening = False
                if conn is not None:
                    try:
                        await conn.close()
                    except psycopg.Error:
                        pass
            await asyncio.sleep(self.relisten)

    async def _close_reader(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except psycopg.Error:
                pass

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        await self._close_reader()
