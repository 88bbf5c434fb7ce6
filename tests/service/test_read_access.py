"""Reads are open by default; with ONEMAP_API_READ_TOKEN they need a token (header or the
sign-in cookie), tiles included, while /healthz, /login and the page's files stay open."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_token, revoke_token
from service.read_access import COOKIE


@pytest.fixture(scope="module")
def tokens(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        analyst = create_token(conn, "analyst", "read test")
        revoked = create_token(conn, "analyst", "read test, revoked")
        revoke_token(conn, revoked[0])
    return analyst[1], revoked[1]


@pytest.fixture(scope="module")
def guarded(seeded_url, settings_for):
    with TestClient(create_app(settings_for(seeded_url, api={"read_token": True})),
                    follow_redirects=False) as client:
        yield client


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_reads_are_open_by_default(seeded_client):
    assert seeded_client.get("/collections").status_code == 200
    assert seeded_client.get("/alarms").status_code == 200


@pytest.mark.parametrize("path", ["/collections", "/collections/risk_units/items?limit=1",
                                  "/tiles/districts/8/209/102.mvt", "/alarms", "/styles/onemap.json",
                                  "/analysis/shelters"])
def test_with_the_setting_every_read_needs_a_valid_token(guarded, tokens, path):
    valid, revoked = tokens
    refused = guarded.get(path)
    assert refused.status_code == 401
    assert "needs a token" in refused.json()["description"]
    assert guarded.get(path, headers=bearer(revoked)).status_code == 401
    assert guarded.get(path, headers=bearer(valid)).status_code in (200, 204)


def test_health_and_the_sign_in_page_stay_open(guarded):
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/login").status_code == 200
    page = guarded.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"


def test_signing_in_sets_a_cookie_that_reads_but_never_writes(guarded, tokens):
    valid, revoked = tokens
    wrong = guarded.post("/login", data={"token": revoked})
    assert wrong.status_code == 401 and "revoked" in wrong.text
    signed = guarded.post("/login", data={"token": valid})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert signed.cookies[COOKIE] == valid  # the client keeps it, as a browser does
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert guarded.get("/collections").status_code == 200
    assert guarded.get("/", headers={"Accept": "text/html"}).status_code == 200
    write = guarded.post("/readings", json=[])
    assert write.status_code == 401  # writes read the Authorization header only
    guarded.get("/logout")
    assert guarded.get("/collections").status_code == 401
