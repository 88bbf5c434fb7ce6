"""Several plans (`layers.commander.plans`) side by side, their queries sent together.

A plan asks one query at a time. An analysis that needs several independent plans (the
situation: its counts, and a nearest-help search per resource type) runs them in lockstep:
each step sends the next query of every plan not yet done in one pipeline (psycopg's
pipeline mode: one round trip, PostgreSQL runs them back to back), and hands each plan its
rows. A batch plan yields lists of queries and is sent lists of rows; `together` makes one
from plans, `run_batches` / `run_batches_async` drive one on a connection.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from layers.commander.plans import Plan, Query

T = TypeVar("T")
BatchPlan = Generator[list[Query], list[list[tuple]], T]


def together(*plans: Plan[Any]) -> BatchPlan[list]:
    """The answers of `plans`, in their order, their queries sent a step at a time."""
    answers: list[Any] = [None] * len(plans)
    waiting: dict[int, Query] = {}
    for i, plan in enumerate(plans):
        try:
            waiting[i] = next(plan)
        except StopIteration as done:
            answers[i] = done.value
    while waiting:
        order = list(waiting)
        rows = yield [waiting[i] for i in order]
        waiting = {}
        for i, got in zip(order, rows):
            try:
                waiting[i] = plans[i].send(got)
            except StopIteration as done:
                answers[i] = done.value
    return answers


def _cursor(conn):
    cursor = conn.cursor()
    set_json_loads(orjson.loads, cursor)
    return cursor


def run_batches(conn: psycopg.Connection, plan: BatchPlan[T]) -> T:
    """The batch plan's answer, each batch sent in one pipeline on `conn`."""
    try:
        batch = next(plan)
        while True:
            with conn.pipeline():
                cursors = [_cursor(conn) for _ in batch]
                for cursor, (query, params) in zip(cursors, batch):
                    cursor.execute(query, params)
            batch = plan.send([cursor.fetchall() for cursor in cursors])
    except StopIteration as done:
        return done.value


async def run_batches_async(conn: psycopg.AsyncConnection, plan: BatchPlan[T]) -> T:
    """`run_batches` on an async connection."""
    try:
        batch = next(plan)
        while True:
            async with conn.pipeline():
                cursors = [_cursor(conn) for _ in batch]
                for cursor, (query, params) in zip(cursors, batch):
                    await cursor.execute(query, params)
            batch = plan.send([await cursor.fetchall() for cursor in cursors])
    except StopIteration as done:
        return done.value
