"""Errors as HTTP answers: which exception means which status, in one table.

Every error answers JSON in the OGC API style, `{"code": ..., "description": ...}`. The
project's own errors carry messages written for people and are shown as they are; the
database's messages are not (they may name hosts, users or SQL): those answers are
generic, and the details go to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geodata.errors import (
    BatchTooLarge,
    ConflictError,
    CRSNameError,
    DatabaseSetupError,
    ForbiddenError,
    ImportRejected,
    MalformedBatch,
    NotFoundError,
    OnemapError,
    UnauthorizedError,
    UnknownLayerError,
    UnsupportedBatchType,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10  # told to clients on 503: the pool retries within that


class InvalidParameter(OnemapError, ValueError):
    """A query or path parameter with a value the service cannot use (answers 400)."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"parameter {parameter!r}: {message}")
        self.parameter = parameter


class AnalysisParameterError(InvalidParameter):
    """A bad parameter of the analysis API (answers 422, as FastAPI does; the OGC API
    - Features endpoints answer 400 as that standard says)."""


# Paths whose request validation answers 422 rather than the OGC API's 400.
UNPROCESSABLE_PREFIXES = ("/analysis/",)


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    code: str
    # None: show the exception's own message (written for people); else this fixed text.
    generic: str | None = None


# The one place that decides statuses. Looked up along the exception's MRO, so a subclass
# answers like its nearest listed ancestor (PostgisMissingError like DatabaseSetupError).
ERROR_ANSWERS: dict[type[BaseException], ErrorAnswer] = {
    UnknownLayerError: ErrorAnswer(404, "NotFound"),
    NotFoundError: ErrorAnswer(404, "NotFound"),
    ForbiddenError: ErrorAnswer(403, "Forbidden"),
    ConflictError: ErrorAnswer(409, "Conflict"),
    UnauthorizedError: ErrorAnswer(401, "Unauthorized"),
    CRSNameError: ErrorAnswer(400, "InvalidParameterValue"),
    AnalysisParameterError: ErrorAnswer(422, "InvalidParameterValue"),
    InvalidParameter: ErrorAnswer(400, "InvalidParameterValue"),
    ImportRejected: ErrorAnswer(422, "ImportRejected"),
    MalformedBatch: ErrorAnswer(400, "BadRequest"),
    BatchTooLarge: ErrorAnswer(413, "PayloadTooLarge"),
    UnsupportedBatchType: ErrorAnswer(415, "UnsupportedMediaType"),
    DatabaseSetupError: ErrorAnswer(503, "ServiceUnavailable"),
    PoolTimeout: ErrorAnswer(503, "ServiceUnavailable",
                             "the database is busy or not reachable; try again later"),
    psycopg.errors.QueryCanceled: ErrorAnswer(503, "ServiceUnavailable",
                                              "the database took too long to answer"),
    psycopg.OperationalError: ErrorAnswer(503, "ServiceUnavailable",
                                          "the database is not available; try again later"),
    # Any other error of ours is a refused request; its message says what was wrong.
    OnemapError: ErrorAnswer(400, "BadRequest"),
}

_HTTP_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict",
               413: "PayloadTooLarge", 415: "UnsupportedMediaType", 429: "TooManyRequests"}


def error_body(code: str, description: str, **extra) -> dict:
    """The JSON body of an error answer."""
    return {"code": code, "description": description, **extra}


def error_response(status: int, code: str, description: str, headers=None, **extra) -> JSONResponse:
    """An error answer; 503s also tell the client when to retry."""
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(error_body(code, description, **extra), status_code=status,
                        headers=headers)


def answer_for(exc: BaseException) -> ErrorAnswer | None:
    """The listed answer for `exc`, or None when it is not a known kind of error."""
    for cls in type(exc).__mro__:
        if cls in ERROR_ANSWERS:
            return ERROR_ANSWERS[cls]
    return None


def known_error_response(method: str, path: str, exc: BaseException) -> JSONResponse | None:
    """The answer to `exc` if it is a listed kind of error, else None."""
    answer = answer_for(exc)
    if answer is None:
        return None
    if answer.generic is not None:
        # the database's own words stay in the log
        logger.warning("%s %s: %s: %s", method, path, type(exc).__name__, str(exc).strip())
        return error_response(answer.status, answer.code, answer.generic)
    extra = {}
    if isinstance(exc, ImportRejected):
        extra["problems"] = [{"row": row, "reason": reason} for row, reason in exc.problems]
    if parameter := getattr(exc, "parameter", None):
        extra["parameter"] = parameter
    return error_response(answer.status, answer.code, str(exc), **extra)


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    response = known_error_response(request.method, request.url.path, exc)
    if response is None:  # registered only for listed classes; kept safe all the same
        raise exc
    return response


def _parameter_name(loc: tuple) -> str:
    # ("query", "limit") -> "limit"; ("body", "rows", 3) -> "rows.3"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # OGC API - Features answers 400 to a bad parameter; FastAPI would say 422.
    problems = [(_parameter_name(tuple(e.get("loc", ()))), e.get("msg", "invalid"))
                for e in exc.errors()]
    description = "; ".join(f"invalid parameter {name!r}: {msg}" for name, msg in problems)
    extra = {"parameter": problems[0][0]} if problems else {}
    status = 422 if request.url.path.startswith(UNPROCESSABLE_PREFIXES) else 400
    return error_response(status, "InvalidParameterValue", description or "invalid request",
                          **extra)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "ServerError" if exc.status_code >= 500 else "Error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


class UnhandledErrorMiddleware:
    """Answer 500 with generic text to any error nobody handled, and log its traceback.

    Pure ASGI rather than an `Exception` handler: Starlette re-raises after such a
    handler, so the server would log the same traceback a second time.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late to answer anything else
                raise
            response = error_response(500, "ServerError", "internal server error")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the answers of this module on `app`."""
    for cls in ERROR_ANSWERS:
        app.add_exception_handler(cls, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UnhandledErrorMiddleware)
