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
import io
import json
import time

import pytest
from browser import (
    BROWSER,
    HEIGHT,
    WIDTH,
    Chromium,
    click,
    http_get,
    open_page,
    problems,
    rgb,
)


@pytest.fixture(scope="module")
def drawn(chromium_path, live_seeded, tmp_path_factory):
    """The map page as Chromium drew it: what the page reports, the requests, a screenshot."""
    folder = tmp_path_factory.mktemp("map_page")
    browser = Chromium(chromium_path, folder / "profile", folder / "chromium.log")
    started = time.monotonic()
    try:
        session = open_page(browser, f"{live_seeded.url}/")
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
        image = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        screenshot.write_bytes(base64.b64decode(image["data"]))
        popup = _click_a_red_unit(browser, session)
        filtered = _filter_grades(browser, session, off=("yellow", "blue", "none"))
        requests = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")]
        found = problems(browser)
    finally:
        browser.close()
    print(f"\nmap page drawn in {seconds:.1f} s, all in {time.monotonic() - started:.1f} s;"
          f" screenshot {screenshot}")
    return {"report": json.loads(report), "requests": requests, "problems": found,
            "screenshot": screenshot, "seconds": seconds, "popup": popup,
            "filtered": filtered}


_IDLE = "new Promise(r => onemap.map.loaded() ? r() : onemap.map.once('idle', r))"


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
    click(browser, session, where)
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
    _, _, body = http_get(f"{live_seeded.url}/styles/legend.json")
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
        wanted = rgb(palette[grade])
        near = sum(n for n, rgb in colours if sum(abs(a - b) for a, b in zip(wanted, rgb)) < 60)
        assert near >= 20, f"no {grade} on the map"


def test_browsers_get_the_map_page_and_gis_clients_the_landing_json(live_seeded):
    base = live_seeded.url
    for accept in (BROWSER, "*/*", None):
        status, headers, body = http_get(f"{base}/", accept)
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert 'src="web/app.js"' in body.decode() and headers["vary"] == "Accept"
        assert "default-src 'self'" in headers["content-security-policy"]
    status, headers, body = http_get(f"{base}/", "application/json")
    assert headers["content-type"] == "application/json" and json.loads(body)["links"]
    status, headers, body = http_get(f"{base}/?f=json", BROWSER)
    assert headers["content-type"] == "application/json"
    status, headers, body = http_get(f"{base}/?f=html", BROWSER)  # the collection list
    assert status == 200 and "/collections/risk_units" in body.decode()
    assert "<script" not in body.decode()
    status, _, body = http_get(f"{base}/map", "application/json")
    assert status == 200 and b"web/app.js" in body


def test_the_page_and_its_files_name_nothing_elsewhere(live_seeded):
    base = live_seeded.url
    page = http_get(f"{base}/map")[2].decode()
    for path in ("web/app.js", "web/shelters.js", "web/situation.js", "web/style.css"):
        status, _, body = http_get(f"{base}/{path}")
        assert status == 200
        text = body.decode()
        assert "http://" not in text and "https://" not in text.replace("https://github.com", "")
    assert "http" not in page.replace("http-equiv", "")


def test_maplibre_is_served_as_modules_with_etags(live_seeded):
    base = live_seeded.url
    status, headers, body = http_get(f"{base}/web/maplibre-gl/maplibre-gl.mjs")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert len(body) > 100_000
    assert http_get(f"{base}/web/maplibre-gl/maplibre-gl-worker.mjs?v=1")[0] == 200
    assert http_get(f"{base}/web/maplibre-gl/maplibre-gl.css")[1]["content-type"].startswith(
        "text/css")
    again = http_get(f"{base}/web/maplibre-gl/maplibre-gl.mjs",
                 headers={"If-None-Match": headers["etag"]})
    assert again[0] == 304
    for path in ("/web/maplibre-gl/package.json", "/web/..%2Fpyproject.toml",
                 "/web/index.html", "/web/maplibre-gl/..%2F..%2Fpackage.json"):
        assert http_get(f"{base}{path}")[0] == 404, path
