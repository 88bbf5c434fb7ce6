"""The situation around an incident: `GET /analysis/situation?lon=&lat=&radius_m=`.

For the circle of `radius_m` (default and cap in `layers/rules/situation.toml`) around a
point of the city: risk units by grade with the red ones listed, monitoring points and
their alarms not yet closed, open hidden dangers (major ones listed), residents ring by
ring, shelters with the places they have left, and the nearest help of each resource type
(`layers.commander.situation`). JSON by default; `?format=html` is a one-page printable
brief with a map drawn by the server. Runs on the app's async pool: one statement for the
circle, then the nearest-help searches, on one connection.
"""

from __future__ import annotations

import math
from datetime import datetime

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from geodata.rasters import StoredRaster
from layers.commander.lockstep import run_batches_async
from layers.commander.population_rings import ring_edges
from layers.commander.situation import (
    RULES_FILE,
    OutsideCityError,
    ShelterPlaces,
    SituationRules,
    load_rules,
    situation_plan,
)
from layers.shelters.analysis import capacities
from layers.shelters.inputs import MissingPopulationError
from service.commander import commander_context, current_versions
from service.errors import AnalysisParameterError
from service.routers.resources import coordinate, in_city
from service.routers.shelters import analysed, shelter_analysis
from service.situation_brief import CONTENT_SECURITY_POLICY, brief_html
from service.situation_map import map_rows, situation_svg

router = APIRouter(tags=["analysis"])

FORMATS = ("json", "html")


def situation_rules(app: FastAPI) -> SituationRules:
    rules = getattr(app.state, "situation_rules", None)
    if rules is None:
        rules = app.state.situation_rules = load_rules()
    return rules


def radius(request: Request, rules: SituationRules) -> float:
    """`radius_m`: metres, above 0 and at most the cap of the rules."""
    text = request.query_params.get("radius_m")
    if text is None or not text.strip():
        return rules.default_radius_m
    try:
        value = float(text)
    except ValueError:
        raise AnalysisParameterError("radius_m", f"{text!r} is not a number of metres") from None
    cap = (f"the cap is {rules.max_radius_m:g} m (radius.max_m in "
           f"layers/rules/{RULES_FILE.name})")
    if not math.isfinite(value):
        raise AnalysisParameterError("radius_m", f"{text!r} is not a finite number; {cap}")
    if value <= 0:
        raise AnalysisParameterError("radius_m", f"{text} m: the radius must be above 0 m; {cap}")
    if value > rules.max_radius_m:
        raise AnalysisParameterError("radius_m", f"{text} m is above the cap: {cap}")
    return value


def output_format(request: Request) -> str:
    value = request.query_params.get("format", "json")
    if value not in FORMATS:
        raise AnalysisParameterError("format", f"{value!r} is not one of {', '.join(FORMATS)}")
    return value


async def population_and_places(request: Request) -> tuple[StoredRaster | None,
                                                           ShelterPlaces | None]:
    """The population surface and each shelter's capacity and load, from the shelter
    analysis the service keeps (None, None when no population surface is stored)."""
    try:
        result = await analysed(request)
    except MissingPopulationError:
        return None, None
    cached = getattr(request.app.state, "situation_places", None)
    if cached is None or cached[0] is not result:
        capacity, _ = capacities(result.shelters, shelter_analysis(request.app).standards)
        order = result.shelters.id.argsort()
        places = ShelterPlaces(result.shelters.id[order], capacity[order],
                               result.report.coverage.together.load[order])
        cached = request.app.state.situation_places = (result, places)
    return result.surface.raster, cached[1]


async def situation_answer(request: Request, lon: float, lat: float, radius_m: float,
                           with_map: bool = False) -> tuple[dict, list | None]:
    """The answer for a checked point and radius, and the map's rows when asked."""
    rules = situation_rules(request.app)
    context = commander_context(request.app)
    versions = await current_versions(request)
    density = await context.density(versions)
    population, places = await population_and_places(request)
    async with request.app.state.backend.pool.connection() as conn:
        try:
            answer = await run_batches_async(conn, situation_plan(
                lon, lat, radius_m, rules, context.travel, density, population, places))
        except OutsideCityError as exc:
            raise AnalysisParameterError("lon,lat", f"{exc}: the point is outside the "
                                                    "city") from None
        rows = await map_rows(conn, answer) if with_map else None
    return answer, rows


_RESPONSES = {200: {"content": {"application/json": {}, "text/html": {}}},
              422: {"description": "A bad parameter; the message names it"},
              503: {"description": "The database is unavailable"}}


@router.get("/analysis/situation", summary="The situation in a circle around an incident",
            response_class=Response, responses=_RESPONSES)
async def situation_endpoint(request: Request) -> Response:
    """What is at risk and what help is near, in the circle around a point.

    Query: `lon`, `lat` (WGS84 degrees, in a district of the city; required), `radius_m`
    (metres, default 1,000, at most 5,000 as set in layers/rules/situation.toml), `format`
    = json (default) | html (a printable one-page brief with a map).

    JSON: `district`, `subdistrict`; `risk_units` (`by_grade`, the `red` ones listed
    nearest first); `monitoring_points` (`by_grade`, `alarming`, `open_alarms`: alarms not
    closed, i.e. open or acknowledged, by grade and state, listed worst and latest first);
    `hidden_dangers` (open ones by level, the `major` ones listed); `population` (residents
    of the population surface by ring, per ring and cumulative); `shelters` (each with
    `capacity`, `load` = residents of its walking area already given a place there by the
    shelter coverage analysis, and `remaining` = capacity - load); `nearest` (per resource
    type, first to arrive first); `travel` (how arrival times are worked out). Lists are
    cut at the rules' `max_items`; `count` is always the whole.
    """
    fmt = output_format(request)
    lon = coordinate(request, "lon", -180.0, 180.0)
    lat = coordinate(request, "lat", -90.0, 90.0)
    radius_m = radius(request, situation_rules(request.app))
    in_city(await request.app.state.backend.catalogue(), lon, lat)
    answer, rows = await situation_answer(request, lon, lat, radius_m, with_map=fmt == "html")
    if fmt == "html":
        edges = ring_edges(radius_m, situation_rules(request.app).ring_steps_m)
        page = brief_html(answer, situation_svg(answer, rows, edges),
                          datetime.now().astimezone())
        return HTMLResponse(page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                           "X-Content-Type-Options": "nosniff"})
    return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")
