"""The FastAPI application: `create_app(settings)` builds one, ready for uvicorn or tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from geodata.db import database_url
from layers.alarms.rules import load_rules as load_alarm_rules
from layers.alarms.watch import AlarmWatch
from service.alarm_feed import AlarmFeed
from service.deps import Backend
from service.errors import install_error_handlers
from service.grading_schedule import GradingTimer
from service.read_access import ReadAccess
from service.readings_upkeep import keep_partitions_periodically
from service.routers import (
    alarms,
    collections,
    features,
    fire,
    grading,
    health,
    landing,
    login,
    pages,
    raster,
    readings,
    resources,
    shelters,
    situation,
    stats,
    styles,
    tiles,
)
from service.settings import DatabaseSettings, Settings

logger = logging.getLogger(__name__)

TITLE = "城市安全风险一张图 · City-safety one map"
APPLICATION_NAME = "onemap-service"  # shows in pg_stat_activity


class OrjsonResponse(JSONResponse):
    """JSON encoded by orjson: several times faster than `json` on large documents.

    Our own class: FastAPI's ORJSONResponse is deprecated. Non-string keys and numpy
    values are accepted, as feature properties read from data frames may carry them.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def connection_kwargs(conninfo: str, db: DatabaseSettings) -> dict[str, Any]:
    """libpq settings for every connection of the app: timeouts and a name to spot it by."""
    kwargs: dict[str, Any] = {"connect_timeout": db.connect_timeout,
                              "application_name": APPLICATION_NAME}
    # statement_timeout goes in the start-up packet (no extra round trip); keep any
    # options the URL already has, since a keyword argument would replace them.
    options = conninfo_to_dict(conninfo).get("options") or ""
    kwargs["options"] = f"{options} -c statement_timeout={db.statement_timeout_ms}".strip()
    return kwargs


def make_pool(conninfo: str, db: DatabaseSettings) -> AsyncConnectionPool:
    """The app's one bounded pool (not opened yet: the lifespan opens it)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=db.pool_min_size,
        max_size=db.pool_max_size,
        max_lifetime=db.pool_max_lifetime,
        timeout=db.pool_timeout,
        reconnect_timeout=db.reconnect_timeout,
        kwargs=connection_kwargs(conninfo, db),
        # a connection is checked before it is handed out, so a server restart costs
        # no failed request
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="onemap",
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The one-map HTTP service for `settings` (read from the environment when None).

    The database URL falls back to `geodata.db.database_url()` here, at creation, so
    importing this module reads nothing. The lifespan opens the pool, checks PostgreSQL
    and PostGIS (3 or newer) and builds the layer catalogue; if the database does not
    answer then, the app starts anyway and /healthz answers 503 until it does.
    """
    settings = settings or Settings()
    conninfo = settings.database.url or database_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(make_pool(conninfo, settings.database),
                          conninfo, connection_kwargs(conninfo, settings.database),
                          refresh_seconds=settings.api.catalogue_refresh_seconds)
        app.state.backend = backend
        app.state.alarm_feed = feed = AlarmFeed(backend.connect, backend.pool)
        app.state.grading_timer = None
        timers = []
        try:
            await backend.start()
            feed.start()
            kwargs = connection_kwargs(conninfo, settings.database)
            if settings.grading.interval_seconds or settings.grading.on_red_alarm:
                app.state.grading_timer = GradingTimer(
                    conninfo, kwargs, settings.grading.interval_seconds)
                timers.append(asyncio.create_task(app.state.grading_timer.run()))
            if settings.readings.upkeep_interval_seconds:
                timers.append(asyncio.create_task(keep_partitions_periodically(
                    conninfo, kwargs, settings.readings)))
            yield
        finally:
            for timer in timers:
                timer.cancel()
            await feed.close()
            if hasattr(app.state, "raster_tiles"):
                app.state.raster_tiles.close()
            await backend.close()

    app = FastAPI(
        title=TITLE,
        description="Risk units, lifeline monitoring, shelters and emergency resources of "
                    "Xi'an, served as OGC API - Features collections.",
        version=_version(),
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        # /api and /api.html (routers.landing) describe the API and work offline; FastAPI's
        # /docs and /redoc load their scripts from a CDN, which an intranet cannot reach.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.api.telemetry else
        {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    # read now, so that a bad rule file stops the start with its message
    app.state.alarm_rules = load_alarm_rules()
    app.state.alarm_watch = AlarmWatch(app.state.alarm_rules)
    app.add_middleware(tiles.TileShortcut)  # inside the error handling added next
    if settings.api.read_token:
        app.add_middleware(ReadAccess)  # around the tile shortcut: tiles are reads too
    install_error_handlers(app)
    if settings.api.cors_origins:
        # added last, so it wraps everything, error answers included
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST"],
            allow_headers=["*"],
        )
    app.include_router(landing.router)
    app.include_router(pages.router)  # the map page and its files (MapLibre from npm)
    app.include_router(login.router)  # /login for browsers when reads need a token
    app.include_router(health.router)
    app.include_router(collections.router)
    app.include_router(features.router)
    app.include_router(stats.router)
    app.include_router(grading.router)
    app.include_router(raster.router)  # before the vector tiles: it owns /tiles/risk_density…
    app.include_router(tiles.router)  # vector tiles and TileJSON: /tiles/{layer}…
    app.include_router(styles.router)
    app.include_router(shelters.router)  # /analysis/shelters…
    app.include_router(resources.router)  # /analysis/resources/nearest
    app.include_router(fire.router)  # /analysis/fire-coverage
    app.include_router(situation.router)  # /analysis/situation
    app.include_router(readings.router)  # POST /readings (operator token)
    app.include_router(alarms.router)  # /alarms…: list, one, rules, stream, ack, close
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onemap")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
