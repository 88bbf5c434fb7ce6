"""The nearest help for commanders: `GET /analysis/resources/nearest?lon=&lat=&type=&k=`.

The k resources of a type that would arrive first at a point, fastest first, each with its
straight-line distance and travel time (over the road network where one is loaded and
routable, else the estimate), and how the times were worked out. Bad parameters answer 422
and name the parameter. The search runs on the app's async pool: no thread and no new
connection per request.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request

from layers.catalogue import Catalogue
from layers.commander.nearest import RESOURCE_TYPES, nearest_async
from layers.commander.plans import run_async
from layers.commander.routing import Network, load_network_params, network_state
from service.commander import commander_context, current_versions
from service.errors import AnalysisParameterError

router = APIRouter(tags=["analysis"])

K_DEFAULT, K_MAX = 5, 50
# A point may lie this far beyond the districts' bounding box (degrees, ~2 km): the box is
# what is checked, so a point just across the border of a neighbouring city is answered too.
CITY_MARGIN_DEG = 0.02
AXES = {"lon": "longitude", "lat": "latitude"}


def coordinate(request: Request, name: str, low: float, high: float) -> float:
    """A longitude or latitude in degrees (WGS84), required and finite."""
    text = request.query_params.get(name)
    if text is None or not text.strip():
        raise AnalysisParameterError(name, f"missing: the {AXES.get(name, name)} in WGS84 degrees")
    try:
        value = float(text)
    except ValueError:
        raise AnalysisParameterError(name, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise AnalysisParameterError(name, f"{text!r} is not a finite number")
    if not low <= value <= high:
        raise AnalysisParameterError(name, f"{text} is outside {low:g} to {high:g}")
    return value


def in_city(catalogue: Catalogue, lon: float, lat: float) -> None:
    """Refuse a point outside the districts' extent (plus CITY_MARGIN_DEG), naming the axis."""
    extent = catalogue.get("districts").extent
    if extent is None:                  # no districts loaded: nothing to compare with
        return
    m = CITY_MARGIN_DEG
    west, south, east, north = extent[0] - m, extent[1] - m, extent[2] + m, extent[3] + m
    bounds = (f"the districts' extent widened by {m:g}°: longitude {west:.4f} to {east:.4f}, "
              f"latitude {south:.4f} to {north:.4f}")
    if not west <= lon <= east:
        raise AnalysisParameterError("lon", f"{lon:g} is outside the city ({bounds})")
    if not south <= lat <= north:
        raise AnalysisParameterError("lat", f"{lat:g} is outside the city ({bounds})")


def resource_type(request: Request) -> str:
    """One resource type, required."""
    value = request.query_params.get("type")
    valid = ", ".join(RESOURCE_TYPES)
    if value is None or not value.strip():
        raise AnalysisParameterError("type", f"missing: one of {valid}")
    if value not in RESOURCE_TYPES:
        raise AnalysisParameterError("type", f"{value!r} is not one of {valid}")
    return value


def whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high`, `default` when not given."""
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise AnalysisParameterError(name, f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise AnalysisParameterError(name, f"{value} is outside {low} to {high}")
    return value


async def nearest_help(request: Request, lon: float, lat: float, rtype: str, k: int) -> dict:
    """The answer of the endpoint for a checked point, type and k (also for other analyses)."""
    context = commander_context(request.app)
    density = await context.density(await current_versions(request))
    async with request.app.state.backend.pool.connection() as conn:
        state = await run_async(conn, network_state())
        network = Network(state, load_network_params()) if state.usable else None
        answer = await nearest_async(conn, lon, lat, rtype, k, context.travel, density, network)
    travel = answer.travel
    if network is None and state.why_not():
        travel = {**travel, "network": state.why_not()}
    point = {"lon": lon, "lat": lat, "area_type": answer.area_type}
    if travel.get("method") == "network" and answer.road is not None:
        point["road"] = answer.road.as_dict()
    return {"items": [h.as_dict() for h in answer.helpers], "travel": travel, "point": point}


@router.get("/analysis/resources/nearest",
            summary="The k resources of a type that would arrive first at a point",
            responses={422: {"description": "A bad parameter; the message names it"},
                       503: {"description": "The database is unavailable"}})
async def nearest_resources(request: Request) -> dict:
    """Fastest first: `items` (each with `id`, `name`, `type`, `distance_m` in a straight
    line, `eta_s`, `method`, and its attributes), `travel` (the method and its parameters)
    and `point` (with the kind of area there).

    Query: `lon`, `lat` (WGS84 degrees, inside the city; required), `type` (one of
    storage, rescue_team, fire_station, broadcast, supply_enterprise, medical; required),
    `k` (1 to 50, default 5).
    """
    lon = coordinate(request, "lon", -180.0, 180.0)
    lat = coordinate(request, "lat", -90.0, 90.0)
    in_city(await request.app.state.backend.catalogue(), lon, lat)
    rtype = resource_type(request)
    k = whole(request, "k", K_DEFAULT, 1, K_MAX)
    return await nearest_help(request, lon, lat, rtype, k)
