"""/healthz, the app's start-up against good, missing and unfit databases, and the settings."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from pydantic import ValidationError

from geodata.db.migrate import available
from geodata.errors import DatabaseSetupError
from layers.catalogue import LAYERS
from service.app import create_app
from service.deps import check_server, short_reason
from service.routers.health import health_query
from service.settings import ApiSettings, DatabaseSettings, Settings


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def test_healthz_reports_versions_schema_and_counts(base_client, base_url, top_level):
    response = base_client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    database = body["database"]
    assert database["reachable"] is True
    assert database["postgresql"] == _server_version(base_url)
    assert database["postgis"].split(".")[0] == "3"
    assert database["schema_version"] == max(m.version for m in available())
    # the top-level layers in catalogue order; no geometry parts (views of their parent)
    assert list(body["layers"]) == top_level
    assert body["layers"] == {name: 13 if name == "districts" else 0 for name in top_level}
    assert body["pool"]["size"] >= 1


def test_healthz_counts_the_seeded_layers_exactly(seeded_client, seeded_sql, top_level):
    counts = seeded_client.get("/healthz").json()["layers"]

    tables = {layer.name: layer.table for layer in LAYERS}
    assert counts == {name: seeded_sql(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(tables[name])))[0][0] for name in top_level}
    assert counts["districts"] == counts["area_risk_districts"] == 13
    assert counts["monitoring_points"] == 22067
    assert counts["risk_units"] > 0 and counts["area_risk_grid"] > 0


def test_healthz_is_one_statement_counting_each_table_once(seeded_client, seeded_url):
    catalogue = seeded_client.portal.call(seeded_client.app.state.backend.catalogue)
    query, params = health_query(catalogue)

    with psycopg.connect(seeded_url) as conn:
        text = query.as_string(conn)
        row = conn.execute(query, params).fetchone()
    assert ";" not in text
    assert text.count("count(*)") == len(LAYERS)  # parts of risk_units add none
    assert len(row) == 3 + len(LAYERS)


def test_healthz_counts_are_live(scratch_base_url, settings_for):
    with TestClient(create_app(settings_for(scratch_base_url))) as client:
        assert client.get("/healthz").json()["layers"]["districts"] == 13
        with psycopg.connect(scratch_base_url) as conn:
            conn.execute("DELETE FROM districts WHERE code = '610102'")
        assert client.get("/healthz").json()["layers"]["districts"] == 12


def test_healthz_answers_503_at_once_when_nothing_listens(closed_port_url, settings_for):
    started = time.monotonic()
    with TestClient(create_app(settings_for(closed_port_url))) as client:
        assert time.monotonic() - started < 2.0, "start-up must not wait for the database"
        asked = time.monotonic()
        response = client.get("/healthz")
        took = time.monotonic() - asked

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable",
                               "database": {"reachable": False, "error": "connection refused"}}
    assert took < 1.0


def test_requests_answer_503_without_the_database_message(closed_port_url, settings_for):
    with TestClient(create_app(settings_for(closed_port_url))) as client:
        response = client.get("/collections")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    assert response.json() == {"code": "ServiceUnavailable",
                               "description": "the database does not answer (connection refused)"}


def test_tiles_answer_503_when_the_database_is_down(closed_port_url, settings_for):
    with TestClient(create_app(settings_for(closed_port_url))) as client:
        response = client.get("/tiles/risk_units/12/3287/1632.mvt")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    assert response.json()["code"] == "ServiceUnavailable"
    assert "refused" in response.json()["description"]


def _wait_for(client: TestClient, path: str, status: int, within: float = 15.0):
    deadline = time.monotonic() + within
    while True:
        response = client.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_app_recovers_when_the_database_comes_and_goes(proxy, settings_for, published):
    with TestClient(create_app(settings_for(proxy.url))) as client:
        # down at start-up: the app runs, and says so
        assert client.get("/healthz").status_code == 503
        assert client.get("/collections").status_code == 503

        proxy.up()
        response = _wait_for(client, "/collections", 200)
        assert response.status_code == 200, response.text
        assert [c["id"] for c in response.json()["collections"]] == published
        assert client.get("/healthz").json()["layers"]["districts"] == 13

        proxy.down()  # the pool's connections are cut
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["database"] == {"reachable": False, "error": "connection refused"}
        # the catalogue built before still answers what needs no query
        assert client.get("/collections/districts").status_code == 200

        proxy.up()
        response = _wait_for(client, "/healthz", 200)
        assert response.status_code == 200, response.text
        assert response.json()["layers"]["districts"] == 13


def test_start_up_fails_clearly_without_postgis(admin, base_url, settings_for):
    name = f"{urlsplit(base_url).path.lstrip('/')}_plain_{uuid.uuid4().hex[:6]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))
        with (pytest.raises(DatabaseSetupError, match="PostGIS is not installed in this database"),
              TestClient(create_app(settings_for(url)))):
            pass
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


class _FakeConnection:
    """Answers check_server's one query with fixed values."""

    def __init__(self, row):
        self.row = row

    async def execute(self, query, params=None):
        return self

    async def fetchone(self):
        return self.row


@pytest.mark.parametrize("row, message", [
    (("15.10 (Debian)", "2.5.5", True), "PostGIS 2.5.5 is too old"),
    (("15.10", None, True), "PostGIS is not installed"),
    (("15.10", "3.4.0", False), "no onemap schema"),
])
def test_check_server_refuses_unfit_databases(row, message):
    with pytest.raises(DatabaseSetupError, match=message):
        asyncio.run(check_server(_FakeConnection(row)))


def test_check_server_reads_versions():
    versions = asyncio.run(check_server(_FakeConnection(("15.10 (Debian 15.10-1)", "3.4.2", True))))
    assert (versions.postgresql, versions.postgis) == ("15.10", "3.4.2")


def test_short_reason_hides_hosts_and_users():
    exc = psycopg.OperationalError(
        'connection failed: connection to server at "10.1.2.3", port 5432 failed: FATAL:  '
        'password authentication failed for user "secret_user"')
    assert short_reason(exc) == "authentication failed"
    assert short_reason(psycopg.OperationalError("something new")) == "cannot connect"


# -- settings -------------------------------------------------------------------------

def test_settings_are_read_from_the_environment_when_made(monkeypatch):
    monkeypatch.setenv("ONEMAP_DATABASE_URL", "postgresql://u@h:1/d")
    monkeypatch.setenv("ONEMAP_DATABASE_POOL_MAX_SIZE", "3")
    monkeypatch.setenv("ONEMAP_DATABASE_STATEMENT_TIMEOUT_MS", "1500")
    monkeypatch.setenv("ONEMAP_API_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("ONEMAP_API_PUBLIC_BASE_URL", "https://map.example/api/")

    settings = Settings()

    assert settings.database.url == "postgresql://u@h:1/d"
    assert settings.database.pool_max_size == 3
    assert settings.database.statement_timeout_ms == 1500
    assert settings.api.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.api.public_base_url == "https://map.example/api"


def test_settings_accept_a_json_list_of_origins(monkeypatch):
    monkeypatch.setenv("ONEMAP_API_CORS_ORIGINS", '["http://a.example"]')
    assert ApiSettings().cors_origins == ["http://a.example"]


def test_settings_refuse_unknown_fields_and_bad_bounds():
    with pytest.raises(ValidationError, match="pool_max_sise"):
        DatabaseSettings(pool_max_sise=3)
    with pytest.raises(ValidationError, match="below pool_min_size"):
        DatabaseSettings(pool_min_size=5, pool_max_size=2)
    with pytest.raises(ValidationError, match="below default_limit"):
        ApiSettings(default_limit=100, max_limit=10)
    with pytest.raises(ValidationError):
        Settings(no_such_section={})  # a section the settings do not have


def test_create_app_falls_back_to_the_environment_url(monkeypatch, base_url):
    monkeypatch.setenv("ONEMAP_DATABASE_URL", base_url)
    with TestClient(create_app()) as client:
        assert client.get("/healthz").json()["layers"]["districts"] == 13


def test_statement_timeout_reaches_the_connections(base_url, settings_for):
    app = create_app(settings_for(base_url, statement_timeout_ms=1234))

    async def read() -> tuple[str, str]:
        async with app.state.backend.pool.connection() as conn:
            cur = await conn.execute("SELECT current_setting('statement_timeout'), "
                                     "current_setting('application_name')")
            return await cur.fetchone()

    with TestClient(app) as client:
        assert client.portal.call(read) == ("1234ms", "onemap-service")
