"""The commander's situation tool on the map page in Chromium, and its printable brief."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from browser import (
    HEIGHT,
    SETTLED,
    WIDTH,
    Chromium,
    click,
    http_get,
    open_page,
    problems,
    rgb,
    shot,
    wait_for,
)

# --- the commander's situation tool ---------------------------------------------------------

SITUATION_AT = (108.95, 34.26)  # the old core: units, points, shelters and help all around


@pytest.fixture(scope="module")
def situation_view(chromium_path, live_seeded, tmp_path_factory):
    """The situation tool as Chromium drew it: switched on, a 1 km circle picked with the
    mouse, the side panel and the circle on the map; then the printable brief it links to,
    rendered for print (A4 at 96 dpi)."""
    folder = tmp_path_factory.mktemp("situation")
    browser = Chromium(chromium_path, folder / "profile", folder / "chromium.log")
    out: dict[str, Any] = {"screenshots": {}}
    try:
        session = open_page(browser, f"{live_seeded.url}/")
        out["ready"] = browser.evaluate("document.documentElement.dataset.ready || ''", session)
        out["on"] = browser.evaluate("""(() => {
            document.getElementById('situation-radius').value = '1000';
            document.getElementById('situation-radius').dispatchEvent(new Event('change'));
            document.getElementById('situation-toggle').click();
            return document.getElementById('situation-toggle').getAttribute('aria-pressed');
        })()""", session)
        where = browser.evaluate(f"""(async () => {{
            onemap.map.jumpTo({{center: {list(SITUATION_AT)}, zoom: 13}});
            {SETTLED}
            const box = onemap.map.getCanvas().getBoundingClientRect();
            const at = onemap.map.project({list(SITUATION_AT)});
            return [box.left + at.x, box.top + at.y];
        }})()""", session)
        click(browser, session, where)
        out["answered"] = wait_for(browser, session, "onemap.situation.answer !== null "
                                    "|| onemap.situation.error !== null", seconds=30)
        out["drawn"] = browser.evaluate(f"""(async () => {{
            {SETTLED}
            const map = onemap.map;
            const panel = document.getElementById('situation-panel');
            const data = await map.getSource('onemap-situation').getData();
            return {{
                answer: onemap.situation.answer, error: onemap.situation.error,
                panel: panel.hidden ? '' : panel.innerText,
                link: panel.querySelector('a.print')?.getAttribute('href') ?? null,
                kinds: data.features.map(f => f.properties.kind),
                rings: map.queryRenderedFeatures({{layers: ['onemap-situation-rings']}}).length,
                numbers: document.querySelectorAll('#map .situation-number').length,
                popup: document.querySelector('.maplibregl-popup') !== null,
            }};
        }})()""", session)
        out["screenshots"]["page"] = shot(browser, session, folder / "situation_page.png")
        out["requests"] = [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")
                           if "/analysis/situation" in e["request"]["url"]]
        browser.evaluate("document.getElementById('situation-toggle').click()", session)
        out["off"] = browser.evaluate("""({
            hidden: document.getElementById('situation-panel').hidden,
            numbers: document.querySelectorAll('#map .situation-number').length})""", session)
        out["problems"] = problems(browser)
        link = out["drawn"]["link"]
        if link:  # the printable brief, as a print preview
            brief = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            tab = browser.send("Target.attachToTarget", {"targetId": brief,
                                                         "flatten": True})["sessionId"]
            browser.send("Page.enable", session=tab)
            browser.send("Emulation.setDeviceMetricsOverride", {
                "width": 794, "height": 1123, "deviceScaleFactor": 1, "mobile": False},
                session=tab)
            browser.send("Emulation.setEmulatedMedia", {"media": "print"}, session=tab)
            browser.send("Page.navigate", {"url": f"{live_seeded.url}/{link}"}, session=tab)
            out["brief"] = wait_for(browser, session=tab, seconds=30, expression=(
                "document.readyState === 'complete' && document.querySelector('svg') ? "
                "JSON.stringify({text: document.body.innerText, height: "
                "document.documentElement.scrollHeight}) : ''"))
            out["screenshots"]["brief"] = shot(browser, tab, folder / "situation_brief.png")
            pdf = browser.send("Page.printToPDF", {"preferCSSPageSize": True,
                                                   "printBackground": True}, session=tab)
            out["pdf_pages"] = len(re.findall(rb"/Type\s*/Page(?!s)\b",
                                              base64.b64decode(pdf["data"])))
    finally:
        browser.close()
    print(f"\nsituation screenshots: {', '.join(map(str, out['screenshots'].values()))}")
    return out


def test_the_situation_tool_shows_the_brief_and_draws_the_circle(situation_view, live_seeded):
    view = situation_view
    assert view["ready"] == "true" and view["on"] == "true", view.get("problems")
    assert view["answered"], view.get("problems")
    drawn = view["drawn"]
    assert drawn["error"] is None, drawn["error"]
    answer = drawn["answer"]
    assert answer["radius_m"] == 1000
    assert answer["centre"]["lon"] == pytest.approx(SITUATION_AT[0], abs=1e-4)
    # what the panel says is what the API answers for that point
    query = f"lon={answer['centre']['lon']}&lat={answer['centre']['lat']}&radius_m=1000"
    _, _, body = http_get(f"{live_seeded.url}/analysis/situation?{query}")
    again = json.loads(body)
    assert again["risk_units"] == answer["risk_units"]
    panel = drawn["panel"]
    for words in ("态势", "Situation", "风险单元", "人口", "最近应急力量", "Nearest help",
                  f"{again['population']['total']:,}", f"{again['risk_units']['total']:,}",
                  "避难场所"):
        assert words in panel, (words, panel)
    assert drawn["link"].endswith("&format=html") and "radius_m=1000" in drawn["link"]
    # the circle, its rings and the point on the map; the help numbered
    assert drawn["kinds"].count("ring") == len(answer["population"]["rings"]) - 1
    assert {"circle", "area", "centre"} <= set(drawn["kinds"]) and drawn["rings"] > 0
    assert drawn["numbers"] == sum(len(h) for h in answer["nearest"].values()) > 0
    assert not drawn["popup"], "the click went to the tool, not to a feature's popup"
    assert view["requests"] and all("radius_m=1000" in u for u in view["requests"])
    assert view["off"] == {"hidden": True, "numbers": 0}
    assert not view["problems"], view["problems"]


def test_the_situation_screenshot_shows_the_circle(situation_view):
    from PIL import Image

    image = Image.open(situation_view["screenshots"]["page"]).convert("RGB")
    colours = image.crop((400, 0, WIDTH, HEIGHT)).getcolors(maxcolors=1 << 20)
    slate = rgb("#263238")
    near = sum(n for n, colour in colours if sum(abs(a - b) for a, b in zip(slate, colour)) < 40)
    assert near > 500, "the circle's outline is drawn"


def test_the_situation_brief_prints_on_one_a4_page(situation_view):
    brief = json.loads(situation_view["brief"])
    for words in ("事发点周边态势简报", "Situation around the incident", "风险单元",
                  "人口（按圈层）", "最近应急力量", "避难场所"):
        assert words in brief["text"], words
    assert situation_view["pdf_pages"] == 1, situation_view["pdf_pages"]
