"""Reads behind a token, for deployments that want it (`ONEMAP_API_READ_TOKEN=true`).

On the intranet reads are open by default. With the setting on, every request that is not a
write (writes check their own roles) needs a valid token of any role: as
`Authorization: Bearer …` (scripts, QGIS's HTTP headers) or as the `onemap_token` cookie that
`POST /login` sets for browsers, so the map page's tiles, fetches and event stream carry it
without any code. `/healthz`, `/login` and the page's static files stay open. The cookie
never authorises a write: writes read the Authorization header only.

A token once checked is trusted for `CACHE_SECONDS` (tiles come by the hundred): a revoked
token stops reading within that time.
"""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie
from time import monotonic

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from geodata.errors import UnauthorizedError
from service.auth import caller_of
from service.errors import error_response, known_error_response

COOKIE = "onemap_token"
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 1000
OPEN_PREFIXES = ("/healthz", "/login", "/logout", "/web/", "/favicon")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def token_from(scope: Scope) -> str | None:
    """The bearer token of a request, from its Authorization header or its cookie."""
    cookie = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:].strip()
        elif name == b"cookie":
            cookie = value.decode("latin-1")
    if cookie:
        jar = SimpleCookie()
        jar.load(cookie)
        if COOKIE in jar:
            return jar[COOKIE].value
    return None


class ReadAccess:
    """ASGI middleware admitting reads with a valid token only."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._trusted: dict[bytes, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in WRITES or \
                scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = token_from(scope)
        try:
            valid = token is not None and await self._valid(scope, token)
        except Exception as exc:  # the database is down (503): answered as everywhere else
            response = known_error_response(scope["method"], scope["path"], exc)
            if response is None:
                raise
            await response(scope, receive, send)
            return
        if valid:
            await self.app(scope, receive, send)
            return
        if scope["path"] in ("/", "/map") and _wants_html(scope):
            response = RedirectResponse("/login", status_code=303)
        else:
            response = error_response(401, "Unauthorized",
                                      "reading needs a token on this server: send "
                                      "'Authorization: Bearer <token>' (or sign in at /login)")
        await response(scope, receive, send)

    async def _valid(self, scope: Scope, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        now = monotonic()
        if self._trusted.get(digest, 0.0) > now:
            return True
        try:
            await caller_of(scope["app"].state.backend.pool, f"Bearer {token}")
        except UnauthorizedError:
            self._trusted.pop(digest, None)
            return False
        if len(self._trusted) >= CACHE_ENTRIES:
            self._trusted = {d: t for d, t in self._trusted.items() if t > now}
        self._trusted[digest] = now + CACHE_SECONDS
        return True


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False
