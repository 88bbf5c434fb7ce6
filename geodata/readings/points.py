"""The monitoring points as the ingest needs them, held in memory: a `PointBook`.

A batch names its points by code or id; each reading is checked against its point's kind
(physical range), and the alarm rules need the point's thresholds and its risk unit. Reading
5,000 points from the database for every batch cost more than storing the readings, so the
whole book is read once and kept, one per database, with the revision of the points it was
read at (`monitoring_points_revision`, migration 013: it moves with every change of a point's
code, kind, thresholds or link, of the points' set, and of the kinds). Each batch compares
that revision in its own transaction and is done again on a fresh book when it moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg

_QUERY = """
    SELECT p.id, p.code, p.kind, k.unit, k.physical_min, k.physical_max, p.risk_unit_id,
           p.threshold_blue, p.threshold_yellow, p.threshold_orange, p.threshold_red
    FROM monitoring_points p JOIN monitoring_kinds k ON k.kind = p.kind
    ORDER BY p.id"""


class StalePoints(Exception):
    """The points changed since the book was read: read it again and redo the batch."""


@dataclass(frozen=True, eq=False)
class PointBook:
    """Every monitoring point of one database at one revision, by position (`ids[i]` …)."""

    revision: int
    ids: np.ndarray                  # int64
    codes: list[str]
    kinds: list[str]
    units: list[str]
    low: list[float]                 # the kind's physical range
    high: list[float]
    risk_units: list[int | None]
    thresholds: list[tuple[float | None, ...]]  # the point's own blue … red (None: the kind's)
    by_code: dict[str, int]
    by_id: dict[int, int]

    def find(self, ref: str | int) -> int | None:
        """The position of the point `ref` names: an int is an id; a text is a code, else
        an id written in digits."""
        if type(ref) is str:
            found = self.by_code.get(ref)
            if found is None and ref.isascii() and ref.isdigit() and len(ref) < 20:
                return self.by_id.get(int(ref))
            return found
        return self.by_id.get(ref)

    def __len__(self) -> int:
        return len(self.codes)


async def read_book(conn: psycopg.AsyncConnection) -> PointBook:
    """The points as they are now (one snapshot: the revision and the rows agree)."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        revision = (await (await conn.execute(
            "SELECT revision FROM monitoring_points_revision")).fetchone())[0]
        rows = await (await conn.execute(_QUERY, binary=True)).fetchall()
    ids = [r[0] for r in rows]
    codes = [r[1] for r in rows]
    return PointBook(
        revision=revision, ids=np.array(ids, dtype=np.int64), codes=codes,
        kinds=[r[2] for r in rows], units=[r[3] for r in rows],
        low=[r[4] for r in rows], high=[r[5] for r in rows], risk_units=[r[6] for r in rows],
        thresholds=[tuple(r[7:11]) for r in rows],
        by_code={code: i for i, code in enumerate(codes)},
        by_id={pid: i for i, pid in enumerate(ids)})


_BOOKS: dict[tuple, PointBook] = {}


def _key(conn: psycopg.AsyncConnection) -> tuple:
    info = conn.info
    return info.host, info.port, info.dbname


async def point_book(conn: psycopg.AsyncConnection, fresh: bool = False) -> PointBook:
    """The book of the database of `conn`: the one kept, or read now (`fresh`: always)."""
    key = _key(conn)
    book = None if fresh else _BOOKS.get(key)
    if book is None:
        book = _BOOKS[key] = await read_book(conn)
    return book


async def check_revision(conn: psycopg.AsyncConnection, book: PointBook) -> None:
    """StalePoints unless the points are still at the book's revision (in the caller's
    transaction)."""
    cur = await conn.execute("SELECT revision FROM monitoring_points_revision")
    if (await cur.fetchone())[0] != book.revision:
        raise StalePoints(book.revision)
