"""Service settings: one class per concern, each read from its own `ONEMAP_*` variables.

Nothing is read at import time: a settings object reads the environment when it is made,
and `create_app` makes one only when it is not given one. Unknown fields are refused, so a
misspelt keyword is an error rather than a silently ignored default.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _pool_max_not_below_min(value: int, info: ValidationInfo) -> int:
    """A pool's largest size may not be below its smallest (both pools of the service)."""
    minimum = info.data.get("pool_min_size", 0)
    if value < minimum:
        raise ValueError(f"pool_max_size ({value}) is below pool_min_size ({minimum})")
    return value

class DatabaseSettings(BaseSettings):
    """The database and the connection pool (`ONEMAP_DATABASE_*`)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_DATABASE_", extra="forbid")

    # ONEMAP_DATABASE_URL; when unset, create_app asks geodata.db.database_url() (the
    # embedded cluster), so that the fallback is looked up at start-up, not at import.
    url: str | None = None
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    # Connections are replaced after this many seconds, so a long-lived service follows
    # server restarts and configuration changes without piling up stale sessions.
    pool_max_lifetime: float = Field(3600.0, gt=0)
    # How long a request waits for a free connection before it answers 503.
    pool_timeout: float = Field(5.0, gt=0)
    # After failing this long to (re)connect, the pool stops its retries and tries again
    # on the next request: this bounds how late it notices that the database is back.
    reconnect_timeout: float = Field(15.0, gt=0)
    connect_timeout: int = Field(5, ge=1)
    statement_timeout_ms: int = Field(30_000, ge=0)  # 0 = no limit
    # /healthz gives up after this long, so a load balancer never waits on a dead database.
    health_timeout: float = Field(2.0, gt=0)

    _max_not_below_min = field_validator("pool_max_size")(_pool_max_not_below_min)


class ApiSettings(BaseSettings):
    """What the HTTP API offers and how it presents itself (`ONEMAP_API_*`)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_API_", extra="forbid")

    default_limit: int = Field(10, ge=1)     # OGC API - Features' own default page size
    max_limit: int = Field(10_000, ge=1)
    # ONEMAP_API_CORS_ORIGINS: a JSON list or comma-separated origins; empty = no CORS.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Links are absolute; behind a proxy that rewrites the host, set the public address.
    public_base_url: str | None = None
    # The layer catalogue (which tables exist, their extents) is rebuilt after this many
    # seconds, so imports and new migrations show up without a restart; 0 = never.
    catalogue_refresh_seconds: float = Field(300.0, ge=0)
    # FastAPI's OpenTelemetry hooks (traces, metrics, logs to the process's providers).
    # Off by default: an intranet server rarely has a collector, and asking whether one is
    # configured costs ~25 us on every request, a tenth of a tile's Python time.
    telemetry: bool = False
    # Reads are open on the intranet. True: every read needs a token of any role, sent as
    # `Authorization: Bearer …` or as the cookie that the sign-in page (/login) sets.
    read_token: bool = False

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("max_limit")
    @classmethod
    def _max_not_below_default(cls, value: int, info: ValidationInfo) -> int:
        default = info.data.get("default_limit", 1)
        if value < default:
            raise ValueError(f"max_limit ({value}) is below default_limit ({default})")
        return value


class GradingSettings(BaseSettings):
    """Grading while the service runs (`ONEMAP_GRADING_*`)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_GRADING_", extra="forbid")

    # Every unit and point is graded again this often, so that a manual grade's expiry
    # takes effect without anyone running `onemap grade`; 0 = never.
    interval_seconds: float = Field(300.0, ge=0)
    # A red alarm opened or closed on a point linked to a risk unit grades again at once
    # (within about a second), so the unit's grade follows the alarm.
    on_red_alarm: bool = True


class ReadingsSettings(BaseSettings):
    """Monitoring readings sent to `POST /readings` (`ONEMAP_READINGS_*`)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_READINGS_", extra="forbid")

    # Rows one request may carry; more is a 413 (split the batch). Batches of 1,000 to
    # 10,000 ingest fastest (shared/NOTES.md); the cap bounds a request's memory and time.
    max_rows: int = Field(10_000, ge=1)
    # Bytes one request body may have, whatever its rows.
    max_body_bytes: int = Field(16 * 2**20, ge=1)
    # A reading may be this far in the future (sensor clocks drift) and no further.
    future_skew_seconds: float = Field(300.0, ge=0)
    # Readings are kept this many days: older partitions are dropped, and a reading older
    # than that is refused (it would be dropped at once).
    retention_days: int = Field(400, ge=1)
    # The service makes the partitions a week ahead and drops those past the retention at
    # start-up and then this often; 0 = never (another process does it).
    upkeep_interval_seconds: float = Field(6 * 3600.0, ge=0)


class TileSettings(BaseSettings):
    """Vector tiles and their cache (`ONEMAP_TILES_*`)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_TILES_", extra="forbid")

    # Memory the tile cache may take, in bytes; 0 turns the cache off.
    cache_bytes: int = Field(128 * 2**20, ge=0)
    # The service listens for the database's notice of each change of data (sent at
    # commit) and reads the layers' data versions again after one; a read is reused at
    # most this long all the same. 0, or not listening: every tile request reads them
    # (one tiny query, shared by concurrent requests), so a change is in the very next
    # tile whatever happens to notices.
    version_ttl_seconds: float = Field(1.0, ge=0)
    listen_for_changes: bool = True
    # Tiles are gzipped for clients that accept it, from this size on.
    gzip: bool = True
    gzip_min_bytes: int = Field(1024, ge=0)
    gzip_level: int = Field(6, ge=1, le=9)
    # Cache-Control max-age told to clients; 0: "no-cache" (they revalidate with the ETag).
    max_age_seconds: int = Field(0, ge=0)
    # Connections of the tile queries (a pool of their own, autocommit, one round trip each).
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(8, ge=1)

    _max_not_below_min = field_validator("pool_max_size")(_pool_max_not_below_min)


class Settings(BaseModel):
    """All the settings of the service, grouped by concern."""

    model_config = ConfigDict(extra="forbid")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    grading: GradingSettings = Field(default_factory=GradingSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    readings: ReadingsSettings = Field(default_factory=ReadingsSettings)
