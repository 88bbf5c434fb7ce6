"""The live alarms on the map page in Chromium: readings posted to the service open and raise
alarms, a person acknowledges and closes them, and the page follows without being reloaded
(its list, the counts per grade, the pulsing points, the `alarms` and `monitoring_points`
tiles). On a private copy of the seeded database."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import psycopg
import pytest
from browser import SETTLED, Chromium, open_page, problems, shot, wait_for

from service.auth import create_token

CORE = (108.95, 34.26)  # the old core: gas and drainage points all around
PULSE = "onemap-alarm-pulse"
TOKEN_NAME = "test"


def _post(url: str, body: Any, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _ago(minutes: float) -> str:
    """A reading's time: ISO 8601 with its time zone, `minutes` before now."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).isoformat()


def _points(url: str) -> dict[str, dict]:
    """Two gas points and a drainage point near the core, none with an alarm."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT p.id, p.code, p.kind, ST_X(p.geom), ST_Y(p.geom) FROM monitoring_points p
               WHERE p.kind = %s AND NOT EXISTS (SELECT 1 FROM alarms a
                                                 WHERE a.monitoring_point_id = p.id)
               ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT %s""",
            ["gas", *CORE, 2]).fetchall()
        rows += conn.execute(
            """SELECT p.id, p.code, p.kind, ST_X(p.geom), ST_Y(p.geom) FROM monitoring_points p
               WHERE p.kind = %s ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326)
               LIMIT 1""", ["drainage", *CORE]).fetchall()
    keys = ("red", "escalated", "acknowledged")
    return {key: {"id": r[0], "code": r[1], "kind": r[2], "lon": r[3], "lat": r[4]}
            for key, r in zip(keys, rows, strict=True)}


# What the page holds and shows of its alarms, in one look.
SEEN = f"""(async () => {{
    const map = onemap.map;
    const items = [...document.querySelectorAll('#alarm-panel li.alarm:not(.leaving)')];
    const pulse = (await map.getSource('{PULSE}').getData()).features;
    return {{
        items: items.map(li => ({{id: Number(li.dataset.id), grade: li.dataset.grade,
                                  state: li.dataset.state, text: li.innerText,
                                  value: li.querySelector('.value').textContent}})),
        counts: Object.fromEntries([...document.querySelectorAll('#alarm-panel .count')]
            .map(c => [c.dataset.grade, Number(c.querySelector('b').textContent)])),
        pulse: pulse.map(f => f.properties),
        connection: document.querySelector('#alarm-panel .connection').dataset.state,
        connectionText: document.querySelector('#alarm-panel .connection').innerText,
        held: onemap.alarms.items.size, animating: onemap.alarms.animating,
        refreshes: onemap.alarms.refreshes, events: onemap.alarms.events,
        sameDocument: window.sameDocument === 42,
    }};
}})()"""


def _rendered(browser: Chromium, session: str, layer: str) -> list[dict]:
    """The features of a style layer drawn now: their ids and properties."""
    return browser.evaluate(f"""(async () => {{
        {SETTLED}
        return onemap.map.queryRenderedFeatures({{layers: ['{layer}']}})
            .map(f => ({{id: f.id, ...f.properties}}));
    }})()""", session)


def _item(alarm_id: int, grade: str | None = None, state: str | None = None) -> str:
    """An expression: the list shows the alarm (with that grade and state)."""
    selector = f"#alarm-panel li.alarm[data-id=\"{alarm_id}\"]:not(.leaving)"
    if grade:
        selector += f"[data-grade=\"{grade}\"]"
    if state:
        selector += f"[data-state=\"{state}\"]"
    return f"document.querySelector({json.dumps(selector)}) !== null"


def _alarm_of(server_url: str, code: str) -> dict:
    with urllib.request.urlopen(f"{server_url}/alarms?point={code}&state=open,acknowledged",
                                timeout=10) as answer:
        return json.loads(answer.read())["alarms"][0]


@pytest.fixture(scope="module")
def live_alarms(chromium_path, module_scratch_url, live_server, tmp_path_factory):
    """The page open while readings open a red alarm and raise a yellow one to orange, a
    third is acknowledged and the red one closed: what it showed after each step."""
    folder = tmp_path_factory.mktemp("alarms")
    points = _points(module_scratch_url)
    with psycopg.connect(module_scratch_url) as conn:
        _, token = create_token(conn, "operator", TOKEN_NAME)
    out: dict[str, Any] = {"points": points, "screenshots": {}, "steps": {}}
    with live_server(module_scratch_url) as server:
        browser = Chromium(chromium_path, folder / "profile", folder / "chromium.log")
        out["url"] = server.url
        try:
            session = open_page(browser, f"{server.url}/")
            out["ready"] = browser.evaluate("document.documentElement.dataset.ready || ''",
                                            session)
            out["connected"] = wait_for(browser, session, "onemap.alarms?.loaded "
                                        "&& onemap.alarms.connection === 'live'", seconds=30)
            # the points' neighbourhood, where the alarms' own tiles and the points are drawn
            browser.evaluate(f"""(async () => {{
                window.sameDocument = 42;  // gone if the page were loaded again
                onemap.map.jumpTo({{center: {list(CORE)}, zoom: 13.6}});
                {SETTLED}
            }})()""", session)
            out["steps"]["before"] = browser.evaluate(SEEN, session)
            requests_before = len(browser.of("Network.requestWillBeSent"))

            # 1. a gas point reads 55 %LEL: a red alarm
            red = points["red"]
            out["post_red"] = _post(f"{server.url}/readings", [
                {"point": red["code"], "ts": _ago(2), "value": 55}], token)
            red["alarm"] = _alarm_of(server.url, red["code"])
            out["shown_red"] = wait_for(browser, session, _item(red["alarm"]["id"], "red", "open"))
            out["steps"]["red"] = browser.evaluate(SEEN, session)
            out["tiles_red"] = wait_for(browser, session, f"""(() => {{
                const drawn = onemap.map.queryRenderedFeatures({{layers: ['alarms']}});
                return drawn.some(f => f.id === {red["alarm"]["id"]});
            }})()""", seconds=30)

            # 2. another reads 12 (yellow), then 30 (orange): the same alarm, raised
            raised = points["escalated"]
            out["post_yellow"] = _post(f"{server.url}/readings", [
                {"point": raised["code"], "ts": _ago(3), "value": 12}], token)
            raised["alarm"] = _alarm_of(server.url, raised["code"])
            out["shown_yellow"] = wait_for(browser, session,
                                           _item(raised["alarm"]["id"], "yellow"))
            out["steps"]["yellow"] = browser.evaluate(SEEN, session)
            out["post_orange"] = _post(f"{server.url}/readings", [
                {"point": raised["code"], "ts": _ago(1), "value": 30}], token)
            out["shown_orange"] = wait_for(browser, session,
                                           _item(raised["alarm"]["id"], "orange"))
            out["steps"]["orange"] = browser.evaluate(SEEN, session)

            # 3. a drainage point floods 20 cm (blue), an operator acknowledges it
            seen = points["acknowledged"]
            out["post_blue"] = _post(f"{server.url}/readings", [
                {"point": seen["code"], "ts": _ago(2), "value": 20}], token)
            seen["alarm"] = _alarm_of(server.url, seen["code"])
            out["ack"] = _post(f"{server.url}/alarms/{seen['alarm']['id']}/ack",
                               {"note": "巡查人员已到场 · crew on site"}, token)
            out["shown_ack"] = wait_for(browser, session,
                                        _item(seen["alarm"]["id"], "blue", "acknowledged"))
            # the monitoring points' tiles carry the new grades once fetched again
            out["points_drawn"] = wait_for(browser, session, f"""(() => {{
                const drawn = onemap.map.queryRenderedFeatures({{layers: ['monitoring-points']}});
                const grade = (id) => drawn.find(f => f.id === id)?.properties.grade;
                return grade({red["id"]}) === 'red' && grade({raised["id"]}) === 'orange'
                    && grade({seen["id"]}) === 'blue';
            }})()""", seconds=30)
            out["steps"]["all"] = browser.evaluate(SEEN, session)
            # a hidden tab stops the ripple, and showing it again starts it
            out["hidden_tab"] = browser.evaluate("""(() => {
                const say = (hidden) => {
                    Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
                    document.dispatchEvent(new Event('visibilitychange'));
                    return onemap.alarms.animating;
                };
                const hidden = say(true);
                const shown = say(false);
                delete document.hidden;  // the browser's own again
                return {hidden, shown};
            })()""", session)
            out["alarms_drawn"] = _rendered(browser, session, "alarms")
            out["screenshots"]["live"] = shot(browser, session, folder / "alarms_live.png")

            # 4. a click on the red alarm in the list: the map flies there, a popup tells all
            browser.evaluate(f"""document.querySelector('#alarm-panel li.alarm[data-id="""
                             f""""{red["alarm"]["id"]}"]').click()""", session)
            out["popup"] = wait_for(browser, session, """(() => {
                const popup = document.querySelector('.maplibregl-popup .alarm-popup');
                return popup && popup.querySelector('.alarm-history') ? popup.innerText : '';
            })()""", seconds=20)
            out["flown"] = browser.evaluate(f"""(async () => {{
                {SETTLED}
                const c = onemap.map.getCenter();
                return {{lon: c.lng, lat: c.lat, zoom: onemap.map.getZoom()}};
            }})()""", session)
            out["screenshots"]["popup"] = shot(browser, session, folder / "alarms_popup.png")

            # 5. the red alarm is closed: it leaves the list, the map and the tiles
            out["close"] = _post(f"{server.url}/alarms/{red['alarm']['id']}/close",
                                 {"note": "阀门已关闭，浓度回落 · valve shut, gas cleared"}, token)
            out["gone"] = wait_for(browser, session,
                                   f"!({_item(red['alarm']['id'])}) && "
                                   f"!document.querySelector('#alarm-panel "
                                   f"li.alarm[data-id=\"{red['alarm']['id']}\"]')")
            out["steps"]["closed"] = browser.evaluate(SEEN, session)
            out["tiles_closed"] = wait_for(browser, session, f"""(() => {{
                const drawn = onemap.map.queryRenderedFeatures({{layers: ['alarms']}});
                return onemap.map.isSourceLoaded('alarms')
                    && !drawn.some(f => f.id === {red["alarm"]["id"]});
            }})()""", seconds=30)
            out["popup_closed"] = browser.evaluate(
                "document.querySelector('.maplibregl-popup .alarm-popup')?.innerText ?? ''",
                session)
            out["tile_requests"] = [e["request"]["url"] for e in
                                    browser.of("Network.requestWillBeSent")[requests_before:]
                                    if "/tiles/" in e["request"]["url"]]
            out["streams"] = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")
                              if "/alarms/stream" in e["request"]["url"]]
            out["listed"] = json.loads(urllib.request.urlopen(
                f"{server.url}/alarms?state=open,acknowledged", timeout=10).read())
            out["problems"] = problems(browser)
        finally:
            browser.close()
    print(f"\nlive alarm screenshots: {', '.join(map(str, out['screenshots'].values()))}")
    return out


def test_the_page_is_connected_to_the_live_feed(live_alarms):
    view = live_alarms
    assert view["ready"] == "true", view.get("problems")
    assert view["connected"], view.get("problems")
    before = view["steps"]["before"]
    assert before["connection"] == "live" and "实时" in before["connectionText"]
    assert before["items"] == [] and before["pulse"] == []  # the seeded data has no alarm
    assert before["counts"] == {"red": 0, "orange": 0, "yellow": 0, "blue": 0}
    assert len(view["streams"]) == 1, "one stream, never reconnected"
    assert not view["problems"], view["problems"]


def test_a_red_alarm_shows_without_reloading_and_pulses(live_alarms):
    view = live_alarms
    assert view["post_red"][0] == 200 and view["post_red"][1]["alarms"]["opened"] == 1
    red = view["points"]["red"]
    assert view["shown_red"], view["steps"]["red"]
    step = view["steps"]["red"]
    assert step["sameDocument"], "the page was not loaded again"
    [item] = step["items"]
    assert item == {"id": red["alarm"]["id"], "grade": "red", "state": "open",
                    "text": item["text"], "value": "55 %LEL"}
    for words in (red["code"], "红", "燃气", "55 %LEL", "未处置", "open", "reached the red"):
        assert words in item["text"], (words, item["text"])
    assert step["counts"] == {"red": 1, "orange": 0, "yellow": 0, "blue": 0}
    assert [(p["id"], p["state"], p["grade"]) for p in step["pulse"]] == [
        (red["alarm"]["id"], "open", "red")]
    assert step["animating"], "an open alarm pulses"
    assert live_alarms["hidden_tab"] == {"hidden": False, "shown": True}, "not in a hidden tab"
    assert step["events"] >= 1
    assert view["tiles_red"], "the alarms layer's tiles were fetched again and show it"


def test_an_escalated_alarm_changes_grade_in_place(live_alarms):
    view = live_alarms
    raised = view["points"]["escalated"]
    assert view["shown_yellow"] and view["shown_orange"], view["steps"]
    yellow = next(i for i in view["steps"]["yellow"]["items"] if i["id"] == raised["alarm"]["id"])
    assert yellow["grade"] == "yellow" and raised["code"] in yellow["text"]
    assert view["post_orange"][1]["alarms"]["escalated"] == 1
    step = view["steps"]["orange"]
    ids = [i["id"] for i in step["items"]]
    assert ids == [view["points"]["red"]["alarm"]["id"], raised["alarm"]["id"]], "worst first"
    orange = step["items"][1]
    assert orange["grade"] == "orange" and orange["value"] == "30 %LEL"  # the worst reading
    assert "升级" in orange["text"] and "escalated" in orange["text"]
    assert step["counts"] == {"red": 1, "orange": 1, "yellow": 0, "blue": 0}
    assert {p["id"]: p["grade"] for p in step["pulse"]}[raised["alarm"]["id"]] == "orange"


def test_an_acknowledged_alarm_says_who_and_stays_listed(live_alarms):
    view = live_alarms
    seen = view["points"]["acknowledged"]
    assert view["ack"][0] == 200 and view["ack"][1]["state"] == "acknowledged"
    assert view["shown_ack"], view["steps"]["all"]
    step = view["steps"]["all"]
    item = next(i for i in step["items"] if i["id"] == seen["alarm"]["id"])
    for words in ("已确认", "acknowledged", TOKEN_NAME, "20 cm", "排水防涝"):
        assert words in item["text"], (words, item["text"])
    assert step["counts"] == {"red": 1, "orange": 1, "yellow": 0, "blue": 1}
    # the counts are what the service lists
    assert sum(step["counts"].values()) == len(step["items"]) == step["held"] == 3
    assert {p["id"]: p["state"] for p in step["pulse"]}[seen["alarm"]["id"]] == "acknowledged"
    assert view["points_drawn"], "the monitoring points' tiles show the alarms' grades"
    drawn = {f["id"]: f for f in view["alarms_drawn"]}
    assert {a["alarm"]["id"] for a in view["points"].values()} <= set(drawn)


def test_a_click_on_an_item_flies_there_and_tells_the_story(live_alarms):
    view = live_alarms
    red = view["points"]["red"]
    popup = view["popup"]
    assert popup, "the popup opened with the alarm's history"
    for words in (red["code"], "红色预警", "55 %LEL", "经过", "History", "发布", "opened"):
        assert words in popup, (words, popup)
    flown = view["flown"]
    assert flown["lon"] == pytest.approx(red["lon"], abs=1e-4)
    assert flown["lat"] == pytest.approx(red["lat"], abs=1e-4)
    assert flown["zoom"] >= 15 - 1e-6


def test_a_closed_alarm_leaves_the_list_the_map_and_the_tiles(live_alarms):
    view = live_alarms
    red = view["points"]["red"]
    assert view["close"][0] == 200 and view["close"][1]["state"] == "closed"
    assert view["gone"], view["steps"]["closed"]
    step = view["steps"]["closed"]
    assert red["alarm"]["id"] not in [i["id"] for i in step["items"]]
    assert red["alarm"]["id"] not in [p["id"] for p in step["pulse"]]
    assert step["counts"] == {"red": 0, "orange": 1, "yellow": 0, "blue": 1}
    assert step["sameDocument"]
    assert view["tiles_closed"], "the alarms layer no longer draws it"
    # the popup still open on it says it is closed, and by whom
    assert "已关闭" in view["popup_closed"] and TOKEN_NAME in view["popup_closed"]
    listed = sorted(a["id"] for a in view["listed"]["alarms"])
    assert listed == sorted(i["id"] for i in step["items"])


def test_tiles_are_fetched_again_after_changes(live_alarms):
    urls = live_alarms["tile_requests"]
    for layer in ("alarms", "monitoring_points"):
        again = [u for u in urls if f"/tiles/{layer}/" in u and "v=" in u]
        assert again, (layer, urls[:20])


def test_the_screenshot_shows_the_panel_and_the_pulses(live_alarms):
    from PIL import Image

    from layers.style import PALETTE

    image = Image.open(live_alarms["screenshots"]["live"]).convert("RGB")
    panel = image.crop((0, 60, 330, 500))  # the panel's first section
    colours = panel.getcolors(maxcolors=1 << 20)
    red = next(p.colour for p in PALETTE if p.grade == "red")
    target = tuple(int(red.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    near = sum(n for n, c in colours if sum(abs(a - b) for a, b in zip(c, target)) < 40)
    assert near > 200, "the red alarm's grade shows in the panel"
