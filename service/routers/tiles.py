"""Vector tiles: `GET /tiles/{layer}/{z}/{x}/{y}.mvt` and `GET /tiles/{layer}.json` (TileJSON).

Tiles are Mapbox Vector Tiles of the WebMercatorQuad grid, zooms 0 to 22, made by PostGIS
(see `service.tiles`). An empty tile answers 204. Every tile carries a content ETag and
Cache-Control; a matching If-None-Match answers 304; clients that accept gzip get it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from geodata.errors import UnknownLayerError
from layers.catalogue import Catalogue, Layer
from layers.tiling import has_tiles
from service.deps import BaseUrlDep, CatalogueDep
from service.errors import known_error_response
from service.tiles.cache import gzip_etag
from service.tiles.grid import Tile, parse_tile
from service.tiles.service import TileService
from service.tiles.tilejson import tilejson_document, tilejson_url

MVT = "application/vnd.mapbox-vector-tile"


def make_tile_service(app: FastAPI) -> TileService:
    backend, settings = app.state.backend, app.state.settings
    return TileService(backend.conninfo, backend.connect_kwargs, settings.tiles,
                       settings.database)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's own lifespan: the backend is there; the catalogue may be."""
    service = make_tile_service(app)
    app.state.tiles = service
    layers: list[Layer] = []
    backend = app.state.backend
    if backend.versions is not None:  # the database answered at start-up
        try:
            layers = [layer for layer in await backend.catalogue() if has_tiles(layer)]
        except Exception:  # noqa: BLE001 - the statements are then built on first use
            layers = []
    await service.start(layers)
    try:
        yield
    finally:
        await service.close()


router = APIRouter(tags=["tiles"], lifespan=lifespan)


async def tile_service(request: Request) -> TileService:
    """The app's tile service (made here if the app's lifespan did not run this router's)."""
    service = getattr(request.app.state, "tiles", None)
    if service is None:
        service = request.app.state.tiles = make_tile_service(request.app)
        await service.start()
    return service


def tiled_layer(catalogue: Catalogue, name: str) -> Layer:
    """The layer called `name`, if it has tiles (404 otherwise, naming those that do)."""
    layer = catalogue.get(name)
    if not has_tiles(layer):
        tiled = ", ".join(n.name for n in catalogue if has_tiles(n))
        raise UnknownLayerError(f"layer {name!r} has no tiles of its own: its features are in "
                                f"the tiles of {layer.parent!r}; tiled layers: {tiled}")
    return layer


def accepts_gzip(headers: Headers) -> bool:
    """Whether Accept-Encoding takes gzip (or anything) with a weight above 0."""
    for part in headers.get("accept-encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        return weight > 0
    return False


def not_modified(headers: Headers, etag: str) -> bool:
    """Whether If-None-Match names this tile (either of its encodings; weak comparison)."""
    header = headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = {etag, gzip_etag(etag)}
    return any(tag.strip().removeprefix("W/") in wanted for tag in header.split(","))


def cache_control(max_age: int) -> str:
    return f"public, max-age={max_age}" if max_age > 0 else "no-cache"


async def serve_tile(request_headers: Headers, service: TileService, layer: Layer, tile: Tile
                     ) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (Content-Type among them) and body answering a request for `tile`."""
    settings = service.settings
    found = await service.tile(layer, tile.z, tile.x, tile.y)
    packed = (settings.gzip and len(found.data) >= max(1, settings.gzip_min_bytes)
              and accepts_gzip(request_headers))
    headers = {"ETag": gzip_etag(found.etag) if packed else found.etag,
               "Cache-Control": cache_control(settings.max_age_seconds),
               "Vary": "Accept-Encoding"}
    if not_modified(request_headers, found.etag):
        return 304, headers, b""
    headers["Content-Type"] = MVT
    if not found.data:
        return 204, headers, b""
    if packed:
        headers["Content-Encoding"] = "gzip"
        return 200, headers, await service.gzipped(layer, tile.z, tile.x, tile.y, found)
    return 200, headers, found.data


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


# The path is read from request.path_params, not declared as arguments: FastAPI would
# validate each one on every request, and parse_tile checks them anyway (with messages).
_TILE_PARAMETERS = [_path("layer", "Layer id, as listed by /tiles"),
                    _path("z", "Zoom, 0 to 22"), _path("x", "Column, 0 to 2^z - 1"),
                    _path("y", "Row, 0 to 2^z - 1 (from the north)")]


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            summary="A vector tile of a layer", openapi_extra={"parameters": _TILE_PARAMETERS},
            responses={200: {"content": {MVT: {}}, "description": "The tile"},
                       204: {"description": "No feature in this tile"},
                       304: {"description": "Not modified (If-None-Match)"},
                       400: {"description": "z, x or y is not a tile of the grid"},
                       404: {"description": "No such layer, or one without tiles"}})
async def get_tile(request: Request) -> Response:
    """Tile z/x/y (WebMercatorQuad, zooms 0-22) of a layer, as a Mapbox Vector Tile.

    Below the zoom given as `individual_from` in the layer's TileJSON, the tiles of the
    risk units and monitoring points hold aggregation cells (layer `<layer>_cells`).
    """
    path = request.path_params
    tile = parse_tile(path["z"], path["x"], path["y"])
    catalogue = await request.app.state.backend.catalogue()
    found_layer = tiled_layer(catalogue, path["layer"])
    service = await tile_service(request)
    status, headers, body = await serve_tile(request.headers, service, found_layer, tile)
    media_type = headers.pop("Content-Type", None)
    return Response(body, status_code=status, headers=headers, media_type=media_type)


@router.get("/tiles/{layer}.json", summary="TileJSON of a layer",
            responses={404: {"description": "No such layer, or one without tiles"}})
async def get_tilejson(layer: str, catalogue: CatalogueDep, base_url: BaseUrlDep) -> dict:
    """TileJSON 3.0.0: tile URL, bounds, centre, zooms and the fields of each tile layer."""
    found = tiled_layer(catalogue, layer)
    city = catalogue.get("districts").extent if "districts" in catalogue else None
    return tilejson_document(found, base_url, city)


@router.get("/tiles", summary="The tiled layers")
async def list_tilesets(catalogue: CatalogueDep, base_url: BaseUrlDep) -> dict:
    """Every layer with tiles, and the address of its TileJSON."""
    return {"tilesets": [{"id": layer.name, "title": layer.title, "title_en": layer.title_en,
                          "tilejson": tilejson_url(layer, base_url)}
                         for layer in catalogue if has_tiles(layer)]}


_TILE_PATH = re.compile(r"/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.mvt")


class TileShortcut:
    """Answers `GET` (and `HEAD`) `/tiles/{layer}/{z}/{x}/{y}.mvt` ahead of the router.

    FastAPI's routing tries the path against every route in turn: ~0.3 ms a request, as
    long as PostGIS takes to make a tile. Tiles are most of a map's requests, so they skip
    it. The route `get_tile` stays for the API description and apps built without this
    middleware; errors answer as the app's handlers answer them.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            match = _TILE_PATH.fullmatch(path)
        if match is None:
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        try:
            name, z, x, y = match.groups()
            tile = parse_tile(z, x, y)
            app = scope["app"]
            layer = tiled_layer(await app.state.backend.catalogue(), name)
            service = getattr(app.state, "tiles", None) or await tile_service(Request(scope))
            status, headers, body = await serve_tile(request_headers, service, layer, tile)
        except Exception as exc:
            response = known_error_response(scope["method"], scope["path"], exc)
            if response is None:
                raise
            await response(scope, receive, send)
            return
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if status not in (204, 304):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body",
                    "body": body if scope["method"] == "GET" else b""})
