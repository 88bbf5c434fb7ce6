"""The risk-density raster as PNG tiles and its TileJSON (declared before the vector
tile routes, so `/tiles/risk_density…` is answered here)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from geodata.errors import NotFoundError
from service.errors import InvalidParameter
from service.raster_tiles import RasterTiles, etag_of
from service.routers.tiles import tile_service

router = APIRouter(tags=["tiles"])
NAME = "risk_density"
MAX_ZOOM = 22
MAX_NATIVE_ZOOM = 16  # about the raster's 100 m cells; deeper tiles are upsampled


def _tiles(request: Request) -> RasterTiles:
    state = request.app.state
    if not hasattr(state, "raster_tiles"):
        state.raster_tiles = RasterTiles()
    return state.raster_tiles


def _coordinates(z: str, x: str, y: str) -> tuple[int, int, int]:
    try:
        zi, xi, yi = int(z), int(x), int(y)
    except ValueError:
        raise InvalidParameter("z/x/y", f"tile coordinates must be whole numbers, got {z}/{x}/{y}") from None
    if not 0 <= zi <= MAX_ZOOM:
        raise InvalidParameter("z", f"zoom {zi} is outside 0–{MAX_ZOOM}")
    if not (0 <= xi < 1 << zi and 0 <= yi < 1 << zi):
        raise InvalidParameter("x/y", f"tile {xi}/{yi} does not exist at zoom {zi}")
    return zi, xi, yi


async def _raster(request: Request):
    versions = (await tile_service(request)).versions
    raster = await _tiles(request).current(request.app.state.backend.pool, versions, NAME)
    if raster is None:
        raise NotFoundError("the risk-density surface has not been built yet: run `onemap grade`")
    return raster


@router.get("/tiles/risk_density/{z}/{x}/{y}.png", summary="Risk density as a PNG tile")
async def density_tile(z: str, x: str, y: str, request: Request) -> Response:
    zi, xi, yi = _coordinates(z, x, y)
    raster = await _raster(request)
    # the tile follows from the surface's build time alone: its ETag needs no rendering
    etag = etag_of(f"{NAME}/{raster.built_at.isoformat()}/{zi}/{xi}/{yi}".encode())
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = await run_in_threadpool(RasterTiles.render, raster, zi, xi, yi)
    if body is None:
        return Response(status_code=204, headers=headers, media_type="image/png")
    return Response(body, media_type="image/png", headers=headers)


@router.get("/tiles/risk_density.json", summary="TileJSON of the risk density")
async def density_tilejson(request: Request) -> dict:
    raster = await _raster(request)
    from pyproj import Transformer

    b = raster.dataset.bounds
    lon0, lat0, lon1, lat1 = Transformer.from_crs(3857, 4326, always_xy=True).transform_bounds(
        b.left, b.bottom, b.right, b.top)
    base = str(request.base_url).rstrip("/")
    public = request.app.state.settings.api.public_base_url
    return {
        "tilejson": "3.0.0",
        "name": NAME,
        "description": "风险密度 Risk density: weighted risk units per km² (kernel density of the "
                       f"graded units); the colour ramp tops out at {raster.vmax:.1f}",
        "tiles": [f"{public or base}/tiles/{NAME}/{{z}}/{{x}}/{{y}}.png"],
        "minzoom": 0,
        "maxzoom": MAX_NATIVE_ZOOM,
        "bounds": [round(v, 6) for v in (lon0, lat0, lon1, lat1)],
        "center": [round((lon0 + lon1) / 2, 6), round((lat0 + lat1) / 2, 6), 9],
        "version": raster.built_at.isoformat(),
    }
