"""Grading over HTTP: re-grade (admin), manual grades (admin), the rules and a unit's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import psycopg
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from layers.grading import load_rules, regrade
from layers.overrides import history, revoke_override, set_override
from service.auth import Caller, require_role

router = APIRouter(tags=["grading"])


def _sync(request: Request, work):
    """Run `work(conn)` on a short-lived connection in a worker thread.

    Grading is a few set-based statements on a plain connection; admin calls are rare, so
    they don't take connections from the request pool.
    """
    backend = request.app.state.backend

    def job():
        with psycopg.connect(backend.conninfo, **backend.connect_kwargs) as conn:
            return work(conn)

    return run_in_threadpool(job)


@router.post("/admin/grade", summary="Re-grade every risk unit and monitoring point")
async def post_grade(request: Request, caller: Caller = require_role("admin")) -> dict:
    report = await _sync(request, lambda conn: regrade(conn, requested_by=f"api:{caller.name}"))
    return asdict(report)


class OverrideIn(BaseModel):
    unit: str = Field(..., description="Risk unit code or id")
    grade: str = Field(..., description="red, orange, yellow or blue")
    reason: str = Field(..., min_length=1)
    expires_at: dt.datetime | None = Field(None, description="With a time zone; none: until revoked")


@router.post("/admin/overrides", summary="Set a unit's grade by hand", status_code=201)
async def post_override(body: OverrideIn, request: Request, caller: Caller = require_role("admin")) -> dict:
    result = await _sync(request, lambda conn: set_override(
        conn, body.unit, body.grade, body.reason, caller.name, body.expires_at))
    return asdict(result) | {"set_by": caller.name}


@router.delete("/admin/overrides/{unit}", summary="Revoke a unit's manual grade")
async def delete_override(unit: str, request: Request, caller: Caller = require_role("admin")) -> dict:
    result = await _sync(request, lambda conn: revoke_override(conn, unit, caller.name))
    return asdict(result) | {"revoked_by": caller.name}


@router.get("/grading/rules", summary="The grading rules in force")
async def get_rules() -> dict:
    return asdict(await run_in_threadpool(load_rules))


@router.get("/grading/history/{unit}", summary="Every grade a unit has had, with why")
async def get_history(unit: str, request: Request) -> dict:
    rows = await _sync(request, lambda conn: history(conn, unit))
    return {"unit": unit, "history": rows}
