"""Analyses written once for both kinds of connection.

An analysis that needs a few queries in turn is a generator (a "plan"): it yields
`(query, params)` and is sent back the rows, and its return value is the answer. `run` drives
it on a psycopg connection (worker threads, the command line, tests), `run_async` on an async
one (the service's pool, without a thread or a new connection per request).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, TypeVar

import psycopg
from psycopg import sql

T = TypeVar("T")
Query = tuple[str | sql.Composable, Mapping[str, Any]]
Plan = Generator[Query, list[tuple], T]


def run(conn: psycopg.Connection, plan: Plan[T]) -> T:
    """The plan's answer, its queries run on `conn`."""
    try:
        query, params = next(plan)
        while True:
            rows = conn.execute(query, params).fetchall()
            query, params = plan.send(rows)
    except StopIteration as done:
        return done.value


async def run_async(conn: psycopg.AsyncConnection, plan: Plan[T]) -> T:
    """The plan's answer, its queries run on an async connection."""
    try:
        query, params = next(plan)
        while True:
            rows = await (await conn.execute(query, params)).fetchall()
            query, params = plan.send(rows)
    except StopIteration as done:
        return done.value
