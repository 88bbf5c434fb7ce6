"""`onemap simulate` against a live service on a scratch copy of the seeded database: readings
stored, points' latest readings moved, alarms opened, and a summary that matches the tables;
a missing or refused token, an unreachable service, a batch sent again after a 503."""

from __future__ import annotations

import re
import socket
import time

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from service.auth import create_token
from service.cli import app
from service.cli import simulate as simulate_cli

runner = CliRunner()
SUMMARY = re.compile(r"sent ([\d,]+) readings in [\d,]+ s \([\d,]+/s\): ([\d,]+) accepted, "
                     r"([\d,]+) rejected as faults \(outside the physical range\).*; "
                     r"alarms: ([\d,]+) opened, ([\d,]+) raised, ([\d,]+) closed")


def number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def token(module_scratch_url):
    with psycopg.connect(module_scratch_url) as conn:
        return create_token(conn, "operator", "simulator test")[1]


@pytest.fixture(scope="module")
def server(module_scratch_url, live_server):
    with live_server(module_scratch_url) as live:
        yield live


def test_a_short_run_stores_readings_opens_alarms_and_says_so(server, token, sql):
    before = sql("SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM alarms), "
                 "(SELECT count(*) FROM alarm_history WHERE event = 'escalated'), "
                 "(SELECT count(*) FROM monitoring_latest WHERE ts IS NOT NULL)")[0]
    started = time.time()
    # every point twice in the run; incidents forced often enough to see alarms in seconds
    result = runner.invoke(app, ["simulate", "--url", server.url, "--token", token,
                                 "--rate", "5000", "--duration", "9", "--seed", "3",
                                 "--incidents", "200000"])
    finished = time.time()

    assert result.exit_code == 0, result.output
    found = SUMMARY.search(result.output)
    assert found, result.output
    sent, accepted, faults, opened, raised, closed = (number(g) for g in found.groups())
    readings, alarms, escalated, reported = sql(
        "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM alarms), "
        "(SELECT count(*) FROM alarm_history WHERE event = 'escalated'), "
        "(SELECT count(*) FROM monitoring_latest WHERE ts >= to_timestamp(%s))",
        [started - 1])[0]
    points = sql("SELECT count(*) FROM monitoring_points")[0][0]

    assert sent > 20_000 and accepted + faults == sent
    assert readings - before[0] == accepted
    assert alarms - before[1] == opened >= 1
    assert escalated - before[2] == raised
    assert closed == 0  # the quiet period is 30 min
    assert reported >= points * 0.95  # every point reported (bar the silent ones)
    assert before[3] < reported
    first, last = sql("SELECT min(raised_at), max(raised_at) FROM alarms "
                      "WHERE id > (SELECT coalesce(max(id), 0) FROM alarms) - %s", [opened])[0]
    assert started - 1 <= first.timestamp() <= last.timestamp() <= finished  # during the run
    on_map = sql("SELECT count(*) FILTER (WHERE p.grade = a.grade), count(*) FROM alarms a "
                 "JOIN monitoring_points p ON p.id = a.monitoring_point_id "
                 "WHERE a.state <> 'closed'")[0]
    assert on_map[0] == on_map[1] >= opened  # each alarm's grade is its point's on the map
    covered = re.search(r"points that reported: ([\d,]+) of ([\d,]+)", result.output)
    assert number(covered.group(2)) == points
    # a point whose only reading was a spike reported, but its latest reading did not move
    assert reported <= number(covered.group(1)) <= reported + faults


def test_without_a_token_it_says_how_to_make_one():
    result = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:9"],
                           env={"ONEMAP_TOKEN": None})

    assert result.exit_code == 2
    assert "no token" in result.output
    assert "onemap token create --role operator" in result.output


def test_a_refused_token_stops_it_at_once(server):
    result = runner.invoke(app, ["simulate", "--url", server.url, "--token", "om_not-a-token",
                                 "--duration", "1"])

    assert result.exit_code == 3
    assert "refused the token (401)" in result.output


def test_an_unreachable_service_is_named():
    with socket.socket() as s:  # a port just released: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, ["simulate", "--url", f"http://127.0.0.1:{port}",
                                 "--token", "om_x", "--duration", "1"])

    assert result.exit_code == 1
    assert f"cannot reach the service at http://127.0.0.1:{port}" in result.output
    assert "onemap serve" in result.output


def test_a_batch_is_sent_again_after_a_503_and_counted_once(monkeypatch):
    monkeypatch.setattr(simulate_cli, "BACKOFF_S", (0.01,))
    answers = iter([httpx.Response(503, json={"code": "ServiceUnavailable"}),
                    httpx.ConnectError("refused"),
                    httpx.Response(200, json={"accepted": 2, "duplicates": 0, "rejected": [],
                                              "alarms": {"opened": 1, "escalated": 0,
                                                         "closed": 0}})])
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    service = simulate_cli.Service("http://simulated", "om_x")
    service.http = httpx.Client(base_url=service.url, transport=httpx.MockTransport(handler))
    run = simulate_cli.Run(service, sim=None, rate=10, duration=0, batch=2)

    assert run.send(b'[{"point": "MP-000001"}, {"point": "MP-000002"}]', 2)
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same batch each time
    assert (run.tally.sent, run.tally.accepted, run.tally.retries, run.tally.opened) == (2, 2, 2, 1)
