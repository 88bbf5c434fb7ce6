"""Monitoring readings in: `POST /readings` (operator or admin token).

A JSON array of `{"point", "ts", "value"}` or a CSV with those columns; each row is checked
(`geodata.readings.batch`), the valid ones stored (`geodata.readings.store`) before the
answer `{"accepted", "duplicates", "rejected": [{"index", "reason"}]}` is sent.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request

from geodata.errors import BatchTooLarge
from geodata.readings.batch import Limits, media_kind, read_batch
from geodata.readings.store import store_batch
from service.auth import require_role
from service.settings import ReadingsSettings

router = APIRouter(tags=["monitoring"])

_ROW = {"type": "object", "required": ["point", "ts", "value"], "properties": {
    "point": {"oneOf": [{"type": "string"}, {"type": "integer"}],
              "description": "the monitoring point's code or id"},
    "ts": {"type": "string", "format": "date-time", "description": "with a time zone"},
    "value": {"type": "number", "description": "in the unit of the point's kind"}}}
_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": _ROW}},
    "text/csv": {"schema": {"type": "string"}, "example": "point,ts,value\n"
                            "MP-000001,2024-05-01T08:00:00+08:00,3.5\n"}}}}


def limits_of(settings: ReadingsSettings) -> Limits:
    return Limits(max_rows=settings.max_rows,
                  future_skew=dt.timedelta(seconds=settings.future_skew_seconds),
                  retention=dt.timedelta(days=settings.retention_days))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it is longer than `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BatchTooLarge(f"the body has {int(declared):,} bytes; at most {max_bytes:,} "
                            "are taken: split the batch")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BatchTooLarge(f"the body is over {max_bytes:,} bytes: split the batch")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/readings", summary="Send a batch of monitoring readings (JSON or CSV)",
             openapi_extra=_BODY, dependencies=[require_role("operator")])
async def post_readings(request: Request) -> dict:
    """Store the valid readings of a batch; each rejected row is listed with its index.

    A reading already stored (same point and time) counts as a duplicate, so a batch may be
    sent again after a failure. New readings are checked against the alarm rules in the
    same transaction; `alarms` counts the alarms they opened, raised and closed.
    """
    settings: ReadingsSettings = request.app.state.settings.readings
    kind = media_kind(request.headers.get("content-type"))
    body = await read_body(request, settings.max_body_bytes)
    batch = read_batch(body, kind, limits_of(settings), now=dt.datetime.now(dt.UTC))
    async with request.app.state.backend.pool.connection() as conn:
        report = await store_batch(conn, batch, after=request.app.state.alarm_watch)
    answer = report.as_dict()
    alarms = report.watched
    answer["alarms"] = alarms.as_dict() if alarms else {"opened": 0, "escalated": 0, "closed": 0}
    if alarms and alarms.red_units and request.app.state.grading_timer is not None:
        request.app.state.grading_timer.request()  # the linked units' grades follow
    return answer
