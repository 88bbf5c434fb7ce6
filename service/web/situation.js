// 态势 Situation: the commander's tool of the map page.
//
// Switched on in the panel, a click on the map asks GET /analysis/situation for the circle
// around the point (radius from the panel's selector), shows the brief in a side panel,
// draws the circle and its rings (a GeoJSON source) and numbers the nearest help on the map
// (HTML markers: there is no glyph server for text layers). The panel links to the
// printable brief (`format=html`). app.js calls `situation.start()` once the map has loaded
// and gives it every map click first (`situation.click(event)`: true when it took it).
//
// For tests: `onemap.situation` holds the last answer and its state.

import {bilingual, escapeHTML, getJSON, numberText, page, say} from "./app.js";

const SOURCE = "onemap-situation";
const CIRCLE_COLOUR = "#263238";  // dark slate: not a grade's colour
const RESOURCE_COLOUR = "#7B4FD0";  // as the resources of the map style (layers/style.py)
const GRADES = ["red", "orange", "yellow", "blue"];
const TYPE_NAMES = {
  fire_station: ["消防站", "Fire station"], rescue_team: ["救援队伍", "Rescue team"],
  medical: ["医疗点", "Medical point"], storage: ["物资储备点", "Storage point"],
  broadcast: ["应急广播", "Broadcast"], supply_enterprise: ["保供企业", "Supply enterprise"],
};
const STATE_NAMES = {open: ["未处理", "open"], acknowledged: ["已确认", "acknowledged"]};

const $ = (selector) => document.querySelector(selector);
const state = {on: false, answer: null, at: null, radius: 1000, markers: [], asked: 0,
  error: null};

// --- the circle on the map -------------------------------------------------------------------

// A circle of `radius` metres as a ring of lon/lat, with the WGS 84 ellipsoid's radii of
// curvature at the centre (a few km: well within a metre of the geodesic circle).
function circle(lon, lat, radius, steps = 120) {
  const a = 6378137;
  const e2 = 0.00669437999014;
  const phi = (lat * Math.PI) / 180;
  const w = Math.sqrt(1 - e2 * Math.sin(phi) ** 2);
  const perDegLat = (Math.PI / 180) * (a * (1 - e2)) / w ** 3;
  const perDegLon = (Math.PI / 180) * (a / w) * Math.cos(phi);
  const ring = [];
  for (let i = 0; i <= steps; i++) {
    const t = (2 * Math.PI * i) / steps;
    ring.push([lon + (radius * Math.sin(t)) / perDegLon, lat + (radius * Math.cos(t)) / perDegLat]);
  }
  return ring;
}

function ringEdges(answer) {
  const rings = answer.population?.rings;
  return rings?.length ? rings.map((r) => r.to_m) : [answer.radius_m];
}

function shapes(answer) {
  const {lon, lat} = answer.centre;
  const edges = ringEdges(answer);
  const features = edges.map((edge) => ({
    type: "Feature", properties: {kind: edge === answer.radius_m ? "circle" : "ring", edge},
    geometry: {type: "LineString", coordinates: circle(lon, lat, edge)}}));
  features.push({type: "Feature", properties: {kind: "area"},
    geometry: {type: "Polygon", coordinates: [circle(lon, lat, answer.radius_m)]}});
  features.push({type: "Feature", properties: {kind: "centre"},
    geometry: {type: "Point", coordinates: [lon, lat]}});
  return {type: "FeatureCollection", features};
}

function addLayers() {
  const map = page.map;
  map.addSource(SOURCE, {type: "geojson", data: {type: "FeatureCollection", features: []}});
  map.addLayer({id: `${SOURCE}-area`, type: "fill", source: SOURCE,
    filter: ["==", ["get", "kind"], "area"],
    paint: {"fill-color": CIRCLE_COLOUR, "fill-opacity": 0.06}});
  map.addLayer({id: `${SOURCE}-rings`, type: "line", source: SOURCE,
    filter: ["in", ["get", "kind"], ["literal", ["ring", "circle"]]],
    paint: {"line-color": CIRCLE_COLOUR,
      "line-width": ["case", ["==", ["get", "kind"], "circle"], 2.5, 1.2],
      "line-dasharray": ["case", ["==", ["get", "kind"], "circle"], ["literal", [1, 0]],
        ["literal", [4, 3]]]}});
  map.addLayer({id: `${SOURCE}-centre`, type: "circle", source: SOURCE,
    filter: ["==", ["get", "kind"], "centre"],
    paint: {"circle-radius": 6, "circle-color": "#FFFFFF", "circle-stroke-width": 3,
      "circle-stroke-color": CIRCLE_COLOUR}});
}

function clearMarkers() {
  for (const marker of state.markers) marker.remove();
  state.markers = [];
}

// The nearest help, numbered as in the panel and the printable brief.
function numbered(answer) {
  let n = 0;
  return Object.entries(answer.nearest ?? {}).flatMap(([type, items]) =>
    items.map((item) => ({n: ++n, type, item})));
}

function drawAnswer(answer) {
  page.map.getSource(SOURCE)?.setData(shapes(answer));
  clearMarkers();
  state.markers = numbered(answer).map(({n, type, item}) => {
    const node = document.createElement("div");
    node.className = "situation-number";
    node.style.background = RESOURCE_COLOUR;
    node.textContent = String(n);
    const names = TYPE_NAMES[type] ?? [type, type];
    node.title = `${names[0]} ${names[1]}: ${item.name}`;
    return new page.maplibregl.Marker({element: node, anchor: "center"})
      .setLngLat([item.lon, item.lat]).addTo(page.map);
  });
  const ring = circle(answer.centre.lon, answer.centre.lat, answer.radius_m, 16);
  const xs = ring.map((c) => c[0]);
  const ys = ring.map((c) => c[1]);
  const panel = $("#situation-panel");
  page.map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]],
    {padding: {top: 40, bottom: 40, left: 40, right: 40 + (panel?.offsetWidth ?? 0)},
      maxZoom: 16, duration: 500});
}

// --- the side panel --------------------------------------------------------------------------

function metres(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} km` : `${Math.round(value)} m`;
}

function swatch(grade) {
  const colour = page.palette[grade] ?? "#7D8A96";
  return `<span class="swatch" style="background:${escapeHTML(colour)}"></span>`;
}

// The grade's names from the style's legend (layers/style.py), as the panel's legend has them.
function gradeNames(grade) {
  const entry = (page.style?.metadata?.["onemap:legend"] ?? []).find((e) => e.grade === grade);
  return entry ? [`${entry.name_zh} ${entry.level_zh}`, entry.name_en] : [grade, grade];
}

function listed(list, rows, empty) {
  if (!list.count) return `<p class="none">${bilingual(empty)}</p>`;
  const left = list.count - list.items.length;
  const more = left > 0 ? `<p class="more">另有 ${numberText(left)} 项 · more in the brief</p>` : "";
  return `<table>${list.items.map(rows).join("")}</table>${more}`;
}

function briefURL(answer) {
  const {lon, lat} = answer.centre;
  return `analysis/situation?lon=${lon}&lat=${lat}&radius_m=${answer.radius_m}&format=html`;
}

function panelHTML(a) {
  const units = a.risk_units;
  const alarms = a.monitoring_points.open_alarms;
  const dangers = a.hidden_dangers;
  const gradeRows = GRADES.map((g) => `<tr><th>${swatch(g)}${bilingual(gradeNames(g))}</th>`
    + `<td class="num">${numberText(units.by_grade[g])}</td>`
    + `<td class="num">${numberText(alarms.by_grade[g])}</td></tr>`).join("");
  const rings = a.population ? `<table class="rings">${a.population.rings.map((r) =>
    `<tr><th>${metres(r.from_m)} – ${metres(r.to_m)}</th><td class="num">`
    + `${numberText(r.residents)}</td><td class="num">${numberText(r.cumulative)}</td></tr>`)
    .join("")}</table>` : `<p class="none">${bilingual(["无人口数据", "No population surface"])}</p>`;
  const shelters = a.shelters;
  const help = numbered(a).map(({n, type, item}) => `<tr><td><span class="situation-number"`
    + ` style="background:${RESOURCE_COLOUR}">${n}</span></td><td>${bilingual(TYPE_NAMES[type]
      ?? [type, type])}<br>${escapeHTML(item.name)}</td><td class="num">${metres(item.distance_m)}`
    + `<br>${(item.eta_s / 60).toFixed(1)} min</td></tr>`).join("");
  const place = [a.district?.name, a.subdistrict?.name].filter(Boolean).join(" · ");
  return `<header><h2>${bilingual(["态势", "Situation"])}</h2>`
    + `<button type="button" class="close" title="关闭 · Close">×</button></header>`
    + `<p class="place">${escapeHTML(place)}<br><span class="en">${a.centre.lon.toFixed(5)}°E, `
    + `${a.centre.lat.toFixed(5)}°N · ${bilingual(["半径", "radius"])} ${metres(a.radius_m)}`
    + `</span></p>`
    + `<p><a class="print" href="${escapeHTML(briefURL(a))}" target="_blank" rel="noopener">`
    + `${bilingual(["打开可打印简报", "Printable brief"])}</a></p>`
    + `<h3>${bilingual(["风险单元与预警", "Risk units, open alarms"])}</h3>`
    + `<table class="grades-in"><tr><th></th><th class="num">${bilingual(["单元", "Units"])}</th>`
    + `<th class="num">${bilingual(["预警", "Alarms"])}</th></tr>${gradeRows}`
    + `<tr><th>${bilingual(["合计", "Total"])}</th><td class="num">${numberText(units.total)}</td>`
    + `<td class="num">${numberText(alarms.count)}</td></tr></table>`
    + `<p class="facts">${bilingual(["监测点", "Monitoring points"])} `
    + `<b>${numberText(a.monitoring_points.total)}</b> · ${bilingual(["未整改隐患", "open dangers"])}`
    + ` <b>${numberText(dangers.open)}</b> (${bilingual(["重大", "major"])} `
    + `<b>${numberText(dangers.by_level.major)}</b>)</p>`
    + `<h3>${bilingual(["人口（按圈层）", "Residents by ring"])}</h3>${rings}`
    + `<h3>${bilingual(["红色风险单元", "Red units"])}</h3>`
    + listed(units.red, (u) => `<tr><td>${escapeHTML(u.name)}</td><td class="num">`
      + `${metres(u.distance_m)}</td></tr>`, ["无", "none"])
    + `<h3>${bilingual(["未关闭预警", "Open alarms"])}</h3>`
    + listed(alarms, (x) => `<tr><td>${swatch(x.grade)}${escapeHTML(x.point_code)} `
      + `${escapeHTML(x.kind_name ?? x.kind)}<br><span class="en">`
      + `${bilingual(STATE_NAMES[x.state] ?? [x.state, x.state])} `
      + `${escapeHTML(String(x.raised_at).slice(0, 16).replace("T", " "))}</span></td>`
      + `<td class="num">${metres(x.distance_m)}</td></tr>`, ["无", "none"])
    + `<h3>${bilingual(["未整改重大隐患", "Open major dangers"])}</h3>`
    + listed(dangers.major, (d) => `<tr><td>${escapeHTML(d.title)}</td><td class="num">`
      + `${metres(d.distance_m)}</td></tr>`, ["无", "none"])
    + `<h3>${bilingual(["避难场所", "Shelters"])}</h3>`
    + `<p class="facts">${numberText(shelters.count)} ${bilingual(["处", "shelters"])} · `
    + `${bilingual(["剩余位置", "places left"])} <b>${numberText(shelters.remaining ?? "–")}</b>`
    + ` / ${numberText(shelters.capacity ?? "–")}</p>`
    + listed({count: shelters.count, items: shelters.items.slice(0, 5)}, (s) =>
      `<tr><td>${escapeHTML(s.name)}</td><td class="num">${numberText(s.remaining ?? "–")}`
      + `</td><td class="num">${metres(s.distance_m)}</td></tr>`, ["圈内无避难场所", "none"])
    + `<p class="note">${bilingual(["剩余 = 容量 − 步行范围内已分配居民",
      "left = capacity − residents of its walking area already given a place"])}</p>`
    + `<h3>${bilingual(["最近应急力量", "Nearest help"])}</h3><table>${help}</table>`;
}

function showPanel(html) {
  const panel = $("#situation-panel");
  panel.innerHTML = html;
  panel.hidden = false;
  panel.querySelector("button.close")?.addEventListener("click", clear);
}

function clear() {
  state.answer = null;
  state.at = null;
  $("#situation-panel").hidden = true;
  clearMarkers();
  page.map.getSource(SOURCE)?.setData({type: "FeatureCollection", features: []});
}

async function ask(lngLat) {
  const asked = ++state.asked;  // a later click wins over an answer still on its way
  state.at = lngLat;
  state.error = null;
  showPanel(`<header><h2>${bilingual(["态势", "Situation"])}</h2></header>`
    + `<p>${bilingual(["正在查询…", "Loading…"])}</p>`);
  const query = `analysis/situation?lon=${lngLat.lng.toFixed(6)}&lat=${lngLat.lat.toFixed(6)}`
    + `&radius_m=${state.radius}`;
  try {
    const answer = await getJSON(query);
    if (asked !== state.asked) return;
    state.answer = answer;
    showPanel(panelHTML(answer));
    drawAnswer(answer);
  } catch (error) {
    if (asked !== state.asked) return;
    state.error = error.message;
    let why = error.message;
    if (error.status === 422) {
      why = "该点不在市域内或参数无效 · The point is outside the city or a parameter is wrong";
    }
    showPanel(`<header><h2>${bilingual(["态势", "Situation"])}</h2><button type="button" `
      + `class="close" title="关闭 · Close">×</button></header><p class="error">`
      + `${escapeHTML(why)}</p>`);
    say("situation", `态势查询失败 · Situation failed: ${escapeHTML(error.message)}`, "warning");
  }
}

// --- what app.js calls -------------------------------------------------------------------------

function setOn(on) {
  state.on = on;
  const button = $("#situation-toggle");
  button.setAttribute("aria-pressed", String(on));
  button.classList.toggle("on", on);
  $("#map").classList.toggle("situation-on", on);
  say("situation", on ? `${bilingual(["态势：点击地图选择事发点",
    "Situation: click the map at the incident"])}` : null);
  if (!on) clear();
}

export const situation = {
  // Once the map has loaded: the circle's layers and the panel's controls.
  start() {
    addLayers();
    const select = $("#situation-radius");
    state.radius = Number(select.value);
    select.addEventListener("change", () => {
      state.radius = Number(select.value);
      if (state.on && state.at) ask(state.at);
    });
    $("#situation-toggle").addEventListener("click", () => setOn(!state.on));
    page.situation = state;
  },
  // A map click: taken (true) while the tool is on.
  click(event) {
    if (!state.on) return false;
    page.popup?.remove();
    ask(event.lngLat);
    return true;
  },
};
