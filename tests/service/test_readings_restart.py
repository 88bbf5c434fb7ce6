"""A database restart in the middle of an ingest: clients get 503 (never 500) while it is
down, retry, and every reading the service acknowledged, and every one sent, is stored.

The service runs under uvicorn against a PostgreSQL cluster of this test's own, so stopping
and starting it touches no other test.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time

import httpx
import psycopg
import pytest

from geodata.boundaries import demonstration_districts, load_districts
from geodata.db.cluster import Cluster
from geodata.db.migrate import migrate
from geodata.db.reference import sync_reference
from service.auth import create_token

POINTS = 200
BATCHES = 60


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("restart") / ".onemap"
    c = Cluster(home=home)
    c.start()
    yield c
    c.stop()
    if c.data_root != c.home:
        shutil.rmtree(c.data_root, ignore_errors=True)


@pytest.fixture(scope="module")
def database(cluster):
    """Schema, districts and 200 gas points in 雁塔区; an operator token."""
    url = cluster.url()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        sync_reference(conn)
        with conn.transaction():
            load_districts(conn, demonstration_districts())
        conn.execute(
            """INSERT INTO monitoring_points (code, name, kind, unit, district_code, geom)
               SELECT 'R-' || lpad(i::text, 4, '0'), '测试点' || i, 'gas', %s, '610113',
                      ST_SetSRID(ST_MakePoint(108.94 + i * 1e-4, 34.22), 4326)
               FROM generate_series(1, %s) i""", ["%LEL", POINTS])
        _, token = create_token(conn, "operator", "restart test")
    return url, {"Authorization": f"Bearer {token}"}


def batch(number: int, start: dt.datetime) -> list[dict]:
    ts = (start + dt.timedelta(seconds=number)).isoformat()
    # every 10th batch carries a red reading on one point: alarms are written too
    return [{"point": f"R-{i:04d}", "ts": ts,
             "value": 60.0 if number % 10 == 0 and i == number % POINTS + 1 else 1.0}
            for i in range(1, POINTS + 1)]


def test_a_restart_during_ingest_answers_503_and_loses_nothing(cluster, database, live_server):
    url, operator = database
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    answers: list[tuple[int, int, dict | None]] = []   # (batch, status, body)
    done = threading.Event()

    def client():
        with httpx.Client(timeout=30) as http:
            for number in range(BATCHES):
                deadline = time.monotonic() + 90
                while True:
                    try:
                        answer = http.post(f"{server.url}/readings", json=batch(number, start),
                                           headers=operator)
                        status = answer.status_code
                        body = answer.json()
                    except httpx.TransportError:
                        status, body = -1, None  # the service itself never goes away here
                    answers.append((number, status, body))
                    if status == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)  # 503: the database is down; retry the same batch
                time.sleep(0.02)
        done.set()

    with live_server(url, ONEMAP_DATABASE_POOL_TIMEOUT="2") as server:
        thread = threading.Thread(target=client)
        thread.start()
        while len(answers) < 10:
            time.sleep(0.05)
        cluster.stop()          # fast shutdown: sessions are ended, transactions rolled back
        time.sleep(2.0)
        cluster.start()
        assert done.wait(180), "the client did not finish"
        thread.join()

    statuses = {status for _, status, _ in answers}
    assert statuses <= {200, 503}, answers
    assert 503 in statuses  # the restart was seen by clients
    finals = {number: body for number, status, body in answers if status == 200}
    assert sorted(finals) == list(range(BATCHES))  # each batch stored in the end
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        red_points = conn.execute(
            "SELECT count(DISTINCT monitoring_point_id) FROM alarms WHERE grade = 'red'").fetchone()[0]
    assert stored == BATCHES * POINTS
    acknowledged = sum(body["accepted"] for body in finals.values())
    retried_duplicates = sum(body["duplicates"] for body in finals.values())
    # a batch committed just before its answer was lost comes back as duplicates
    assert acknowledged + retried_duplicates == stored
    assert red_points == BATCHES // 10
