"""The map page: served at `/` to browsers, and drawn by headless Chromium from the service.

Chromium (Debian's package; `make test` installs it) is driven over the DevTools protocol
on a pipe (`--remote-debugging-pipe`: NUL-terminated JSON on file descriptors 3 and 4), so
no websocket client is needed. It loads the page from the service on the seeded test
database, waits for the page to say that the map has drawn its first view, reads what was
rendered, records every request the page and its workers make, and takes a screenshot.

The planners' view (shelter area per resident, shelter gaps, proposals) is drawn from a
private copy of the seeded database in which the shelter gaps have been built.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from layers.shelters.gaps import refresh_if_stale
from layers.style import DISTRICT_FILL, PROVISION_OPACITY, SHELTER_PROVISION
from service.routers.pages import MAPLIBRE

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
WIDTH, HEIGHT = 1440, 900
READY_SECONDS = 90  # software WebGL on two cores; it takes a few seconds in practice


def chromium_binary() -> str | None:
    for name in (os.environ.get("ONEMAP_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


class Chromium:
    """Headless Chromium and a DevTools-protocol client on its debugging pipe."""

    FLAGS = (
        "--headless", "--no-sandbox", "--disable-gpu",
        # WebGL in software (SwiftShader), which MapLibre needs
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-quic", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
        # no name resolves but the loopback: nothing can leave the machine
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    )

    _TRAMPOLINE = ("import os, sys; r, w = map(int, sys.argv[1:3]); os.dup2(r, 3); "
                   "os.dup2(w, 4); os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])")

    def __init__(self, binary: str, profile: Path, log: Path):
        # the browser reads commands on its fd 3 and writes answers on its fd 4; a small
        # Python puts the pipes there and becomes the browser (all pipe ends are above 9,
        # so moving one cannot clobber another)
        theirs_in, self._out = (self._high(fd) for fd in os.pipe())
        self._in, theirs_out = (self._high(fd) for fd in os.pipe())
        with open(log, "wb") as output:  # the browser's own messages, for a failure
            self.process = subprocess.Popen(
                [sys.executable, "-c", self._TRAMPOLINE, str(theirs_in), str(theirs_out),
                 binary, *self.FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                 "about:blank"],
                pass_fds=(theirs_in, theirs_out), stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT)
        os.close(theirs_in)
        os.close(theirs_out)
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._next = 0
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _high(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._in, 1 << 20):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" not in message:
                    self._on_event(message)
                with self._changed:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _on_event(self, message: dict) -> None:
        # workers (MapLibre fetches tiles in them) wait for us: watch their network, then
        # let them run
        if message["method"] == "Target.attachedToTarget":
            session = message["params"]["sessionId"]
            self.post("Network.enable", session=session)
            self.post("Runtime.enable", session=session)
            self.post("Runtime.runIfWaitingForDebugger", session=session)

    def post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        with self._lock:
            self._next += 1
            message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            os.write(self._out, json.dumps(message).encode() + b"\0")
            return self._next

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        number = self.post(method, params, session)
        deadline = time.monotonic() + timeout
        with self._changed:
            while number not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(f"Chromium did not answer {method}")
                self._changed.wait(left)
            reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def evaluate(self, expression: str, session: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def of(self, method: str) -> list[dict]:
        with self._changed:
            return [e["params"] for e in self.events if e["method"] == method]

    def close(self) -> None:
        try:
            self.post("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._out)
            self._reader.join(timeout=5)
            os.close(self._in)


def _problems(browser: Chromium) -> list[str]:
    """Script errors and console errors (a blocked load shows there), for failure messages."""
    found = [json.dumps(e["exceptionDetails"])[:500] for e in browser.of("Runtime.exceptionThrown")]
    found += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])[:500]
              for e in browser.of("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
    found += [e["entry"]["text"][:500] for e in browser.of("Log.entryAdded")
              if e["entry"]["level"] == "error"]
    return found


@pytest.fixture(scope="module")
def chromium_path():
    path = chromium_binary()
    if path is None:
        pytest.skip("no Chromium: `make test` installs it (apt-get install chromium)")
    if not (MAPLIBRE / "maplibre-gl.mjs").is_file():
        pytest.skip("MapLibre GL JS is not installed: run `make web`")
    return path


@pytest.fixture(scope="module")
def drawn(chromium_path, live_seeded, tmp_path_factory):
    """The map page as Chromium drew it: what the page reports, the requests, a screenshot."""
    folder = tmp_path_factory.mktemp("map_page")
    browser = Chromium(chromium_path, folder / "profile", folder / "chromium.log")
    started = time.monotonic()
    try:
        session = _open_page(browser, f"{live_seeded.url}/")
        seconds = time.monotonic() - started
        report = browser.evaluate("""JSON.stringify({
            ready: document.documentElement.dataset.ready || '',
            error: window.onemapError || null,
            mode: window.onemap.mode,
            rendered: window.onemap.counts ? window.onemap.counts() : null,
            palette: window.onemap.palette,
            layers: [...window.onemap.groups.keys()],
            status: document.getElementById('status').innerText,
            legend: document.getElementById('grades').innerText,
            districts: document.getElementById('district').options.length,
            labels: [...document.querySelectorAll('.district-label:not(.hidden)')]
                .map(e => e.innerText),
        })""", session)
        screenshot = folder / "map_page.png"
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        popup = _click_a_red_unit(browser, session)
        filtered = _filter_grades(browser, session, off=("yellow", "blue", "none"))
        requests = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")]
        problems = _problems(browser)
    finally:
        browser.close()
    print(f"\nmap page drawn in {seconds:.1f} s, all in {time.monotonic() - started:.1f} s;"
          f" screenshot {screenshot}")
    return {"report": json.loads(report), "requests": requests, "problems": problems,
            "screenshot": screenshot, "seconds": seconds, "popup": popup,
            "filtered": filtered}


_IDLE = "new Promise(r => onemap.map.loaded() ? r() : onemap.map.once('idle', r))"


def _open_page(browser: Chromium, url: str) -> str:
    """A tab of `url`, its workers watched, once the page says it is ready: its session."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for method in ("Network.enable", "Runtime.enable", "Log.enable", "Page.enable"):
        browser.send(method, session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        session=session)
    browser.send("Target.setAutoAttach", {"autoAttach": True, "flatten": True,
                                          "waitForDebuggerOnStart": True}, session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    deadline = time.monotonic() + READY_SECONDS
    ready = ""
    while ready not in ("true", "error") and time.monotonic() < deadline:
        time.sleep(0.25)
        ready = browser.evaluate("document.documentElement.dataset.ready || ''", session)
    return session


def _click(browser: Chromium, session: str, where: list[float]) -> None:
    """A click of the left mouse button at page coordinates `where`."""
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", {"type": kind, "x": where[0], "y": where[1],
                                                  "button": "left", "clickCount": 1},
                     session=session)


def _wait_for(browser: Chromium, session: str, expression: str, seconds: float = 20) -> Any:
    """The value of `expression` once it is truthy (or its last value after `seconds`)."""
    deadline = time.monotonic() + seconds
    value = browser.evaluate(expression, session)
    while not value and time.monotonic() < deadline:
        time.sleep(0.2)
        value = browser.evaluate(expression, session)
    return value


def _click_a_red_unit(browser: Chromium, session: str) -> str:
    """Zoom in where single risk units show, click a red one with the mouse: the popup."""
    where = browser.evaluate("""(async () => {
        const map = onemap.map;
        map.jumpTo({center: [108.95, 34.25], zoom: 14});
        await new Promise(r => map.once('idle', r));
        const box = map.getCanvas().getBoundingClientRect();
        // a red unit well inside the map, with nothing drawn over it
        for (const unit of map.queryRenderedFeatures({layers: ['risk-units-point']})) {
            if (unit.properties.grade !== 'red') continue;
            const at = map.project(unit.geometry.coordinates);
            if (at.x < 20 || at.y < 20 || at.x > box.width - 20 || at.y > box.height - 20) continue;
            const top = map.queryRenderedFeatures([[at.x - 4, at.y - 4], [at.x + 4, at.y + 4]])[0];
            if (top && top.layer.id === 'risk-units-point' && top.id === unit.id) {
                return [box.left + at.x, box.top + at.y];
            }
        }
        return null;
    })()""", session)
    if where is None:
        return "no red risk unit to click on"
    _click(browser, session, where)
    deadline = time.monotonic() + 10
    text = ""
    while "Why this grade" not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = browser.evaluate("document.querySelector('.popup')?.innerText || ''", session)
    return text


def _filter_grades(browser: Chromium, session: str, off: tuple[str, ...]) -> list[str]:
    """Untick grades in the panel (real clicks): the grades of the units still drawn."""
    for grade in off:
        browser.evaluate(f"document.getElementById('grade-{grade}').click()", session)
    return browser.evaluate(f"""(async () => {{
        await new Promise(r => setTimeout(r, 300));
        await {_IDLE};
        const drawn = onemap.map.queryRenderedFeatures({{layers: ['risk-units-point',
            'risk-units-line', 'risk-units-fill']}});
        return [...new Set(drawn.map(f => f.properties.grade))];
    }})()""", session)


def test_the_map_draws_the_services_tiles(drawn):
    report, problems = drawn["report"], drawn["problems"]
    assert report["ready"] == "true", (report, problems)
    assert report["mode"] == "tiles", report["status"]
    counts = report["rendered"]["groups"]
    assert counts.get("districts", 0) > 0, report
    assert counts.get("risk_units", 0) > 0, report  # cells at the city's zoom, or units
    assert {"red", "orange", "yellow", "blue"} <= set(report["palette"])
    assert "districts" in report["layers"] and "risk_units" in report["layers"]
    assert not problems, problems


def test_the_legend_has_the_servers_colours_and_names(drawn, live_seeded):
    report = drawn["report"]
    _, _, body = _get(f"{live_seeded.url}/styles/legend.json")
    for entry in json.loads(body):
        assert report["palette"][entry["grade"]] == entry["colour"], entry
        assert entry["name_zh"] in report["legend"] and entry["name_en"] in report["legend"]


def test_a_click_on_a_risk_unit_says_why_it_has_its_grade(drawn):
    popup = drawn["popup"]
    assert "定级依据" in popup and "Why this grade" in popup, popup
    assert "红" in popup and "red" in popup  # text_zh and text_en of grade_explanation
    assert "可能性" in popup and "likelihood" in popup


def test_the_grade_filter_hides_the_unticked_grades(drawn):
    assert drawn["filtered"] and set(drawn["filtered"]) <= {"red", "orange"}, drawn["filtered"]


def test_the_panel_shows_the_legend_counts_and_districts(drawn):
    report = drawn["report"]
    legend = report["legend"]
    for words in ("红", "重大", "橙", "较大", "黄", "一般", "蓝", "低", "Red", "Blue", "合计"):
        assert words in legend
    assert "–" not in legend, "the counts from /stats/grades are shown"
    assert report["districts"] == 14  # the whole city and the 13 districts
    assert report["labels"] and all("区" in label or "县" in label for label in report["labels"])


def test_nothing_is_loaded_from_elsewhere(drawn, live_seeded):
    requests = drawn["requests"]
    outside = [u for u in requests
               if not u.startswith(live_seeded.url + "/") and not u.startswith(("data:", "blob:"))
               and u != "about:blank"]
    assert not outside, outside
    assert any("/tiles/" in u and u.endswith(".mvt") for u in requests), \
        "vector tiles were fetched (by MapLibre's workers)"
    assert any(u.endswith("/web/maplibre-gl/maplibre-gl.mjs") for u in requests)


def test_the_screenshot_is_a_map(drawn):
    from PIL import Image

    image = Image.open(io.BytesIO(drawn["screenshot"].read_bytes())).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    map_area = image.crop((400, 0, WIDTH, HEIGHT))
    colours = map_area.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the map area is not blank"
    # the grade colours of the style are on the screen
    palette = drawn["report"]["palette"]
    for grade in ("red", "orange", "yellow", "blue"):
        wanted = _rgb(palette[grade])
        near = sum(n for n, rgb in colours if sum(abs(a - b) for a, b in zip(wanted, rgb)) < 60)
        assert near >= 20, f"no {grade} on the map"


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


def _get(url: str, accept: str | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, headers={**({"Accept": accept} if accept else {}),
                                                   **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_browsers_get_the_map_page_and_gis_clients_the_landing_json(live_seeded):
    base = live_seeded.url
    for accept in (BROWSER, "*/*", None):
        status, headers, body = _get(f"{base}/", accept)
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert 'src="web/app.js"' in body.decode() and headers["vary"] == "Accept"
        assert "default-src 'self'" in headers["content-security-policy"]
    status, headers, body = _get(f"{base}/", "application/json")
    assert headers["content-type"] == "application/json" and json.loads(body)["links"]
    status, headers, body = _get(f"{base}/?f=json", BROWSER)
    assert headers["content-type"] == "application/json"
    status, headers, body = _get(f"{base}/?f=html", BROWSER)  # the collection list
    assert status == 200 and "/collections/risk_units" in body.decode()
    assert "<script" not in body.decode()
    status, _, body = _get(f"{base}/map", "application/json")
    assert status == 200 and b"web/app.js" in body


def test_the_page_and_its_files_name_nothing_elsewhere(live_seeded):
    base = live_seeded.url
    page = _get(f"{base}/map")[2].decode()
    for path in ("web/app.js", "web/shelters.js", "web/style.css"):
        status, _, body = _get(f"{base}/{path}")
        assert status == 200
        text = body.decode()
        assert "http://" not in text and "https://" not in text.replace("https://github.com", "")
    assert "http" not in page.replace("http-equiv", "")


def test_maplibre_is_served_as_modules_with_etags(live_seeded):
    base = live_seeded.url
    status, headers, body = _get(f"{base}/web/maplibre-gl/maplibre-gl.mjs")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert len(body) > 100_000
    assert _get(f"{base}/web/maplibre-gl/maplibre-gl-worker.mjs?v=1")[0] == 200
    assert _get(f"{base}/web/maplibre-gl/maplibre-gl.css")[1]["content-type"].startswith(
        "text/css")
    again = _get(f"{base}/web/maplibre-gl/maplibre-gl.mjs",
                 headers={"If-None-Match": headers["etag"]})
    assert again[0] == 304
    for path in ("/web/maplibre-gl/package.json", "/web/..%2Fpyproject.toml",
                 "/web/index.html", "/web/maplibre-gl/..%2F..%2Fpackage.json"):
        assert _get(f"{base}{path}")[0] == 404, path


# --- the planners' view: shelter area per resident, shelter gaps, proposals -----------------

PROVISION = "shelter_provision"
PROVISION_SOURCES = ("shelter_provision_districts", "shelter_provision_subdistricts")


@pytest.fixture(scope="module")
def live_with_gaps(module_scratch_url, live_server):
    """The app on a copy of the seeded database whose shelter gaps have been built."""
    with psycopg.connect(module_scratch_url) as conn:
        refresh_if_stale(conn)
    with live_server(module_scratch_url) as server:
        yield server


def _toggle(browser: Chromium, session: str, layer: str) -> bool:
    """Tick or untick a layer in the panel (a real click on its box): whether it is on."""
    return browser.evaluate(f"""(() => {{
        const box = document.querySelector('#layers li[data-layer="{layer}"] input');
        box.click();
        return box.checked;
    }})()""", session)


# (in an async function) a frame drawn after the last move, and every tile it needs loaded
_SETTLED = ("await new Promise(r => onemap.map.isMoving() ? onemap.map.once('moveend', r) : r()); "
            "await new Promise(r => { onemap.map.once('idle', r); onemap.map.triggerRepaint(); });")


def _failing_district_centre(browser: Chromium, session: str, codes: dict) -> dict | None:
    """Zoom to each failing district (district level, below zoom 10) until its centre shows
    the choropleth on top: where to click, the district's code and name."""
    failing = [code for code, d in sorted(codes.items()) if d["meets"] is False]
    return browser.evaluate(f"""(async () => {{
        const map = onemap.map;
        const layers = [...onemap.groups.values()].flatMap(g => g.layers)
            .filter(id => map.getLayer(id) && map.getLayer(id).type !== 'raster');
        const base = new Set(['districts-fill', 'districts-line', 'subdistricts-line']);
        const box = map.getCanvas().getBoundingClientRect();
        for (const code of {json.dumps(failing)}) {{
            const d = onemap.districts.find(x => x.code === code);
            map.fitBounds([[d.bbox[0], d.bbox[1]], [d.bbox[2], d.bbox[3]]],
                          {{padding: 150, duration: 0, maxZoom: 9.6}});
            {_SETTLED}
            const centre = map.project(d.label);
            const tries = [centre];
            for (let r = 6; r <= 60; r += 6) {{
                for (const [dx, dy] of [[r, 0], [-r, 0], [0, r], [0, -r]]) {{
                    tries.push({{x: centre.x + dx, y: centre.y + dy}});
                }}
            }}
            for (const at of tries) {{
                const near = [[at.x - 4, at.y - 4], [at.x + 4, at.y + 4]];
                const found = map.queryRenderedFeatures(near, {{layers}});
                const top = found.find(f => !base.has(f.layer.id));
                if (top && top.layer.id === 'shelter-provision-districts'
                        && top.properties.code === code) {{
                    return {{x: box.left + at.x, y: box.top + at.y, code, name: top.properties.name,
                             offset: Math.hypot(at.x - centre.x, at.y - centre.y)}};
                }}
            }}
        }}
        return null;
    }})()""", session)


def _shot(browser: Chromium, session: str, path: Path) -> Path:
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.fixture(scope="module")
def planners(chromium_path, live_with_gaps, tmp_path_factory):
    """The planners' view as Chromium drew it: the choropleth switched on (data, legend,
    what was rendered), a click on a failing district, its proposals, the shelter gaps."""
    folder = tmp_path_factory.mktemp("planners")
    browser = Chromium(chromium_path, folder / "profile", folder / "chromium.log")
    out: dict[str, Any] = {"screenshots": {}}
    try:
        session = _open_page(browser, f"{live_with_gaps.url}/")
        out["ready"] = browser.evaluate("document.documentElement.dataset.ready || ''", session)
        out["panel"] = browser.evaluate("""JSON.stringify(Object.fromEntries(
            [...document.querySelectorAll('#layers li[data-layer]')].map(li => [li.dataset.layer,
                {text: li.innerText, on: li.querySelector('input').checked}])))""", session)
        out["fetched_before"] = [e["request"]["url"]
                                 for e in browser.of("Network.requestWillBeSent")
                                 if "/analysis/shelters" in e["request"]["url"]]
        out["on"] = _toggle(browser, session, PROVISION)
        out["loaded"] = _wait_for(browser, session, f"""{json.dumps(list(PROVISION_SOURCES))}
            .every(id => onemap.data[id] && onemap.map.isSourceLoaded(id))""", seconds=60)
        out["choropleth"] = browser.evaluate(f"""(async () => {{
            const map = onemap.map;
            {_SETTLED}
            const codes = {{}};
            const drawn = map.queryRenderedFeatures({{layers: ['shelter-provision-districts']}});
            for (const {{properties: p}} of drawn) {{
                codes[p.code] = {{name: p.name, meets: p.meets_standard, standard: p.standard_m2}};
            }}
            const data = {{}};
            for (const id of {json.dumps(list(PROVISION_SOURCES))}) {{
                data[id] = (await map.getSource(id).getData()).features.length;
            }}
            const item = document.querySelector('#layers li[data-layer="{PROVISION}"]');
            return {{codes, data, zoom: map.getZoom(), legend: item.innerText,
                     visibility: map.getLayoutProperty('shelter-provision-districts',
                                                       'visibility')}};
        }})()""", session)
        # a planner's view: the risk layers off; then a click on a failing district
        for layer in ("risk_units", "monitoring_points"):
            _toggle(browser, session, layer)
        browser.evaluate(f"(async () => {{ {_SETTLED} }})()", session)
        out["screenshots"]["city"] = _shot(browser, session, folder / "planners_city.png")
        where = _failing_district_centre(browser, session, out["choropleth"]["codes"])
        out["clicked"] = where
        if where:
            _click(browser, session, [where["x"], where["y"]])
            out["popup"] = _wait_for(browser, session, "(() => { const p = "
                                     "document.querySelector('.popup.provision'); "
                                     "return p && p.innerText.includes('1.5') ? p.innerText : ''; "
                                     "})()", seconds=10)
            browser.evaluate("document.querySelector('.popup button.suggest')?.click()", session)
            _wait_for(browser, session, "document.querySelectorAll('.popup .proposals li').length"
                      " || /失败/.test(document.querySelector('.popup .proposals')?.innerText)",
                      seconds=60)
            out["proposals"] = browser.evaluate(f"""(async () => {{ {_SETTLED} return {{
                features: (await onemap.map.getSource('onemap-proposals')?.getData())?.features
                    .map(f => f.properties) ?? [],
                numbers: [...document.querySelectorAll('.proposal-number')].map(n => n.innerText),
                text: document.querySelector('.popup .proposals').innerText,
            }}; }})()""", session)
            out["screenshots"]["district"] = _shot(browser, session,
                                                   folder / "planners_district.png")
        # the gaps and the shelters by class, in the old core where sub-districts are shown
        browser.evaluate("onemap.popup?.remove()", session)
        out["gaps_on"] = _toggle(browser, session, "shelter_gaps")
        out["drawn"] = browser.evaluate(f"""(async () => {{
            const map = onemap.map;
            map.jumpTo({{center: [108.95, 34.265], zoom: 11.3}});
            {_SETTLED}
            const count = (layer) => map.queryRenderedFeatures({{layers: [layer]}}).length;
            const item = document.querySelector('#layers li[data-layer="shelter_gaps"]');
            return {{gaps: count('shelter-gaps-fill'),
                     subdistricts: count('shelter-provision-subdistricts'),
                     districts: count('shelter-provision-districts'),
                     shelters: [...new Set(map.queryRenderedFeatures({{layers: ['shelters']}})
                         .map(f => f.properties.class))],
                     gap_legend: item.innerText}};
        }})()""", session)
        out["screenshots"]["gaps"] = _shot(browser, session, folder / "planners_gaps.png")
        out["gap_requests"] = len({e["requestId"] for e in browser.of("Network.requestWillBeSent")
                                   if "/tiles/shelter_gaps/" in e["request"]["url"]})
        out["gap_tiles"] = [e["response"]["status"] for e in browser.of("Network.responseReceived")
                            if "/tiles/shelter_gaps/" in e["response"]["url"]]
        out["problems"] = _problems(browser)
    finally:
        browser.close()
    out["panel"] = json.loads(out["panel"])
    print(f"\nplanners' view screenshots: {', '.join(map(str, out['screenshots'].values()))}")
    return out


def test_the_planners_layers_are_in_the_panel_off_until_shown(planners):
    panel = planners["panel"]
    assert planners["ready"] == "true", planners.get("problems")
    for layer, words in ((PROVISION, ("人均避难面积", "Shelter area per resident")),
                         ("shelter_gaps", ("避难覆盖缺口",)), ("shelters", ("应急避难场所",))):
        assert all(w in panel[layer]["text"] for w in words), panel[layer]
    assert not panel[PROVISION]["on"] and not panel["shelter_gaps"]["on"]
    assert panel["shelters"]["on"]
    assert planners["fetched_before"] == [], "the analysis is fetched only when shown"


def test_the_choropleth_shows_every_district_some_below_the_standard(planners):
    assert planners["on"] and planners["loaded"], planners.get("problems")
    choropleth = planners["choropleth"]
    assert choropleth["visibility"] == "visible"
    assert choropleth["data"] == {"shelter_provision_districts": 13,
                                  "shelter_provision_subdistricts": 204}
    codes = choropleth["codes"]
    assert len(codes) == 13, codes  # all drawn at the city's zoom
    assert any(d["meets"] is False for d in codes.values())
    assert any(d["meets"] is True for d in codes.values())
    assert {d["standard"] for d in codes.values()} == {1.5}
    legend = choropleth["legend"]
    for words in ("未达标", "达标", "below the standard", "1.5", "< 0.75", "≥ 3"):
        assert words in legend, legend


def test_a_click_on_a_failing_district_shows_its_figures_against_the_standard(planners):
    assert planners["clicked"], "a failing district's centre shows the choropleth"
    popup = planners["popup"]
    assert planners["clicked"]["name"] in popup and "1.5" in popup, popup
    for words in ("未达标", "常住人口", "Residents", "人均避难面积", "面积缺口", "Deficit",
                  "步行范围覆盖", "Walking coverage", "%", "m²", "建议新址"):
        assert words in popup, (words, popup)
    assert any("," in line for line in popup.splitlines())  # thousands separators


def test_suggested_sites_are_numbered_markers_with_their_gain(planners):
    proposals = planners.get("proposals")
    assert proposals, planners["clicked"]
    features = proposals["features"]
    assert [f["rank"] for f in features] == list(range(1, len(features) + 1))
    assert 1 <= len(features) <= 5 and all(f["gain"] > 0 for f in features)
    assert proposals["numbers"] == [str(f["rank"]) for f in features]
    assert f"{features[0]['gain']:,}" in proposals["text"]


def test_the_shelter_gaps_toggle_and_draw_from_their_tiles(planners):
    assert planners["gaps_on"]
    assert planners["gap_requests"] > 0 and planners["gap_tiles"], planners["gap_tiles"]
    assert set(planners["gap_tiles"]) <= {200, 204} and 200 in planners["gap_tiles"]
    drawn = planners["drawn"]
    assert drawn["gaps"] > 0, drawn
    assert "人/平方千米" in drawn["gap_legend"] or "per km²" in drawn["gap_legend"]
    # from zoom 10 the choropleth is by sub-district; the shelters are drawn by class
    assert drawn["subdistricts"] > 0 and drawn["districts"] == 0, drawn
    assert {"emergency", "fixed"} <= set(drawn["shelters"]), drawn
    assert not planners["problems"], planners["problems"]


def test_the_planners_screenshot_shows_pass_and_fail_colours(planners):
    from PIL import Image

    image = Image.open(planners["screenshots"]["city"]).convert("RGB")
    colours = image.crop((400, 0, WIDTH, HEIGHT)).getcolors(maxcolors=1 << 20)

    def near(colour: str) -> int:  # the colour at the choropleth's opacity over the base map
        wanted = [PROVISION_OPACITY * c + (1 - PROVISION_OPACITY) * b
                  for c, b in zip(_rgb(colour), _rgb(DISTRICT_FILL))]
        return sum(n for n, rgb in colours if sum(abs(x - y) for x, y in zip(wanted, rgb)) < 30)

    # the old core fails (a few hundred pixels at the city's zoom), the rest of the city passes
    shown = {meets: sum(near(b.colour) for b in SHELTER_PROVISION if b.meets == meets)
             for meets in (False, True)}
    assert shown[False] > 150 and shown[True] > 50_000, shown
