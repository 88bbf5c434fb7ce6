"""The map page for browsers and the files it loads, all from this service.

`GET /` hands browsers the map page (see `routers.landing`, which keeps the OGC landing
page for JSON clients); `GET /map` is the same page whatever the Accept header says. The
page is `service/web/index.html`; its script and style sheet are served under `/web/`,
and MapLibre GL JS under `/web/maplibre-gl/` from `service/web/node_modules/maplibre-gl/dist`,
which `make web` installs from npm (`npm ci`; not committed). MapLibre 6 is a set of ES
modules: the map loads its worker from the folder it was loaded from, so both are served
side by side.

The page runs on an intranet: its Content-Security-Policy lets it load and fetch from the
service's own origin only, so no browser even tries a CDN, an online base map or a web font.
"""

from __future__ import annotations

import re
from email.utils import formatdate
from hashlib import md5
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from geodata.errors import NotFoundError

router = APIRouter(tags=["map"])

WEB = Path(__file__).resolve().parent.parent / "web"
MAPLIBRE = WEB / "node_modules" / "maplibre-gl" / "dist"
PAGE = WEB / "index.html"

# Only plain names: no folders, so nothing outside these two folders can be asked for.
_OWN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\.(?:js|css|svg)")
_MAPLIBRE_NAME = re.compile(r"maplibre-gl[A-Za-z0-9_-]*\.(?:mjs|js|css)(?:\.map)?")

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",  # module scripts need a JavaScript type
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}

# blob: and data: are MapLibre's own (worker fallback, decoded images); 'unsafe-inline' for
# styles because MapLibre's controls and popups set style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; "
    "connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)

_MISSING = "MapLibre GL JS is not installed in service/web/node_modules: run `make web`"


def map_page(headers: dict[str, str] | None = None) -> HTMLResponse:
    """The map page (read at each request: it is small, and edits show at once)."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    })


@router.get("/map", summary="The map page", response_class=HTMLResponse, include_in_schema=False)
async def map_view() -> HTMLResponse:
    """The map page, whatever the Accept header asks (`GET /` gives it to browsers)."""
    return map_page()


@router.get("/web/maplibre-gl/{name}", include_in_schema=False)
async def maplibre_file(name: str, request: Request) -> Response:
    """MapLibre GL JS as npm installed it: the module, its worker and its style sheet."""
    if not _MAPLIBRE_NAME.fullmatch(name):
        raise NotFoundError(f"no such file: {name}")
    if not MAPLIBRE.is_dir():
        raise NotFoundError(_MISSING)
    return _file(MAPLIBRE / name, request)


@router.get("/web/{name}", include_in_schema=False)
async def web_file(name: str, request: Request) -> Response:
    """The page's own script modules and style sheet."""
    if not _OWN_NAME.fullmatch(name):
        raise NotFoundError(f"no such file: {name}")
    return _file(WEB / name, request)


def _file(path: Path, request: Request) -> Response:
    """`path` with an ETag; browsers check it each time (no-cache) and get 304 if unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path.name}") from None
    etag = '"' + md5(f"{stat.st_mtime_ns}-{stat.st_size}".encode(), usedforsecurity=False
                     ).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
               "Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
    asked = request.headers.get("if-none-match") or ""
    if etag in (tag.strip().removeprefix("W/") for tag in asked.split(",")):
        return Response(status_code=304, headers=headers)
    media_type = _MEDIA_TYPES[path.suffix]
    return FileResponse(path, media_type=media_type, headers=headers, stat_result=stat)
