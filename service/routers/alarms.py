"""Alarms of the monitoring points: the list, one alarm with its history, the rules in force,
the live stream, and what people do to them (`ack`, `close`: operator, commander or admin).

Alarms are opened and raised by readings (`POST /readings`, rules in
`layers/rules/alarms.toml`); a person acknowledges and closes them; the quiet period closes
the minor ones whose point has read clear long enough.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from layers.alarms import lifecycle
from layers.alarms.lifecycle import AlarmFilter
from layers.alarms.rules import GRADES
from service.auth import Caller, require_role
from service.errors import InvalidParameter

router = APIRouter(tags=["monitoring"])

STATES = ("open", "acknowledged", "closed")
HEARTBEAT_SECONDS = 15.0   # a comment line keeps proxies from closing an idle stream
RETRY_MS = 3000            # how soon a browser reconnects after the stream breaks
ActionRoles = require_role("operator", "commander")


def _listed(name: str, raw: str | None, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    values = tuple(v.strip() for v in (raw or "").split(",") if v.strip())
    if allowed is not None:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise InvalidParameter(name, f"unknown {', '.join(map(repr, unknown))}; "
                                         f"one or more of {', '.join(allowed)}")
    return values


def _time(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidParameter(name, f"not an ISO 8601 time: {raw!r}") from None
    if value.tzinfo is None:
        raise InvalidParameter(name, f"{raw!r} has no time zone (add +08:00, or Z for UTC)")
    return value


def alarm_filter(
    state: Annotated[str | None, Query(description="open, acknowledged, closed (comma list)")] = None,
    grade: Annotated[str | None, Query(description="red, orange, yellow, blue (comma list)")] = None,
    kind: Annotated[str | None, Query(description="monitoring kinds (comma list)")] = None,
    district: Annotated[str | None, Query(description="district codes (comma list)")] = None,
    point: Annotated[str | None, Query(description="a monitoring point's code")] = None,
    since: Annotated[str | None, Query(description="raised at or after (ISO 8601)")] = None,
    until: Annotated[str | None, Query(description="raised before (ISO 8601)")] = None,
) -> AlarmFilter:
    districts = _listed("district", district)
    bad = [d for d in districts if not (len(d) == 6 and d.isdigit())]
    if bad:
        raise InvalidParameter("district", f"{bad[0]!r} is not a 6-digit district code")
    where = AlarmFilter(states=_listed("state", state, STATES), grades=_listed("grade", grade, GRADES),
                        kinds=_listed("kind", kind), districts=districts,
                        point=point.strip() if point else None,
                        since=_time("since", since), until=_time("until", until))
    if where.since and where.until and where.since >= where.until:
        raise InvalidParameter("until", "must be after since")
    return where


@router.get("/alarms", summary="Alarms, worst and newest first, with filters")
async def list_alarms(
    request: Request,
    where: Annotated[AlarmFilter, Depends(alarm_filter)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """`{"alarms": [...], "matched", "returned", "limit", "offset"}`; not closed first."""
    async with request.app.state.backend.pool.connection() as conn:
        alarms, matched = await lifecycle.listing(conn, where, limit, offset)
    return {"alarms": alarms, "matched": matched, "returned": len(alarms), "limit": limit,
            "offset": offset}


@router.get("/alarms/rules", summary="The alarm rules in force")
async def alarm_rules(request: Request) -> dict:
    """Thresholds per grade, rises and hysteresis per kind, the quiet period; with sources."""
    return request.app.state.alarm_rules.describe()


@router.get("/alarms/stream", summary="Live alarm changes (server-sent events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def alarm_stream(
    request: Request,
    after: Annotated[int | None, Query(ge=0, description="replay the events after this id "
                                                       "(as the Last-Event-ID header does)")] = None,
) -> StreamingResponse:
    """Each change of an alarm (opened, escalated, acknowledged, closed) as an event `alarm`
    whose data is `{"id", "event", "at", "actor", …, "alarm": {…}}` and whose id is the
    history id. A client that reconnects with `Last-Event-ID` gets what it missed first.
    Filters `grade`, `district`, `kind` take comma lists."""
    grades = _listed("grade", request.query_params.get("grade"), GRADES)
    districts = _listed("district", request.query_params.get("district"))
    kinds = _listed("kind", request.query_params.get("kind"))
    last = request.headers.get("last-event-id")
    if last is not None:
        if not last.strip().isdigit():
            raise InvalidParameter("Last-Event-ID", f"not an event id: {last!r}")
        after = int(last)

    def wanted(event: dict) -> bool:
        alarm = event["alarm"]
        return ((not grades or alarm["grade"] in grades)
                and (not districts or alarm["district_code"] in districts)
                and (not kinds or alarm["kind"] in kinds))

    feed = request.app.state.alarm_feed
    queue = feed.subscribe()  # before catching up: nothing falls between the two

    async def events() -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n: onemap alarms\n\n".encode()
            seen = after if after is not None else (feed.last_id or 0)
            if after is not None:
                for event in await feed.catch_up(after):
                    seen = event["id"]
                    if wanted(event):
                        yield _sse(event)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is None:  # the feed closes, or this client fell too far behind
                    return
                if event["id"] > seen:
                    seen = event["id"]
                    if wanted(event):
                        yield _sse(event)
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: dict) -> bytes:
    data = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
    return b"id: %d\nevent: alarm\ndata: %s\n\n" % (event["id"], data)


@router.get("/alarms/{alarm_id}", summary="One alarm with its history")
async def get_alarm(request: Request, alarm_id: Annotated[int, Path(ge=1)]) -> dict:
    async with request.app.state.backend.pool.connection() as conn:
        return await lifecycle.one(conn, alarm_id, history=True)


_NOTE = Body(None, embed=True, max_length=2000, description="what was done or seen")


@router.post("/alarms/{alarm_id}/ack", summary="Acknowledge an open alarm")
async def acknowledge(request: Request, alarm_id: Annotated[int, Path(ge=1)],
                      caller: Caller = ActionRoles, note: str | None = _NOTE) -> dict:
    """The caller (its token's name) has seen the alarm and is acting on it; 409 unless open."""
    async with request.app.state.backend.pool.connection() as conn:
        done = await lifecycle.acknowledge(conn, alarm_id, caller.name, _clean(note))
    return done.alarm


@router.post("/alarms/{alarm_id}/close", summary="Close an alarm (a note is required)")
async def close(request: Request, alarm_id: Annotated[int, Path(ge=1)],
                caller: Caller = ActionRoles,
                note: str = Body(..., embed=True, min_length=1, max_length=2000,
                                 description="how it was resolved")) -> dict:
    """Close an open or acknowledged alarm; the point's grade clears with it; 409 if closed."""
    if not note.strip():
        raise InvalidParameter("note", "say how the alarm was resolved")
    async with request.app.state.backend.pool.connection() as conn:
        done = await lifecycle.close(conn, alarm_id, caller.name, note.strip())
    if done.red_unit is not None and request.app.state.grading_timer is not None:
        request.app.state.grading_timer.request()
    return done.alarm


def _clean(note: str | None) -> str | None:
    return note.strip() or None if note else None
