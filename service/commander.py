"""What the commander's endpoints share: the travel parameters and the density lookup over
the population surface, kept until the surface changes (its `layer_versions` entry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from geodata.population import RASTER_NAME
from geodata.rasters import load_raster
from layers.commander.travel import DensityLookup, TravelModel, load_travel
from service.routers.tiles import tile_service


class CommanderContext:
    """Travel model and density lookup, and short-lived connections for the analyses."""

    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any],
                 travel: TravelModel | None = None):
        self.conninfo, self.connect_kwargs = conninfo, connect_kwargs
        self.travel = travel or load_travel()
        self._density: tuple[Any, DensityLookup | None] | None = None
        self._lock = asyncio.Lock()

    def connect(self) -> psycopg.Connection:
        """A connection of its own for work in a worker thread."""
        return psycopg.connect(self.conninfo, **self.connect_kwargs)

    async def density(self, versions: Mapping | None) -> DensityLookup | None:
        """The density lookup as of `versions` (None when no population surface is stored)."""
        key = None if versions is None else versions.get(RASTER_NAME)
        if key is not None and self._density is not None and self._density[0] == key:
            return self._density[1]
        async with self._lock:
            if key is not None and self._density is not None and self._density[0] == key:
                return self._density[1]

            def build() -> DensityLookup | None:
                with self.connect() as conn:
                    raster = load_raster(conn, RASTER_NAME)
                return DensityLookup(raster) if raster is not None else None

            lookup = await run_in_threadpool(build)
            self._density = (key, lookup) if key is not None else None
            return lookup


def commander_context(app: FastAPI) -> CommanderContext:
    context = getattr(app.state, "commander", None)
    if context is None:
        backend = app.state.backend
        context = app.state.commander = CommanderContext(backend.conninfo, backend.connect_kwargs)
    return context


async def current_versions(request: Request) -> Mapping | None:
    """The data versions (through the tile service's shared reader)."""
    return await (await tile_service(request)).versions.current()
