"""Bearer tokens with roles, for writes and administration.

Roles: analyst, planner, commander, operator, admin; `admin` may do everything. A token is
created with `onemap token create --role ROLE`, shown once, and stored as a SHA-256 only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import psycopg
from fastapi import Depends, Request

from geodata.errors import ForbiddenError, OnemapError, UnauthorizedError

ROLES = ("analyst", "planner", "commander", "operator", "admin")
LAST_USED_RESOLUTION_S = 60.0  # a token's last_used_at is at most this much behind


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    role: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_token(conn: psycopg.Connection, role: str, name: str) -> tuple[int, str]:
    """A new token for `role`: returns (id, token); only its digest is kept."""
    if role not in ROLES:
        raise OnemapError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not name.strip():
        raise OnemapError("a token needs a name (who or what uses it)")
    token = "om_" + secrets.token_urlsafe(32)
    token_id = conn.execute(
        "INSERT INTO api_tokens (name, role, token_sha256) VALUES (%s, %s, %s) RETURNING id",
        [name.strip(), role, _digest(token)]).fetchone()[0]
    conn.commit()
    return token_id, token


def revoke_token(conn: psycopg.Connection, token_id: int) -> bool:
    cur = conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                       [token_id])
    conn.commit()
    return cur.rowcount == 1


async def caller_of(pool, authorization: str | None) -> Caller:
    """The caller a `Authorization: Bearer …` header names (UnauthorizedError otherwise)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise UnauthorizedError("this needs a token: send 'Authorization: Bearer <token>' "
                                "(create one with `onemap token create --role …`)")
    token = authorization[7:].strip()
    async with pool.connection() as conn:
        # last_used_at is written once a minute at most: writing it on every request made
        # each request a commit of its own, and concurrent ones wait on the token's row
        row = await (await conn.execute(
            """WITH token AS (
                   SELECT id, name, role, last_used_at FROM api_tokens
                   WHERE token_sha256 = %s AND revoked_at IS NULL
                     AND (expires_at IS NULL OR expires_at > now())),
               used AS (
                   UPDATE api_tokens t SET last_used_at = now() FROM token
                   WHERE t.id = token.id AND (token.last_used_at IS NULL
                         OR token.last_used_at < now() - make_interval(secs => %s)))
               SELECT id, name, role FROM token""",
            [_digest(token), LAST_USED_RESOLUTION_S])).fetchone()
    if row is None:
        raise UnauthorizedError("the token is unknown, revoked or expired")
    return Caller(*row)


def require_role(*roles: str):
    """A dependency admitting callers with one of `roles` (admin always)."""
    allowed = set(roles) | {"admin"}

    async def dependency(request: Request) -> Caller:
        caller = await caller_of(request.app.state.backend.pool, request.headers.get("authorization"))
        if caller.role not in allowed:
            raise ForbiddenError(f"role {caller.role!r} may not do this; it needs "
                                 + " or ".join(sorted(allowed)))
        return caller

    return Depends(dependency)
