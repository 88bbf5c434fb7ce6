"""Fire-station reach for commanders and planners: `GET /analysis/fire-coverage`.

Per district: residents, residents a fire crew reaches within the response time of GB
51080-2015 §4.1.3 (5 minutes from the dispatch order), the share, the built-up land and the
part of it outside the reach, and the stations; the city's totals, every station against
the §4.1.3 area limit, and the parameters used. As JSON, `?format=csv` (a table for
spreadsheets) or `?format=geojson` (the built-up land outside the reach, one polygon per
district, with the district's figures); `?district=610113` for one district. The figures are
worked out in a worker thread and kept until the stations, the population, the districts
or the roads change (`layers.commander.fire`); the `fire_coverage` layer holds the same
polygons for the tiles.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
import shapely
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from geodata.datums import local_to_wgs84
from geodata.errors import NotFoundError
from layers.commander.fire import FireCoverage, FireRules, analyse, load_fire_rules
from layers.commander.fire_layer import INPUTS, outside_polygons
from service.commander import CommanderContext, commander_context, current_versions
from service.errors import AnalysisParameterError
from service.features import encode

router = APIRouter(tags=["analysis"])

FORMATS = ("json", "csv", "geojson")
DISTRICT_CODE = re.compile(r"\d{6}")


@dataclass
class _Computed:
    cover: FireCoverage
    outside: dict | None = field(default=None)   # district index -> (WGS84 polygon, ...)


class FireAnalysis:
    """The latest reach and figures, worked out again when their inputs' versions move."""

    def __init__(self, context: CommanderContext, rules: FireRules | None = None):
        self.context = context
        self.rules = rules or load_fire_rules()
        self._lock = asyncio.Lock()  # one computation at a time; the others wait for it
        self._current: tuple[tuple, _Computed] | None = None

    async def current(self, versions: Mapping | None) -> _Computed:
        """The analysis of the data as of `versions` (None: unknown, compute anew)."""
        key = None if versions is None else tuple(versions.get(n) for n in INPUTS)
        if key is not None and self._current is not None and self._current[0] == key:
            return self._current[1]
        async with self._lock:
            if key is not None and self._current is not None and self._current[0] == key:
                return self._current[1]
            computed = _Computed(await run_in_threadpool(self._compute))
            self._current = (key, computed) if key is not None else None
            return computed

    def _compute(self) -> FireCoverage:
        with self.context.connect() as conn:
            return analyse(conn, self.context.travel, self.rules)

    async def outside(self, computed: _Computed) -> dict:
        """The built-up land outside the reach per district index, in WGS84 (made once)."""
        if computed.outside is None:
            def build() -> dict:
                polygons = outside_polygons(computed.cover, self.rules)
                geoms = local_to_wgs84([g for g, _, _ in polygons.values()])
                return {i: (g, *rest) for (i, (_, *rest)), g in zip(polygons.items(), geoms)}
            computed.outside = await run_in_threadpool(build)
        return computed.outside


def fire_analysis(app: FastAPI) -> FireAnalysis:
    analysis = getattr(app.state, "fire_analysis", None)
    if analysis is None:
        analysis = app.state.fire_analysis = FireAnalysis(commander_context(app))
    return analysis


def _format(request: Request) -> str:
    value = request.query_params.get("format", "json")
    if value not in FORMATS:
        raise AnalysisParameterError("format", f"{value!r} is not one of {', '.join(FORMATS)}")
    return value


def _district(request: Request, cover: FireCoverage) -> int | None:
    """Index of the `district` asked for, None for all of them."""
    code = request.query_params.get("district")
    if code is None:
        return None
    if not DISTRICT_CODE.fullmatch(code):
        raise AnalysisParameterError("district", f"{code!r} is not a 6-digit district code")
    codes = [d.code for d in cover.inputs.districts]
    if code not in codes:
        raise NotFoundError(f"no district with code {code!r}; districts: {', '.join(codes)}")
    return codes.index(code)


def _csv(entries: list[dict], filename: str) -> Response:
    header = list(dict.fromkeys(k for e in entries for k in e))
    body = encode.csv_document(header, [["" if e.get(h) is None else str(e.get(h))
                                         for h in header] for e in entries])
    return Response(body, media_type=encode.CSV_WITH_CHARSET,
                    headers={"Content-Disposition": encode.attachment(filename)})


def _geojson(entries: list[tuple[dict, tuple]]) -> Response:
    features = [{"type": "Feature", "id": entry["district_code"],
                 "properties": {"kind": "outside", **entry, "residents_in_polygon": people,
                                "area_km2": round(area, 2)},
                 "geometry": shapely.geometry.mapping(geom)}
                for entry, (geom, people, area) in entries]
    return Response(orjson.dumps({"type": "FeatureCollection", "features": features},
                                 option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type=encode.GEOJSON)


_RESPONSES = {200: {"content": {"application/json": {}, encode.CSV: {}, encode.GEOJSON: {}}},
              404: {"description": "No such district"},
              422: {"description": "A bad parameter; the message names it"},
              503: {"description": "No population surface, or the database is unavailable"}}


@router.get("/analysis/fire-coverage",
            summary="Residents and built-up land a fire crew reaches within 5 minutes",
            response_class=Response, responses=_RESPONSES)
async def fire_coverage(request: Request) -> Response:
    """Every district (or `district=610113`), the city, the stations and the parameters.

    Query: `format` = json (default) | csv | geojson (the built-up land outside the reach);
    `district` = a district code.
    """
    fmt = _format(request)
    analysis = fire_analysis(request.app)
    computed = await analysis.current(await current_versions(request))
    cover = computed.cover
    index = _district(request, cover)
    result = cover.report
    districts = result.districts if index is None else [result.districts[index]]
    suffix = "" if index is None else f"_{districts[0]['district_code']}"
    if fmt == "csv":
        rows = [{"level": "district", **d} for d in districts]
        rows.append({"level": "city", "district_code": "", "name": "全市", "name_en": "City",
                     **result.city})
        return _csv(rows, f"fire_coverage{suffix}.csv")
    if fmt == "geojson":
        outside = await analysis.outside(computed)
        wanted = range(len(result.districts)) if index is None else [index]
        return _geojson([(result.districts[i], outside[i]) for i in wanted if i in outside])
    codes = {d["district_code"] for d in districts}
    stations = [s for s in result.stations if index is None or s["district_code"] in codes]
    return JSONResponse({"districts": districts, "city": result.city, "stations": stations,
                         "parameters": result.parameters,
                         "population_surface": cover.inputs.raster.parameters})
