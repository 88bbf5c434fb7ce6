"""Grading on a timer while the service runs: expiring manual grades take effect on time,
and derived layers whose inputs changed (the shelter gaps, the fire coverage) are rebuilt.

The run happens in a worker thread on a connection of its own (grading takes a lock, so
several workers or processes never grade at once). A failed run is logged, never fatal.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from starlette.concurrency import run_in_threadpool

from layers.commander import fire_layer
from layers.grading import regrade
from layers.shelters.gaps import refresh_if_stale

logger = logging.getLogger(__name__)


async def grade_periodically(conninfo: str, connect_kwargs: dict, interval_seconds: float) -> None:
    """Re-grade every `interval_seconds` until cancelled."""

    def run_once():
        with psycopg.connect(conninfo, **connect_kwargs) as conn:
            report = regrade(conn, requested_by="service:timer")
            gaps = refresh_if_stale(conn)
        if gaps is not None:
            logger.info("shelter gaps rebuilt: %d areas", gaps)
        refresh_fire_coverage()
        return report

    def refresh_fire_coverage():
        # on a connection of its own, and failing alone: the grades are in by now
        try:
            with psycopg.connect(conninfo, **connect_kwargs) as conn:
                fire = fire_layer.refresh_if_stale(conn)
        except Exception:
            logger.warning("timed rebuild of the fire coverage failed", exc_info=True)
            return
        if fire is not None:
            logger.info("fire coverage rebuilt: %d areas in %.1f s", *fire)

    while True:
        await asyncio.sleep(interval_seconds)
        try:
            report = await run_in_threadpool(run_once)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be down for a while: try again next time
            logger.warning("timed grading failed", exc_info=True)
            continue
        if report.changed:
            logger.info("timed grading changed %d grades (run %d)", report.changed, report.run_id)
