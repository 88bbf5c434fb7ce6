"""Shelters for planners: `GET /analysis/shelters`, `/analysis/shelters/{district_code}` and
`/analysis/shelters/{district_code}/candidates`.

Per district and sub-district: residents, shelters by class, effective area, m² per
resident against the standard (default 1.5 m²), pass/fail, the deficit, and the share of
residents with a place in a shelter within walking range (capacity counted). As JSON,
`?format=csv` (a table for spreadsheets) or `?format=geojson` (polygons with the figures,
for a choropleth). Bad parameters answer 422 and name the parameter; an unknown district 404.
"""

from __future__ import annotations

from typing import Any

import orjson
import shapely
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from geodata.errors import NotFoundError
from layers.shelters.standards import CLASSES
from service.errors import AnalysisParameterError
from service.features import encode
from service.routers.tiles import tile_service
from service.shelter_analysis import Analysed, ShelterAnalysis

router = APIRouter(tags=["analysis"])

FORMATS = ("json", "csv", "geojson")
LEVELS = ("districts", "subdistricts")
GEOJSON_TOLERANCE = 0.0002  # degrees (~20 m): choropleth outlines, not survey lines


def shelter_analysis(app: FastAPI) -> ShelterAnalysis:
    analysis = getattr(app.state, "shelter_analysis", None)
    if analysis is None:
        backend = app.state.backend
        analysis = app.state.shelter_analysis = ShelterAnalysis(backend.conninfo,
                                                                backend.connect_kwargs)
    return analysis


async def analysed(request: Request) -> Analysed:
    versions = await (await tile_service(request)).versions.current()
    return await shelter_analysis(request.app).current(versions)


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in choices:
        raise AnalysisParameterError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _number(request: Request, name: str, default: float, low: float, high: float,
            whole: bool = False) -> float:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise AnalysisParameterError(name, f"{text!r} is not {kind}") from None
    if not low <= value <= high:  # NaN fails this too
        raise AnalysisParameterError(name, f"{text} is outside {low:g} to {high:g}")
    return value


_FLAT_SKIP = ("shelters_by_class", "coverage")


def _flat(entry: dict) -> dict:
    """An entry with its nested figures as columns (coverage_all, shelters_emergency, …)."""
    out = {k: v for k, v in entry.items() if k not in _FLAT_SKIP}
    out |= {f"shelters_{k}": v for k, v in entry["shelters_by_class"].items()}
    out |= {f"coverage_{k}": v for k, v in entry["coverage"].items()}
    return out


def _csv(entries: list[tuple[str, dict]], filename: str) -> Response:
    rows = [{"level": level, **_flat(e)} for level, e in entries]
    header = list(rows[0]) if rows else ["level"]
    body = encode.csv_document(header, [["" if r.get(h) is None else str(r.get(h))
                                         for h in header] for r in rows])
    return Response(body, media_type=encode.CSV_WITH_CHARSET,
                    headers={"Content-Disposition": encode.attachment(filename)})


def _geojson(entries: list[tuple[str, dict, Any]]) -> Response:
    features = [{"type": "Feature", "id": e["code"],
                 "properties": {"level": level, **_flat(e)},
                 "geometry": shapely.geometry.mapping(
                     shapely.simplify(geom, GEOJSON_TOLERANCE, preserve_topology=True))}
                for level, e, geom in entries]
    return Response(orjson.dumps({"type": "FeatureCollection", "features": features},
                                 option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type=encode.GEOJSON)


_RESPONSES = {200: {"content": {"application/json": {}, encode.CSV: {}, encode.GEOJSON: {}}},
              422: {"description": "A bad parameter; the message names it"},
              503: {"description": "No population surface, or the database is unavailable"}}


@router.get("/analysis/shelters", summary="Shelter area per resident and coverage, per district",
            response_class=Response, responses=_RESPONSES)
async def shelters_by_district(request: Request) -> Response:
    """Every district (or with `level=subdistricts` every sub-district) and the city.

    Query: `format` = json (default) | csv | geojson; `level` = districts | subdistricts.
    """
    fmt = _choice(request, "format", FORMATS, "json")
    level = _choice(request, "level", LEVELS, "districts")
    result = await analysed(request)
    report, surface = result.report, result.surface
    areas = surface.districts if level == "districts" else surface.subdistricts
    entries = report.districts if level == "districts" else report.subdistricts
    if fmt == "csv":
        rows = [(level[:-1], e) for e in entries]
        return _csv(rows + [("city", {"code": "", **report.city})], f"shelters_{level}.csv")
    if fmt == "geojson":
        return _geojson([(level[:-1], e, a.geom) for e, a in zip(entries, areas)])
    return JSONResponse({level: entries, "city": report.city, "standards": report.standards,
                         "population_surface": surface.raster.parameters})


def _district(result: Analysed, code: str) -> tuple[int, dict]:
    index = result.surface.district_index(code)
    if index is None:
        known = ", ".join(a.code for a in result.surface.districts)
        raise NotFoundError(f"no district with code {code!r}; districts: {known}")
    return index, result.report.districts[index]


@router.get("/analysis/shelters/{district_code}",
            summary="Shelter area per resident and coverage in a district, per sub-district",
            response_class=Response, responses={**_RESPONSES, 404: {"description": "No such district"}})
async def shelters_of_district(district_code: str, request: Request) -> Response:
    """The district and each of its sub-districts. Query: `format` = json | csv | geojson."""
    fmt = _choice(request, "format", FORMATS, "json")
    result = await analysed(request)
    index, district = _district(result, district_code)
    surface = result.surface
    subs = [(e, a) for e, a in zip(result.report.subdistricts, surface.subdistricts)
            if a.district_code == district_code]
    if fmt == "csv":
        return _csv([("district", district)] + [("subdistrict", e) for e, _ in subs],
                    f"shelters_{district_code}.csv")
    if fmt == "geojson":
        return _geojson([("district", district, surface.districts[index].geom)]
                        + [("subdistrict", e, a.geom) for e, a in subs])
    return JSONResponse({"district": district, "subdistricts": [e for e, _ in subs],
                         "standards": result.report.standards})


@router.get("/analysis/shelters/{district_code}/candidates",
            summary="Where new shelters would shelter the most people still without a place",
            responses={404: {"description": "No such district"},
                       422: {"description": "A bad parameter; the message names it"}})
async def shelter_candidates(district_code: str, request: Request) -> dict:
    """Up to `n` sites, chosen one after another, each the one that would give places to the
    most residents of the district who have none within walking range, given the ones
    before it. Sites are the district's `candidate_sites` when any are loaded, else a grid.

    Query: `n` (default 5), `area_m2` (effective area of each new shelter), `class`
    (emergency, fixed or central: its radius and m² per person apply).
    """
    analysis = shelter_analysis(request.app)
    defaults = analysis.standards.candidates
    n = int(_number(request, "n", min(5, defaults.max_n), 1, defaults.max_n,
                    whole=True))
    area_m2 = _number(request, "area_m2", defaults.area_m2, 1.0, 10_000_000.0)
    shelter_class = _choice(request, "class", CLASSES, defaults.shelter_class)
    versions = await (await tile_service(request)).versions.current()
    return await analysis.candidates(versions, district_code, n, area_m2, shelter_class)
