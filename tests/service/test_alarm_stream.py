"""GET /alarms/stream: server-sent events of every alarm change, from uvicorn on a loopback
port; a client coming back with Last-Event-ID gets what it missed."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading

import httpx
import psycopg
import pytest

from service.auth import create_token


@pytest.fixture(scope="module")
def served(module_scratch_url, live_server):
    with live_server(module_scratch_url) as server:
        yield server


@pytest.fixture(scope="module")
def operator(module_scratch_url):
    with psycopg.connect(module_scratch_url) as conn:
        _, token = create_token(conn, "operator", "stream test")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def gas_codes(module_scratch_url):
    with psycopg.connect(module_scratch_url) as conn:
        rows = conn.execute("SELECT code FROM monitoring_points WHERE kind = 'gas' "
                            "ORDER BY id DESC LIMIT 10").fetchall()
    return iter(code for code, in rows)


class Listener:
    """Reads an event stream in a thread; `next_event()` gives each `alarm` event parsed."""

    def __init__(self, url: str, headers: dict | None = None):
        self.events: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _run(self, url, headers):
        try:
            self._read(url, headers)
        except httpx.TransportError:  # the server stops at the end of the module
            pass

    def _read(self, url, headers):
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5, read=None)) as answer:
            self.status, self.content_type = answer.status_code, answer.headers["content-type"]
            self.opened.set()
            event: dict = {}
            for line in answer.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    if event.get("event") == "alarm":
                        self.events.put(event)
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    field, _, value = line.partition(":")
                    event[field] = value.strip()

    def next_event(self, timeout: float = 10.0) -> dict:
        raw = self.events.get(timeout=timeout)
        return {"id": int(raw["id"]), **json.loads(raw["data"])}

    def close(self):
        self._stop.set()


def post(served, operator, code, minutes, value):
    ts = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()
    answer = httpx.post(f"{served.url}/readings", json=[{"point": code, "ts": ts, "value": value}],
                        headers=operator, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_new_alarm_and_its_changes_arrive_as_events(served, operator, gas_codes):
    listener = Listener(f"{served.url}/alarms/stream")
    assert (listener.status, listener.content_type.split(";")[0]) == (200, "text/event-stream")
    code = next(gas_codes)
    post(served, operator, code, -10, 12.0)
    opened = listener.next_event()
    assert (opened["event"], opened["grade"], opened["actor"]) == ("opened", "yellow", "rules")
    assert opened["alarm"]["point_code"] == code and opened["alarm"]["state"] == "open"
    post(served, operator, code, -5, 55.0)
    raised = listener.next_event()
    assert (raised["event"], raised["grade_from"], raised["grade"]) == ("escalated", "yellow", "red")
    assert raised["id"] > opened["id"] and raised["alarm"]["id"] == opened["alarm"]["id"]
    closed = httpx.post(f"{served.url}/alarms/{opened['alarm']['id']}/close",
                        json={"note": "现场确认已处置"}, headers=operator, timeout=10)
    assert closed.status_code == 200
    event = listener.next_event()
    assert (event["event"], event["actor"], event["note"]) == ("closed", "stream test", "现场确认已处置")
    listener.close()


def test_a_client_coming_back_gets_what_it_missed_and_filters_apply(served, operator, gas_codes):
    first = Listener(f"{served.url}/alarms/stream")
    post(served, operator, next(gas_codes), -10, 6.0)   # blue
    seen = first.next_event()
    first.close()
    missed_red, missed_yellow = next(gas_codes), next(gas_codes)
    post(served, operator, missed_red, -10, 60.0)
    post(served, operator, missed_yellow, -10, 12.0)
    back = Listener(f"{served.url}/alarms/stream", {"Last-Event-ID": str(seen["id"])})
    assert [back.next_event()["alarm"]["point_code"] for _ in range(2)] == [missed_red, missed_yellow]
    back.close()
    reds = Listener(f"{served.url}/alarms/stream?grade=red&after={seen['id']}")
    assert reds.next_event()["alarm"]["point_code"] == missed_red
    with pytest.raises(queue.Empty):
        reds.next_event(timeout=1.5)  # the yellow one is filtered out
    reds.close()


def test_a_bad_filter_or_event_id_is_refused_before_the_stream_opens(served):
    for url, parameter in (("/alarms/stream?grade=pink", "grade"),
                           ("/alarms/stream?after=-1", "after")):
        answer = httpx.get(served.url + url, timeout=5)
        assert answer.status_code == 400 and answer.json()["parameter"] == parameter
    answer = httpx.get(served.url + "/alarms/stream", headers={"Last-Event-ID": "x1"}, timeout=5)
    assert answer.status_code == 400 and answer.json()["parameter"] == "Last-Event-ID"
