"""One hierarchy for the mistakes a user can make; the service maps each to a status."""

from __future__ import annotations


class OnemapError(Exception):
    """Base of every error the project raises on purpose (message is for people)."""


class DatabaseSetupError(OnemapError):
    """The database cannot be set up, started or reached."""


class PostgisMissingError(DatabaseSetupError):
    """No PostgreSQL with PostGIS on this machine."""


class CRSNameError(OnemapError, ValueError):
    """A coordinate system name that cannot be understood."""


class ImportRejected(OnemapError):
    """An import was refused; `problems` lists (row number, reason), nothing was loaded."""

    def __init__(self, message: str, problems: list[tuple[int | None, str]] | None = None):
        super().__init__(message)
        self.problems = problems or []


class UnknownLayerError(OnemapError, LookupError):
    """A layer name that the catalogue does not hold."""


class NotFoundError(OnemapError, LookupError):
    """A thing named by the user (a unit code, an id) that does not exist."""


class ForbiddenError(OnemapError):
    """The caller's token does not allow this (or there is none)."""


class ConflictError(OnemapError):
    """A request that the thing's present state does not allow (closing a closed alarm)."""


class UnauthorizedError(OnemapError):
    """No token, or one that is unknown, revoked or expired."""


class MalformedBatch(OnemapError):
    """A batch of readings that cannot be read at all (not JSON, not an array, bad CSV header)."""


class BatchTooLarge(OnemapError):
    """A batch of readings over the configured number of rows or bytes."""


class UnsupportedBatchType(OnemapError):
    """A batch of readings in a media type other than JSON or CSV."""
