"""`GET /stats/grades`: how many risk units of each grade, per district, category or domain."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.deps import CatalogueDep, PoolDep
from service.features import encode
from service.features.grades import grade_stats_document, grade_stats_table
from service.features.params import GRADE_GROUPINGS, parse_grade_stats
from service.features.query import grade_stats_query

router = APIRouter(tags=["statistics"])

GRADED_LAYER = "risk_units"


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "description": description, "schema": schema}


_PARAMETERS = [
    _query("by", "Group by district (default), category or domain.",
           {"type": "string", "enum": list(GRADE_GROUPINGS), "default": "district"}),
    _query("f", "json (default) or csv.", {"type": "string", "enum": ["json", "csv"]}),
    _query("bbox", "Only units touching minx,miny,maxx,maxy (CRS84).",
           {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6}),
    _query("bbox-crs", "CRS of bbox.", {"type": "string"}),
    *(_query(name, f"Only units with this {name} (comma list: any of).", {"type": "string"})
      for name in ("district", "category", "domain", "grade")),
]


@router.get("/stats/grades", summary="Risk units per grade",
            response_class=Response, openapi_extra={"parameters": _PARAMETERS},
            responses={200: {"description": "Counts per grade and group",
                             "content": {encode.JSON: {}, encode.CSV: {}}},
                       400: {"description": "A bad parameter; the message names it"}})
async def grade_stats(request: Request, catalogue: CatalogueDep, pool: PoolDep) -> Response:
    """Counts of red, orange, yellow, blue and ungraded units for each group, and in all.

    Takes the attribute filters of the risk units (`district`, `category`, `domain`,
    `grade`) and `bbox`, as the items request does.
    """
    layer = catalogue.get(GRADED_LAYER)
    stats = parse_grade_stats(request.query_params.multi_items(), layer)
    grades = layer.attribute("grade").values
    query, params = grade_stats_query(layer, stats, grades)
    async with pool.connection() as conn:
        rows = await (await conn.execute(query, params)).fetchall()
    document = grade_stats_document(layer, stats, rows, grades)
    if stats.format == "csv":
        header, table = grade_stats_table(document, grades)
        return Response(encode.csv_document(header, table), media_type=encode.CSV_WITH_CHARSET,
                        headers={"Content-Disposition": encode.attachment(
                            f"grades_by_{stats.by}.csv")})
    return JSONResponse(document)
