"""The live feed of alarm changes behind `GET /alarms/stream`.

One connection per process listens on `onemap_alarms` (migration 011: a notice per statement
that wrote alarm history, whichever process wrote it). At each notice the feed reads the
events after the last one it has passed on, once, and hands each to every subscriber's
queue. After a lost connection it reads what it missed, so no event is skipped. A client
that reconnects with `Last-Event-ID` is first given the events after that id from the
history table (`catch_up`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from layers.alarms.lifecycle import events_after, newest_event

logger = logging.getLogger(__name__)

CHANNEL = "onemap_alarms"
QUEUE_SIZE = 1000  # events a slow client may lag behind before it is dropped


class AlarmFeed:
    def __init__(self, connect: Callable, pool, relisten_seconds: float = 2.0):
        self.connect, self.pool = connect, pool
        self.relisten = relisten_seconds
        self.last_id: int | None = None
        self.listening = False
        self._subscribers: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for queue in list(self._subscribers):
            queue.put_nowait(None)  # each stream ends

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    async def catch_up(self, after_id: int, limit: int = 1000) -> list[dict]:
        """The events after `after_id` from the history (a client coming back)."""
        async with self.pool.connection() as conn:
            return await events_after(conn, after_id, limit)

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await self.connect() as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.last_id is None:
                        self.last_id = await newest_event(conn)
                    else:  # back after a break: pass on what happened meanwhile
                        await self._read(conn)
                    self.listening = True
                    while True:
                        # the generator holds the connection: leave it after the first
                        # notice (or a minute of none), then read on the same connection
                        async for _ in conn.notifies(timeout=60, stop_after=1):
                            pass
                        await self._read(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database restarts: listen again shortly
                logger.debug("alarm feed: %s", type(exc).__name__)
            self.listening = False
            await asyncio.sleep(self.relisten)

    async def _read(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            events = await events_after(conn, self.last_id)
            for event in events:
                self._publish(event)
                self.last_id = event["id"]
            if len(events) < 1000:
                return

    def _publish(self, event: dict) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a client that does not read: it reconnects and catches up
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
