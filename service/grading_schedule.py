"""Grading on a timer while the service runs: expiring manual grades take effect on time,
and derived layers whose inputs changed (the shelter gaps, the fire coverage) are rebuilt.
A red alarm opened or closed on a point linked to a risk unit asks for a run at once
(`GradingTimer.request`): the unit's grade follows within seconds, not at the next tick. Such
a run leaves the risk-density surface (most of a run's cost) to a run `surface_delay_seconds`
later, so a storm of red alarms does not rebuild it every second.

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


class GradingTimer:
    """Runs `regrade` every `interval_seconds` (0: only when asked), and soon after a request.

    Requests within `settle_seconds` of each other share one run: a storm of red alarms
    grades once, not once per alarm.
    """

    def __init__(self, conninfo: str, connect_kwargs: dict, interval_seconds: float,
                 settle_seconds: float = 1.0, surface_delay_seconds: float = 60.0):
        self.conninfo, self.kwargs = conninfo, connect_kwargs
        self.interval = interval_seconds or None
        self.settle = settle_seconds
        self.surface_delay = surface_delay_seconds
        self._asked = asyncio.Event()
        self._surfaces_due: float | None = None  # loop time of the run that rebuilds them
        self.runs = 0

    def request(self) -> None:
        """Grade again soon (a red alarm changed on a linked point)."""
        self._asked.set()

    async def run(self) -> None:
        """Grade on each tick or request until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            asked = False
            try:
                await asyncio.wait_for(self._asked.wait(), self._timeout(loop.time()))
                await asyncio.sleep(self.settle)
                asked = True
            except TimeoutError:
                pass
            self._asked.clear()
            surfaces = not asked or (self._surfaces_due is not None
                                     and loop.time() >= self._surfaces_due)
            if surfaces:
                self._surfaces_due = None
            elif self._surfaces_due is None:
                self._surfaces_due = loop.time() + self.surface_delay
            try:
                report = await run_in_threadpool(self._run_once, surfaces)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down for a while: try again next time
                logger.warning("timed grading failed", exc_info=True)
                continue
            self.runs += 1
            if report.changed:
                logger.info("grading changed %d grades (run %d)", report.changed, report.run_id)

    def _timeout(self, now: float) -> float | None:
        """Seconds to wait for a request: to the next tick or the surfaces' run."""
        waits = [w for w in (self.interval, self._surfaces_due and self._surfaces_due - now)
                 if w is not None]
        return max(0.0, min(waits)) if waits else None

    def _run_once(self, surfaces: bool = True):
        with psycopg.connect(self.conninfo, **self.kwargs) as conn:
            report = regrade(conn, requested_by="service:timer", surfaces=surfaces)
            gaps = refresh_if_stale(conn)
        if gaps is not None:
            logger.info("shelter gaps rebuilt: %d areas", gaps)
        self._refresh_fire_coverage()
        return report

    def _refresh_fire_coverage(self):
        # on a connection of its own, and failing alone: the grades are in by now
        try:
            with psycopg.connect(self.conninfo, **self.kwargs) as conn:
                fire = fire_layer.refresh_if_stale(conn)
        except Exception:
            logger.warning("timed rebuild of the fire coverage failed", exc_info=True)
            return
        if fire is not None:
            logger.info("fire coverage rebuilt: %d areas in %.1f s", *fire)
