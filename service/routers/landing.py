"""`GET /`, `/conformance`, `/api` and `/api.html`: how clients find their way in.

QGIS and GDAL read the landing page as JSON and follow its `service-desc` link to the
API description (QGIS 3.22 refuses a service without it) and its `data` link to the
collections. Browsers asking for `/` get the map page (`routers.pages`); the landing page
as HTML, a list of the collections, stays at `/?f=html` (the JSON's `alternate` link).
Every page works offline.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.deps import BackendDep, BaseUrlDep, SettingsDep
from service.errors import InvalidParameter
from service.features import html
from service.features.negotiation import preferred
from service.features.openapi import OPENAPI_MEDIA_TYPE, api_document
from service.routers.pages import map_page

router = APIRouter(tags=["landing"])

JSON = "application/json"
HTML = "text/html"

CONFORMANCE_CLASSES = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]

_FORMAT = Query(None, description="json or html; without it, the Accept header decides")


def landing_document(title: str, description: str, base_url: str) -> dict[str, Any]:
    """The OGC landing page: what the service is and where its parts are."""
    return {
        "title": title,
        "description": description,
        "links": [
            {"href": f"{base_url}/?f=json", "rel": "self", "type": JSON, "title": "This document"},
            {"href": f"{base_url}/?f=html", "rel": "alternate", "type": HTML,
             "title": "This document as HTML"},
            {"href": f"{base_url}/api", "rel": "service-desc", "type": OPENAPI_MEDIA_TYPE,
             "title": "The API definition (OpenAPI 3.0)"},
            {"href": f"{base_url}/api.html", "rel": "service-doc", "type": HTML,
             "title": "The API documentation"},
            {"href": f"{base_url}/conformance", "rel": "conformance", "type": JSON,
             "title": "Conformance classes implemented"},
            {"href": f"{base_url}/collections", "rel": "data", "type": JSON,
             "title": "The layers (collections)"},
        ],
    }


def _wants(request: Request, f: str | None, offers: tuple[str, ...] = (HTML, JSON)) -> str:
    """The media type asked by `f`, else by the Accept header (browsers get HTML)."""
    names = {"html": HTML, "json": JSON}
    if f is not None:
        if f not in names or names[f] not in offers:
            allowed = " or ".join(k for k, v in names.items() if v in offers)
            raise InvalidParameter("f", f"unsupported format {f!r}; use {allowed}")
        return names[f]
    return preferred(request.headers.get("accept"), offers)


@router.get("/", summary="Landing page",
            responses={200: {"content": {JSON: {}, HTML: {}}, "description": "The landing page"}})
async def landing(request: Request, backend: BackendDep, base_url: BaseUrlDep,
                  f: str | None = _FORMAT) -> Response:
    """The OGC API landing page as JSON (`f=json` or an Accept preferring JSON); for a
    browser (no `f`, an Accept preferring HTML) the map page; with `f=html` the landing
    page as HTML, which lists the collections."""
    app = request.app
    vary = {"Vary": "Accept"}
    if _wants(request, f) == JSON:
        return JSONResponse(landing_document(app.title, app.description, base_url), headers=vary)
    if f is None:
        return map_page(headers=vary)
    catalogue = await backend.catalogue()
    return HTMLResponse(landing_page(app.title, app.description, catalogue, base_url),
                        headers=vary)


def landing_page(title: str, description: str, catalogue, base_url: str) -> str:
    """The landing page as HTML (`/?f=html`): the collections, with links to their data."""
    return html.landing_html(title, description, catalogue, base_url)


@router.get("/conformance", summary="Conformance classes")
async def conformance(request: Request, f: str | None = _FORMAT) -> JSONResponse:
    """The OGC API - Features Part 1 classes this service implements."""
    _wants(request, f, offers=(JSON,))
    return JSONResponse({"conformsTo": CONFORMANCE_CLASSES})


async def _api_document(request: Request, backend, settings, base_url: str) -> dict[str, Any]:
    catalogue = await backend.catalogue()
    return api_document(request.app.openapi(), catalogue, settings.api, base_url)


@router.get("/api", summary="The API definition (OpenAPI 3.0)",
            responses={200: {"content": {OPENAPI_MEDIA_TYPE: {}}, "description": "OpenAPI 3.0"}})
async def api(request: Request, backend: BackendDep, settings: SettingsDep,
              base_url: BaseUrlDep, f: str | None = _FORMAT) -> Response:
    """This API described in OpenAPI 3.0 (JSON)."""
    _wants(request, f, offers=(JSON,))
    document = await _api_document(request, backend, settings, base_url)
    return JSONResponse(document, media_type=OPENAPI_MEDIA_TYPE)


@router.get("/api.html", summary="The API documentation", response_class=HTMLResponse)
async def api_page(request: Request, backend: BackendDep, settings: SettingsDep,
                   base_url: BaseUrlDep) -> HTMLResponse:
    """The API definition as a page for people (no script: it works on an intranet)."""
    return HTMLResponse(html.api_html(await _api_document(request, backend, settings, base_url)))
