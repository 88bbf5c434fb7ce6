"""Manual grades (人工调整): set and revoke them, read a unit's history.

A manual grade wins over every rule until it expires or is revoked; the unit is graded
again at once so the map shows it, and the change lands in the audit history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from geodata.errors import NotFoundError, OnemapError
from layers.grading import GRADES, regrade


class OverrideError(OnemapError, ValueError):
    """A manual grade that cannot be set (bad grade, no reason, past expiry…)."""


@dataclass
class OverrideResult:
    unit_id: int
    code: str
    name: str
    grade: str
    previous: str | None
    expires_at: dt.datetime | None = None


def find_unit(conn: psycopg.Connection, unit: str | int) -> tuple[int, str, str, str | None]:
    """(id, code, name, grade) of a unit named by code or numeric id."""
    text = str(unit).strip()
    row = conn.execute("SELECT id, code, name, grade FROM risk_units WHERE code = %s", [text]).fetchone()
    if row is None and text.isdigit():
        row = conn.execute("SELECT id, code, name, grade FROM risk_units WHERE id = %s",
                           [int(text)]).fetchone()
    if row is None:
        raise NotFoundError(f"no risk unit with code or id {text!r}")
    return row


def set_override(conn: psycopg.Connection, unit: str | int, grade: str, reason: str, by: str,
                 expires_at: dt.datetime | None = None) -> OverrideResult:
    if grade not in GRADES:
        raise OverrideError(f"grade {grade!r} is not one of red, orange, yellow, blue")
    if not reason or not reason.strip():
        raise OverrideError("a manual grade needs a reason")
    if not by or not by.strip():
        raise OverrideError("a manual grade needs the name of who sets it")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise OverrideError("the expiry needs a time zone")
        if expires_at <= dt.datetime.now(dt.UTC):
            raise OverrideError(f"the expiry {expires_at.isoformat()} is in the past")
    uid, code, name, previous = find_unit(conn, unit)
    with conn.transaction():
        conn.execute(
            "INSERT INTO grade_overrides (risk_unit_id, grade, reason, set_by, expires_at) "
            "VALUES (%s, %s, %s, %s, %s)", [uid, grade, reason.strip(), by.strip(), expires_at])
    regrade(conn, requested_by=f"override:{by.strip()}")
    return OverrideResult(uid, code, name, grade, previous, expires_at)


def revoke_override(conn: psycopg.Connection, unit: str | int, by: str) -> OverrideResult:
    if not by or not by.strip():
        raise OverrideError("revoking needs the name of who does it")
    uid, code, name, previous = find_unit(conn, unit)
    with conn.transaction():
        cur = conn.execute(
            """UPDATE grade_overrides SET revoked_at = now(), revoked_by = %s
               WHERE risk_unit_id = %s AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > now())""", [by.strip(), uid])
        if cur.rowcount == 0:
            raise OverrideError(f"risk unit {code} has no manual grade in force")
    regrade(conn, requested_by=f"revoke:{by.strip()}")
    grade = conn.execute("SELECT grade FROM risk_units WHERE id = %s", [uid]).fetchone()[0]
    return OverrideResult(uid, code, name, grade, previous)


def history(conn: psycopg.Connection, unit: str | int) -> list[dict]:
    uid, *_ = find_unit(conn, unit)
    cur = conn.execute(
        """SELECT changed_at, grade_from, grade_to, source, explanation->>'text_zh' AS why, run_id
           FROM grade_history WHERE risk_unit_id = %s ORDER BY changed_at, id""", [uid])
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
