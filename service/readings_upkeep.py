"""The readings' partitions while the service runs: made a week ahead, dropped after the
retention, at start-up and then on a timer. A failed round is logged, never fatal (the
database may be down; ingest makes any partition it needs anyway)."""

from __future__ import annotations

import asyncio
import logging

import psycopg

from geodata.readings.store import keep_partitions
from service.settings import ReadingsSettings

logger = logging.getLogger(__name__)

AHEAD_DAYS = 7


async def keep_partitions_periodically(conninfo: str, connect_kwargs: dict,
                                       settings: ReadingsSettings) -> None:
    """Keep the partitions every `upkeep_interval_seconds`, starting now, until cancelled."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, **connect_kwargs) as conn:
                made, dropped = await keep_partitions(conn, AHEAD_DAYS, settings.retention_days)
            if made or dropped:
                logger.info("readings partitions: %d made, %d dropped", made, dropped)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("upkeep of the readings partitions failed", exc_info=True)
        await asyncio.sleep(settings.upkeep_interval_seconds)
