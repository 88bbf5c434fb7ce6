"""What people do to alarms: acknowledge and close them, each with who, when and a note; and
how alarms are read back (one with its history, a filtered list, the events after a point).

States go open → acknowledged → closed; an alarm may also be closed straight from open.
A closed alarm is final: the next reading over a threshold opens a new one. Locks are taken
point first, then alarm, in the same order as a batch of readings, so the two wait for each
other instead of deadlocking.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from geodata.errors import ConflictError, NotFoundError

# How an alarm is shown everywhere (list, one, stream): its row, its point and where it is.
ALARM_COLUMNS = sql.SQL("""
    a.id, a.monitoring_point_id AS point_id, p.code AS point_code, p.name AS point_name,
    coalesce(a.kind, p.kind) AS kind, p.unit, a.grade, a.state, a.value, a.peak_value,
    l.value AS last_value, l.ts AS last_reading_at, a.reason, a.reading_at, a.raised_at, a.escalated_at,
    a.acknowledged_at, a.acknowledged_by, a.closed_at, a.closed_by, a.note, a.district_code,
    d.name AS district_name, p.risk_unit_id, a.updated_at,
    ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat""")
ALARM_FROM = sql.SQL("""
    alarms a JOIN monitoring_points p ON p.id = a.monitoring_point_id
    LEFT JOIN monitoring_latest l ON l.monitoring_point_id = p.id
    LEFT JOIN districts d ON d.code = a.district_code""")
HISTORY_COLUMNS = sql.SQL("h.id, h.alarm_id, h.at, h.event, h.grade, h.grade_from, h.state, "
                          "h.actor, h.value, h.reading_at, h.reason, h.note")


@dataclass
class PersonAction:
    """What a person did to an alarm: the alarm after it, and whether a red input changed."""

    alarm: dict
    red_unit: int | None


async def acknowledge(conn: psycopg.AsyncConnection, alarm_id: int, actor: str,
                      note: str | None) -> PersonAction:
    """Mark an open alarm acknowledged by `actor`."""
    async with conn.transaction():
        _, state, _ = await _lock(conn, alarm_id)
        if state != "open":
            raise ConflictError(f"alarm {alarm_id} is {state}: only an open alarm is "
                                "acknowledged")
        await conn.execute(
            """UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(),
                      acknowledged_by = %s, note = coalesce(%s, note), updated_at = now()
               WHERE id = %s""", [actor, note, alarm_id])
        await _history(conn, alarm_id, "acknowledged", actor, note)
        return PersonAction(await one(conn, alarm_id), None)


async def close(conn: psycopg.AsyncConnection, alarm_id: int, actor: str,
                note: str) -> PersonAction:
    """Close an open or acknowledged alarm; the point's grade goes with it."""
    async with conn.transaction():
        point, state, grade = await _lock(conn, alarm_id)
        if state == "closed":
            raise ConflictError(f"alarm {alarm_id} is already closed")
        await conn.execute(
            """UPDATE alarms SET state = 'closed', closed_at = now(), closed_by = %s,
                      note = %s, updated_at = now()
               WHERE id = %s""", [actor, note, alarm_id])
        await _history(conn, alarm_id, "closed", actor, note)
        # at most one alarm of a point is not closed: the point has none left
        await conn.execute("UPDATE monitoring_points SET grade = NULL "
                           "WHERE id = %s AND grade IS NOT NULL", [point])
        unit = (await (await conn.execute(
            "SELECT risk_unit_id FROM monitoring_points WHERE id = %s", [point])).fetchone())[0]
        return PersonAction(await one(conn, alarm_id), unit if grade == "red" else None)


async def _lock(conn, alarm_id: int) -> tuple[int, str, str]:
    """Lock the alarm's point, then the alarm; its (point, state, grade)."""
    row = await (await conn.execute("SELECT monitoring_point_id FROM alarms WHERE id = %s",
                                    [alarm_id])).fetchone()
    if row is None:
        raise NotFoundError(f"no alarm {alarm_id}")
    await conn.execute("SELECT 1 FROM monitoring_points WHERE id = %s FOR NO KEY UPDATE", row)
    return await (await conn.execute(
        "SELECT monitoring_point_id, state, grade FROM alarms WHERE id = %s FOR UPDATE",
        [alarm_id])).fetchone()


async def _history(conn, alarm_id: int, event: str, actor: str, note: str | None) -> None:
    await conn.execute(
        """INSERT INTO alarm_history (alarm_id, event, grade, state, actor, value, note)
           SELECT id, %s, grade, state, %s, value, %s FROM alarms WHERE id = %s""",
        [event, actor, note, alarm_id])


async def one(conn: psycopg.AsyncConnection, alarm_id: int, history: bool = False) -> dict:
    """An alarm as the API shows it; with its history when asked."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql.SQL("SELECT {} FROM {} WHERE a.id = %s").format(
        ALARM_COLUMNS, ALARM_FROM), [alarm_id])
    alarm = await cur.fetchone()
    if alarm is None:
        raise NotFoundError(f"no alarm {alarm_id}")
    if history:
        await cur.execute(sql.SQL("SELECT {} FROM alarm_history h WHERE h.alarm_id = %s "
                                  "ORDER BY h.id").format(HISTORY_COLUMNS), [alarm_id])
        alarm["history"] = [_without(h, "alarm_id") for h in await cur.fetchall()]
    return alarm


@dataclass(frozen=True)
class AlarmFilter:
    """Which alarms to list; empty tuples and None mean any."""

    states: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    point: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def where(self) -> tuple[sql.Composable, list]:
        terms, params = [], []
        for column, values in (("a.state", self.states), ("a.grade", self.grades),
                               ("coalesce(a.kind, p.kind)", self.kinds),
                               ("a.district_code", self.districts)):
            if values:
                terms.append(sql.SQL(column + " = ANY(%s::text[])"))
                params.append(list(values))
        if self.point is not None:
            terms.append(sql.SQL("p.code = %s"))
            params.append(self.point)
        if self.since is not None:
            terms.append(sql.SQL("a.raised_at >= %s"))
            params.append(self.since)
        if self.until is not None:
            terms.append(sql.SQL("a.raised_at < %s"))
            params.append(self.until)
        return (sql.SQL(" AND ").join(terms) if terms else sql.SQL("true")), params


async def listing(conn: psycopg.AsyncConnection, where: AlarmFilter, limit: int,
                  offset: int) -> tuple[list[dict], int]:
    """The alarms matching `where`, worst and newest first, and how many match in all."""
    clause, params = where.where()
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql.SQL(
        """SELECT {columns}, count(*) OVER () AS matched FROM {source} WHERE {clause}
           ORDER BY (a.state = 'closed'), array_position(ARRAY['red', 'orange', 'yellow',
                    'blue'], a.grade), a.raised_at DESC, a.id DESC
           LIMIT %s OFFSET %s""").format(columns=ALARM_COLUMNS, source=ALARM_FROM,
                                          clause=clause), [*params, limit, offset])
    rows = await cur.fetchall()
    if rows:
        matched = rows[0]["matched"]
        return [_without(r, "matched") for r in rows], matched
    if offset:  # past the end: count them all the same
        await cur.execute(sql.SQL("SELECT count(*) AS matched FROM {} WHERE {}").format(
            ALARM_FROM, clause), params)
        return [], (await cur.fetchone())["matched"]
    return [], 0


async def events_after(conn: psycopg.AsyncConnection, after_id: int,
                       limit: int = 1000) -> list[dict]:
    """The history events after `after_id`, oldest first, each with its alarm as it is now."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql.SQL(
        """SELECT {history}, row_to_json(x) AS alarm
           FROM alarm_history h
           CROSS JOIN LATERAL (SELECT {columns} FROM {source} WHERE a.id = h.alarm_id) x
           WHERE h.id > %s ORDER BY h.id LIMIT %s""").format(
        history=HISTORY_COLUMNS, columns=ALARM_COLUMNS, source=ALARM_FROM), [after_id, limit])
    return await cur.fetchall()


async def newest_event(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM alarm_history")
    return (await cur.fetchone())[0]


def _without(row: dict, key: str) -> dict:
    row.pop(key, None)
    return row
