// 城市安全风险一张图 · the map page.
//
// MapLibre GL JS (installed from npm, served by this service) draws the service's own
// style (/styles/onemap.json: vector tiles, the districts as base map, the four-colour
// grades). This module adds the interaction: a layer panel, a grade filter (setFilter on
// the risk units and monitoring points), the legend with the style's colours, counts per
// grade, popups that say why a risk unit has its grade, a district selector and district
// names as HTML markers (there is no glyph server for text layers). Every URL is relative
// to the page: nothing is loaded from anywhere but the service. The planners' layers
// (shelters, shelter area per resident, shelter gaps) have their legends, popups and
// proposals in shelters.js; the live alarms (list, feed, pulsing points) in alarms.js.
//
// For tests and people debugging: `window.onemap` (the map; `onemap.counts()` counts
// the features drawn, by layer), and `document.documentElement.dataset.ready` /
// `window.onemapReady` once the first view has been drawn ("error" if the page failed).

import {alarms} from "./alarms.js";
import {planners} from "./shelters.js";
import {situation} from "./situation.js";

const GRADES = ["red", "orange", "yellow", "blue"];
// Names of the grades until the server's legend (style metadata or /styles/legend.json)
// gives its own; "" is "not graded".
const GRADE_NAMES = {
  red: ["红 重大", "Red · major"],
  orange: ["橙 较大", "Orange · high"],
  yellow: ["黄 一般", "Yellow · moderate"],
  blue: ["蓝 低", "Blue · low"],
  "": ["未分级", "Not graded"],
};
const ROWS = [...GRADES, ""];  // the rows of the legend, and what the filter can tick
// Layers the grade filter applies to (by layer name, as in the tiles and collections).
const GRADED = ["risk_units", "monitoring_points"];
// Names of the layers, for the panel; the catalogue's titles are used for any other.
const LAYER_NAMES = {
  districts: ["区县", "Districts"],
  subdistricts: ["街道（乡镇）", "Sub-districts"],
  risk_units: ["风险单元", "Risk units"],
  monitoring_points: ["监测点", "Monitoring points"],
  shelters: ["应急避难场所", "Emergency shelters"],
  shelter_provision: ["人均避难面积", "Shelter area per resident"],
  shelter_gaps: ["避难覆盖缺口", "Residents without a shelter place"],
  candidate_sites: ["避难场所备选场地", "Candidate shelter sites"],
  resources: ["应急资源", "Emergency resources"],
  hidden_dangers: ["隐患", "Hidden dangers"],
  alarms: ["预警", "Alarms"],
  area_risk_districts: ["区县风险", "Area risk by district"],
  area_risk_subdistricts: ["街道风险", "Area risk by sub-district"],
  area_risk_grid: ["网格风险（2 km）", "Area risk, 2 km grid"],
  risk_density: ["风险密度", "Risk density"],
};
// Layer names that several tile layers share (risk_units_point, risk_units_cells, …).
const LAYER_FAMILIES = ["subdistricts", "districts", "risk_units", "monitoring_points",
  "shelters", "resources", "hidden_dangers", "alarms", "risk_density"];
// Names of the fields the tiles carry, until the layer's schema (/collections/{layer}/schema)
// gives the names of all its fields.
const FIELD_NAMES = {
  code: ["编码", "Code"], name: ["名称", "Name"], title: ["标题", "Title"],
  grade: ["等级", "Grade"], category: ["类别", "Category"], kind: ["类型", "Kind"],
  type: ["类型", "Type"], class: ["级别", "Class"], level: ["等级", "Level"],
  status: ["状态", "Status"], state: ["状态", "State"], district_code: ["区县", "District"],
  monitoring_point_id: ["监测点", "Monitoring point"], total: ["合计", "Total"],
  worst_grade: ["最高等级", "Worst grade"], risk_index: ["风险指数", "Risk index"],
};
const HIDDEN_FIELDS = new Set(["id", "grade_explanation", "source", "population_basis",
  "population_year", "official_area_km2"]);

const $ = (selector) => document.querySelector(selector);
const page = {
  map: null,
  maplibregl: null,
  style: null,
  palette: {},
  groups: new Map(),          // layer name → {layers: [style layer ids], minzoom, maxzoom, visible}
  originalFilters: {},        // style layer id → its filter in the style
  originalColours: {},        // style layer id → {paint property: value in the style}
  selected: new Set(ROWS),    // grades shown ("" for not graded)
  individualFrom: {},         // layer name → first zoom of single features (else cells)
  districts: [],              // {code, name, name_en, population, bbox, label, marker}
  stats: null,
  collections: {},
  messages: new Map(),
  popup: null,
  deferred: new Map(),        // GeoJSON source id → its URL, fetched when its layer is shown
  data: {},                   // GeoJSON source id → the data fetched for it
};
window.onemap = page;
export {bilingual, districtName, escapeHTML, getJSON, numberText, page, say};

// --- small helpers -------------------------------------------------------------------

function url(path) {
  return new URL(path, document.baseURI).href;
}

async function getJSON(path) {
  const answer = await fetch(url(path), {headers: {Accept: "application/json"}});
  if (!answer.ok) {
    const error = new Error(`${path}: HTTP ${answer.status}`);
    error.status = answer.status;
    throw error;
  }
  return answer.json();
}

function escapeHTML(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function bilingual([zh, en]) {
  return `${escapeHTML(zh)} <span class="en">${escapeHTML(en)}</span>`;
}

function element(tag, attributes = {}, html = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.innerHTML = html;
  return node;
}

// A message in the panel's status line: the worst level shows, messages are kept by key.
function say(key, html, level = "info") {
  if (html === null) page.messages.delete(key);
  else page.messages.set(key, {html, level});
  const order = {error: 0, warning: 1, info: 2};
  const shown = [...page.messages.values()].sort((a, b) => order[a.level] - order[b.level]);
  const status = $("#status");
  status.className = `status ${shown[0]?.level ?? "info"}`;
  status.innerHTML = shown.map((m) => m.html).join("<br>");
}

function numberText(value) {
  return typeof value === "number" ? value.toLocaleString("zh-CN") : String(value);
}

// --- the style: layer names, colours ---------------------------------------------------

function layerName(styleLayer) {
  const key = styleLayer.metadata?.["onemap:layer"] ?? styleLayer["source-layer"]
    ?? styleLayer.source;
  if (!key) return null;
  if (LAYER_NAMES[key]) return key;
  const family = LAYER_FAMILIES.find((name) => key === name || key.startsWith(`${name}_`)
    || key.startsWith(`${name}-`));
  return family ?? key;
}

function namesOf(name) {
  if (LAYER_NAMES[name]) return LAYER_NAMES[name];
  const collection = page.collections[name];
  if (collection) return [collection.title, collection.title_en ?? name];
  return [name, name];
}

// The grade colours and names: the legend in the style's metadata (or the server's
// /styles/legend.json), else the `match` on grades in the style's paint properties. The
// page has no palette of its own.
function readLegend(entries) {
  for (const entry of Array.isArray(entries) ? entries : []) {
    const grade = entry?.grade ?? "";
    if (!ROWS.includes(grade)) continue;
    const colour = entry.colour ?? entry.color;
    if (colour) page.palette[grade] = colour;
    if (entry.name_zh && entry.level_zh) {
      GRADE_NAMES[grade] = [`${entry.name_zh} ${entry.level_zh}`,
        `${entry.name_en} · ${entry.level_en}`];
    }
  }
}

function paletteFromPaint(style) {
  const visit = (node) => {
    if (!Array.isArray(node)) return;
    if (node[0] === "match") {
      for (let i = 2; i + 1 < node.length; i += 2) {
        for (const label of [node[i]].flat()) {
          if (GRADES.includes(label) && typeof node[i + 1] === "string" && !page.palette[label]) {
            page.palette[label] = node[i + 1];
          }
        }
      }
    }
    node.forEach(visit);
  };
  for (const layer of style.layers ?? []) {
    for (const [property, value] of Object.entries(layer.paint ?? {})) {
      if (property.endsWith("-color")) visit(value);
    }
  }
}

async function readPalette(style) {
  readLegend(style.metadata?.["onemap:legend"]);
  if (!GRADES.every((g) => page.palette[g])) {
    try {
      readLegend(await getJSON("styles/legend.json"));
    } catch {
      // the style's own colours, below
    }
  }
  paletteFromPaint(style);
}

// Style URLs made absolute: tiles are fetched by MapLibre's worker, whose own address
// would otherwise be the base of a relative URL.
function absoluteSources(style, base) {
  for (const source of Object.values(style.sources ?? {})) {
    if (typeof source.url === "string") source.url = new URL(source.url, base).href;
    if (Array.isArray(source.tiles)) source.tiles = source.tiles.map((t) => new URL(t, base).href);
    if (typeof source.data === "string") source.data = new URL(source.data, base).href;
  }
  for (const key of ["sprite", "glyphs"]) {
    if (typeof style[key] === "string" && !style[key].includes("{")) {
      style[key] = new URL(style[key], base).href;
    }
  }
  return style;
}

// Only the districts, from the features API: the page still shows a map while the vector
// tiles and the style are not there.
function fallbackStyle(districts) {
  return {
    version: 8,
    sources: {districts: {type: "geojson", data: districts}},
    layers: [
      {id: "background", type: "background", paint: {"background-color": "#eef1f4"}},
      {id: "districts-fill", type: "fill", source: "districts",
        paint: {"fill-color": "#ffffff", "fill-opacity": 0.9}},
      {id: "districts-line", type: "line", source: "districts",
        paint: {"line-color": "#6b7a8c", "line-width": 1.2}},
    ],
  };
}

// --- districts: selector, labels, bounds ------------------------------------------------

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

function bboxOf(geometry) {
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  for (const polygon of rings(geometry)) {
    for (const [x, y] of polygon[0]) {
      box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y);
      box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y);
    }
  }
  return box;
}

function ringArea(ring) {
  let area = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    area += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  }
  return Math.abs(area / 2);
}

// A point inside the district for its name: the middle of the widest stretch of a few
// horizontal lines across its largest polygon (a centroid may fall outside).
function labelPoint(geometry) {
  let largest = null;
  for (const polygon of rings(geometry)) {
    if (!largest || ringArea(polygon[0]) > ringArea(largest[0])) largest = polygon;
  }
  if (!largest) return null;
  const box = bboxOf({type: "Polygon", coordinates: largest});
  let best = null;
  for (const share of [0.5, 0.42, 0.58, 0.34, 0.66]) {
    const y = box[1] + (box[3] - box[1]) * share;
    const xs = [];
    for (const ring of largest) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [x1, y1] = ring[j];
        const [x2, y2] = ring[i];
        if ((y1 > y) !== (y2 > y)) xs.push(x1 + ((y - y1) * (x2 - x1)) / (y2 - y1));
      }
    }
    xs.sort((a, b) => a - b);
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const width = (xs[i + 1] - xs[i]) * (share === 0.5 ? 1.15 : 1);  // the middle first
      if (!best || width > best.width) best = {width, point: [(xs[i] + xs[i + 1]) / 2, y]};
    }
  }
  return best?.point ?? [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
}

function readDistricts(collection) {
  return (collection.features ?? []).map((feature) => {
    const p = feature.properties ?? {};
    return {
      code: p.code ?? String(feature.id), name: p.name ?? p.code, name_en: p.name_en ?? "",
      population: p.population ?? 0, bbox: bboxOf(feature.geometry),
      label: labelPoint(feature.geometry), geometry: feature.geometry, marker: null,
    };
  }).filter((d) => Number.isFinite(d.bbox[0]));
}

function cityBounds() {
  const boxes = page.districts.map((d) => d.bbox);
  if (!boxes.length) return null;
  return [[Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1]))],
    [Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))]];
}

function districtName(code) {
  const district = page.districts.find((d) => d.code === String(code));
  return district ? `${district.name} · ${district.name_en}` : String(code);
}

function addDistrictLabels() {
  for (const district of page.districts) {
    if (!district.label) continue;
    const node = element("div", {class: "district-label"},
      `<b>${escapeHTML(district.name)}</b><span>${escapeHTML(district.name_en)}</span>`);
    district.marker = new page.maplibregl.Marker({element: node, anchor: "center"})
      .setLngLat(district.label).addTo(page.map);
  }
  placeLabels();
  page.map.on("moveend", placeLabels);
}

// District names that would overlap another are hidden; the most populous come first.
function placeLabels() {
  const visible = page.groups.get("districts")?.visible !== false;
  const placed = [];
  const order = [...page.districts].sort((a, b) => b.population - a.population);
  for (const district of order) {
    const node = district.marker?.getElement();
    if (!node) continue;
    const at = page.map.project(district.label);
    const w = node.offsetWidth / 2 + 4;
    const h = node.offsetHeight / 2 + 2;
    const box = [at.x - w, at.y - h, at.x + w, at.y + h];
    const overlaps = placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3]
      && b[1] < box[3]);
    node.classList.toggle("hidden", !visible || overlaps);
    if (visible && !overlaps) placed.push(box);
  }
}

function fillDistrictSelector() {
  const select = $("#district");
  for (const district of [...page.districts].sort((a, b) => a.code.localeCompare(b.code))) {
    const option = element("option", {value: district.code});
    option.textContent = `${district.name} · ${district.name_en}`;
    select.append(option);
  }
  select.disabled = page.districts.length === 0;
  select.addEventListener("change", () => selectDistrict(select.value));
}

function selectDistrict(code) {
  const map = page.map;
  const district = page.districts.find((d) => d.code === code);
  const source = map.getSource("onemap-selected-district");
  const data = district
    ? {type: "Feature", properties: {}, geometry: district.geometry}
    : {type: "FeatureCollection", features: []};
  if (source) source.setData(data);
  const bounds = district ? [[district.bbox[0], district.bbox[1]], [district.bbox[2], district.bbox[3]]]
    : cityBounds();
  if (bounds) map.fitBounds(bounds, {padding: 40, duration: 800, essential: true});
  showCounts(code);
}

function addSelectionOutline() {
  page.map.addSource("onemap-selected-district",
    {type: "geojson", data: {type: "FeatureCollection", features: []}});
  page.map.addLayer({id: "onemap-selected-district", type: "line",
    source: "onemap-selected-district",
    paint: {"line-color": "#16385f", "line-width": 3, "line-opacity": 0.85}});
}

// --- legend, counts and the grade filter -----------------------------------------------

function fillGradeTable() {
  const body = $("#grades tbody");
  for (const grade of ROWS) {
    const colour = page.palette[grade];
    const row = element("tr", {"data-grade": grade});
    const swatch = colour
      ? `<span class="swatch" style="background:${escapeHTML(colour)}"></span>`
      : `<span class="swatch" title="样式无此颜色 · not in the style"></span>`;
    const key = grade || "none";
    row.innerHTML = `<td><input type="checkbox" id="grade-${key}" checked></td>`
      + `<td><label for="grade-${key}">${swatch}<span class="names">`
      + `<span class="zh">${escapeHTML(GRADE_NAMES[grade][0])}</span>`
      + `<span class="en">${escapeHTML(GRADE_NAMES[grade][1])}</span></span></label></td>`
      + `<td class="num" data-count="${key}">–</td>`;
    body.append(row);
    row.querySelector("input").addEventListener("change", (event) => {
      if (event.target.checked) page.selected.add(grade);
      else page.selected.delete(grade);
      row.classList.toggle("off", !event.target.checked);
      applyGradeFilter();
    });
  }
  if (!Object.keys(page.palette).length) {
    say("palette", "样式中没有等级颜色 · The style gives no grade colours", "warning");
  }
}

function showCounts(code = "") {
  const stats = page.stats;
  if (!stats) return;
  const counts = code ? stats.groups?.find((g) => g.key === code) : stats.total;
  $("#grade-scope").innerHTML = code ? escapeHTML(districtName(code))
    : bilingual(["全市", "Whole city"]);
  for (const grade of ROWS) {
    const count = counts?.[grade || "ungraded"];
    $(`[data-count="${grade || "none"}"]`).textContent = counts ? numberText(count ?? 0) : "–";
  }
  $("#grade-total").textContent = counts ? numberText(counts.total ?? 0) : "–";
}

// Cells of the aggregated tiles carry counts per grade (and `total`); single features a
// `grade`. A cell stays while it holds a unit of a ticked grade.
function countOf(grade) {
  const of = (g) => ["to-number", ["get", g], 0];
  return grade ? of(grade) : ["-", of("total"), ["+", ...GRADES.map(of)]];  // not graded
}

function gradeFilter(grades) {
  const hasAny = ["any", ...grades.map((g) => [">", countOf(g), 0])];
  const isOne = ["in", ["coalesce", ["get", "grade"], ""], ["literal", grades]];
  return ["case", ["has", "total"], hasAny, isOne];
}

// A cell's colour follows its worst ticked grade: the style's own `match` on grades, fed
// with that grade instead of the cell's worst.
function worstTicked(grades) {
  const cases = grades.filter(Boolean).flatMap((g) => [[">", countOf(g), 0], g]);
  return cases.length ? ["case", ...cases, ""] : "";
}

function recolour(value, grades) {
  if (!Array.isArray(value)) return value;
  if (value[0] === "match") {
    const labels = [];
    for (let i = 2; i + 1 < value.length; i += 2) labels.push(...[value[i]].flat());
    if (labels.some((label) => GRADES.includes(label))) {
      return ["match", ["case", ["has", "total"], worstTicked(grades), value[1]],
        ...value.slice(2).map((v) => recolour(v, grades))];
    }
  }
  return value.map((v) => recolour(v, grades));
}

function applyGradeFilter() {
  const map = page.map;
  const all = ROWS.every((g) => page.selected.has(g));
  const grades = ROWS.filter((g) => page.selected.has(g));
  for (const [name, group] of page.groups) {
    if (!GRADED.includes(name)) continue;
    for (const id of group.layers) {
      const original = page.originalFilters[id];
      const filter = all ? original
        : original ? ["all", original, gradeFilter(grades)] : gradeFilter(grades);
      map.setFilter(id, filter ?? null);
      for (const [property, value] of Object.entries(page.originalColours[id] ?? {})) {
        map.setPaintProperty(id, property, all ? value : recolour(value, grades));
      }
    }
  }
}

// --- the layer panel -------------------------------------------------------------------

function readGroups(style) {
  for (const layer of style.layers ?? []) {
    if (layer.type === "background") continue;
    const name = layerName(layer);
    if (!name) continue;
    const group = page.groups.get(name) ?? {layers: [], minzoom: 24, maxzoom: 0, visible: false};
    group.layers.push(layer.id);
    group.minzoom = Math.min(group.minzoom, layer.minzoom ?? 0);
    group.maxzoom = Math.max(group.maxzoom, layer.maxzoom ?? 24);
    group.visible ||= (layer.layout?.visibility ?? "visible") !== "none";
    page.groups.set(name, group);
    page.originalFilters[layer.id] = layer.filter;
    const colours = Object.entries(layer.paint ?? {})
      .filter(([property, value]) => property.endsWith("-color") && Array.isArray(value));
    if (colours.length) page.originalColours[layer.id] = Object.fromEntries(colours);
  }
}

// A small symbol of the group in the style's colours: a dot, a stroke or a patch; several
// colours side by side for a layer coloured by grade.
function symbolOf(group) {
  const layer = page.style.layers.find((l) => group.layers.includes(l.id)
    && ["circle", "line", "fill"].includes(l.type));
  if (!layer) return `<span class="symbol"></span>`;
  const hatched = planners.symbol(layer.paint?.["fill-pattern"]);
  if (hatched) return `<span class="symbol fill" style="background:${escapeHTML(hatched)}"></span>`;
  const value = layer.paint?.[`${layer.type}-color`];
  let colours = typeof value === "string" ? [value] : [];
  if (Array.isArray(value) && JSON.stringify(value).includes('"red"')) {
    colours = GRADES.map((g) => page.palette[g]).filter(Boolean);
  } else if (Array.isArray(value)) {  // the colours an expression gives: by class, by value
    colours = [...new Set(JSON.stringify(value).match(/"#[0-9A-Fa-f]{3,8}"/g) ?? [])]
      .map((c) => JSON.parse(c));
  }
  const fill = colours.length > 1
    ? `linear-gradient(90deg, ${colours.map((c, i) => `${c} ${(i * 100) / colours.length}% `
      + `${((i + 1) * 100) / colours.length}%`).join(", ")})` : colours[0] ?? "#999";
  return `<span class="symbol ${layer.type}" style="background:${escapeHTML(fill)}"></span>`;
}

// Groups drawn only from some zoom look disabled below it.
function markZoomRanges() {
  const zoom = page.map.getZoom();
  for (const item of document.querySelectorAll("#layers li[data-layer]")) {
    const group = page.groups.get(item.dataset.layer);
    item.classList.toggle("out-of-range", zoom < group.minzoom || zoom >= group.maxzoom);
  }
}

function fillLayerPanel() {
  const list = $("#layers");
  const order = Object.keys(LAYER_NAMES);
  const names = [...page.groups.keys()].sort((a, b) =>
    (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  for (const name of names) {
    const group = page.groups.get(name);
    const zoom = group.minzoom > 0 ? `z ≥ ${group.minzoom}` : "";
    const item = element("li", {"data-layer": name},
      `<label><input type="checkbox" ${group.visible ? "checked" : ""}>${symbolOf(group)}`
      + `<span>${bilingual(namesOf(name))}</span><span class="zoom">${zoom}</span></label>`
      + `<div class="layer-legend"></div>`);
    item.querySelector("input").addEventListener("change", (event) => {
      group.visible = event.target.checked;
      for (const id of group.layers) {
        page.map.setLayoutProperty(id, "visibility", group.visible ? "visible" : "none");
      }
      if (name === "districts") placeLabels();
      if (group.visible) loadDeferred(name);
      planners.toggled(name, group.visible);
      showLegend(name);
    });
    list.append(item);
    showLegend(name);
  }
  if (!names.length) list.append(element("li", {class: "unavailable"}, "–"));
}

function showLegend(name) {
  const box = document.querySelector(`#layers li[data-layer="${name}"] .layer-legend`);
  if (!box) return;
  box.innerHTML = page.groups.get(name)?.visible ? planners.legend(name) : "";
  box.hidden = !box.innerHTML;
}

// GeoJSON sources of layers hidden at the start (the shelter analysis) are fetched when
// one of their layers is first shown, not by every visitor of the page.
function deferHiddenData(style) {
  for (const [id, source] of Object.entries(style.sources ?? {})) {
    if (source.type !== "geojson" || typeof source.data !== "string") continue;
    const users = (style.layers ?? []).filter((l) => l.source === id);
    if (users.some((l) => (l.layout?.visibility ?? "visible") !== "none")) continue;
    page.deferred.set(id, source.data);
    source.data = {type: "FeatureCollection", features: []};
  }
}

async function loadDeferred(name) {
  const sources = new Set(page.groups.get(name).layers.map((id) => page.map.getLayer(id)?.source)
    .filter((id) => page.deferred.has(id)));
  await Promise.all([...sources].map(async (id) => {
    const address = page.deferred.get(id);
    page.deferred.delete(id);
    say(`data ${id}`, `正在加载 ${bilingual(namesOf(name))}…`);
    try {
      page.data[id] = await getJSON(address);
      page.map.getSource(id).setData(page.data[id]);
      say(`data ${id}`, null);
      showLegend(name);
    } catch (error) {
      page.deferred.set(id, address);  // try again at the next showing
      say(`data ${id}`, `${bilingual(namesOf(name))} 加载失败 · failed: `
        + `${escapeHTML(error.message)}`, "warning");
    }
  }));
}

// --- popups ----------------------------------------------------------------------------

function gradeBadge(grade) {
  grade ??= "";
  if (!ROWS.includes(grade)) return escapeHTML(grade);
  const colour = page.palette[grade] ?? "#888";
  return `<span class="grade-badge" style="background:${escapeHTML(colour)}">`
    + `${escapeHTML(GRADE_NAMES[grade][0])} · ${escapeHTML(GRADE_NAMES[grade][1])}</span>`;
}

function valueText(key, value) {
  if (["grade", "base_grade", "worst_grade"].includes(key)) return gradeBadge(value);
  if (key === "district_code") return escapeHTML(districtName(value));
  if (typeof value === "boolean") return value ? "是 · yes" : "否 · no";
  if (typeof value === "number" && !key.endsWith("_id")) return escapeHTML(numberText(value));
  if (value && typeof value === "object") {
    return escapeHTML(Object.entries(value).map(([k, v]) =>
      `${k}: ${v && typeof v === "object" ? JSON.stringify(v) : v}`).join("; "));
  }
  return escapeHTML(value);
}

// The names of a layer's fields from its JSON Schema (title in Chinese, description in
// English), read once per layer; the page's own names until then.
const schemas = new Map();
function fieldNamesOf(name) {
  if (!schemas.has(name)) {
    schemas.set(name, getJSON(`collections/${encodeURIComponent(name)}/schema`)
      .then((schema) => {
        const fields = schema?.properties?.properties?.properties ?? {};
        return Object.fromEntries(Object.entries(fields).filter(([, f]) => f.title)
          .map(([key, f]) => [key, [f.title, f.description ?? key]]));
      })
      .catch(() => ({})));
  }
  return schemas.get(name);
}

function attributeTable(properties, names = {}) {
  const rows = Object.entries(properties)
    .filter(([key, value]) => !HIDDEN_FIELDS.has(key) && value !== null && value !== ""
      && !GRADES.includes(key) && !["name", "title", "grade"].includes(key)
      && !(key === "base_grade" && value === properties.grade))
    .map(([key, value]) => {
      const label = names[key] ?? FIELD_NAMES[key];
      return `<tr><th>${label ? bilingual(label) : escapeHTML(key)}</th>`
        + `<td>${valueText(key, value)}</td></tr>`;
    });
  return rows.length ? `<div class="scroll"><table>${rows.join("")}</table></div>` : "";
}

// Counts per grade: an aggregation cell of the tiles, or an area of the area-risk layers.
function countsHTML(feature, name) {
  const p = feature.properties;
  const counts = Object.fromEntries(GRADES.map((g) => [g, Number(p[g] ?? 0)]));
  counts[""] = Number(p.total ?? 0) - GRADES.reduce((sum, g) => sum + counts[g], 0);
  const rows = ROWS.filter((g) => g || counts[g] > 0).map((g) => `<tr><th>${gradeBadge(g)}</th>`
    + `<td class="num">${numberText(counts[g])}</td></tr>`).join("");
  const cell = String(feature.layer["source-layer"] ?? "").endsWith("_cells");
  const title = cell ? bilingual(["网格汇总", "Aggregated cell"])
    : escapeHTML(p.name ?? p.code ?? p.id ?? "");
  const from = page.individualFrom[name];
  const hint = cell && from ? `<p class="layer-name">放大至 ${from} 级查看单个要素 · `
    + `<span class="en">zoom to ${from} for single features</span></p>` : "";
  const index = p.risk_index !== undefined ? `<tr><th>${bilingual(FIELD_NAMES.risk_index)}</th>`
    + `<td class="num">${numberText(p.risk_index)}</td></tr>` : "";
  return `<div class="popup"><h3>${title}</h3>`
    + `<p class="layer-name">${bilingual(namesOf(name))}</p>`
    + `<table>${rows}<tr><th>${bilingual(FIELD_NAMES.total)}</th>`
    + `<td class="num">${numberText(p.total ?? 0)}</td></tr>${index}</table>${hint}</div>`;
}

function featureHTML(name, properties, explanation, names) {
  const title = properties.name ?? properties.title ?? properties.code ?? "";
  let why = "";
  if (explanation) {
    why = `<div class="why"><b>${bilingual(["定级依据", "Why this grade"])}</b>`
      + `<span class="zh">${escapeHTML(explanation.text_zh ?? "")}</span>`
      + `<span class="en">${escapeHTML(explanation.text_en ?? "")}</span></div>`;
  }
  return `<div class="popup"><h3>${escapeHTML(title)}</h3>`
    + `<p class="layer-name">${bilingual(namesOf(name))}</p>`
    + `${properties.grade !== undefined ? `<p>${gradeBadge(properties.grade)}</p>` : ""}`
    + `${why}${attributeTable(properties, names)}</div>`;
}

const AREA_LAYERS = new Set(["districts", "subdistricts"]);

async function onClick(event) {
  if (situation.click(event)) return;  // the situation tool, while it is on
  if (alarms.click(event)) return;  // a pulsing point: its live alarm
  const map = page.map;
  const {x, y} = event.point;
  const layers = [...page.groups.values()].flatMap((g) => g.layers)
    .filter((id) => map.getLayer(id) && map.getLayer(id).type !== "raster");
  const found = map.queryRenderedFeatures([[x - 4, y - 4], [x + 4, y + 4]], {layers});
  // points and units over the areas they lie in
  const feature = found.find((f) => !AREA_LAYERS.has(layerName(f.layer))) ?? found[0];
  if (!feature) return;
  const name = layerName(feature.layer);
  // a new popup each time: an open one closes itself on this very click
  page.popup?.remove();
  const popup = new page.maplibregl.Popup({maxWidth: "380px", focusAfterOpen: false});
  page.popup = popup;
  const planned = planners.popup(name, feature);
  if (planned) {
    popup.setLngLat(event.lngLat).setHTML(planned.html).addTo(map);
    planned.opened?.(popup);
    return;
  }
  if ("total" in feature.properties) {
    popup.setLngLat(event.lngLat).setHTML(countsHTML(feature, name)).addTo(map);
    return;
  }
  popup.setLngLat(event.lngLat).setHTML(featureHTML(name, feature.properties)).addTo(map);
  // integer ids are the tiles' feature ids; text ids (district codes) a property
  const id = feature.id ?? feature.properties.id ?? feature.properties.code;
  if (id === undefined || id === null || !(name in page.collections)) return;
  try {
    const [item, names] = await Promise.all([getJSON(`collections/${encodeURIComponent(name)}`
      + `/items/${encodeURIComponent(id)}?f=json`), fieldNamesOf(name)]);
    if (page.popup !== popup || !popup.isOpen()) return;
    const properties = item.properties ?? {};
    popup.setHTML(featureHTML(name, properties, properties.grade_explanation, names));
  } catch (error) {
    say("popup", `要素详情读取失败 · Could not read the feature: ${escapeHTML(error.message)}`,
      "warning");
  }
}

// --- what is drawn (for tests) ----------------------------------------------------------

function rendered() {
  const counts = {groups: {}, layers: {}, cells: {}, single: {}};
  for (const feature of page.map.queryRenderedFeatures()) {
    const name = layerName(feature.layer) ?? feature.layer.id;
    counts.groups[name] = (counts.groups[name] ?? 0) + 1;
    counts.layers[feature.layer.id] = (counts.layers[feature.layer.id] ?? 0) + 1;
    const kind = "total" in feature.properties ? "cells" : "single";
    counts[kind][name] = (counts[kind][name] ?? 0) + 1;
  }
  counts.labels = page.districts.filter((d) => d.marker
    && !d.marker.getElement().classList.contains("hidden")).length;
  counts.zoom = page.map.getZoom();
  return counts;
}

// --- start -----------------------------------------------------------------------------

async function main() {
  let maplibregl;
  try {
    maplibregl = await import("./maplibre-gl/maplibre-gl.mjs");
  } catch (error) {
    say("maplibre", "地图库未安装（make web）· MapLibre GL JS is not installed (make web)",
      "error");
    throw error;
  }
  page.maplibregl = maplibregl;

  const [style, districts, stats, collections] = await Promise.allSettled([
    getJSON("styles/onemap.json"), getJSON("collections/districts/items?limit=100&f=json"),
    getJSON("stats/grades?by=district"), getJSON("collections?f=json")]);

  if (collections.status === "fulfilled") {
    for (const c of collections.value.collections ?? []) {
      const self = (c.links ?? []).find((l) => l.rel === "self");
      page.collections[c.id] = {title: c.title ?? c.id, title_en: self?.title ?? c.id};
    }
  }
  if (districts.status === "fulfilled") {
    page.districts = readDistricts(districts.value);
  } else {
    say("districts", `区县读取失败 · Districts unavailable (${escapeHTML(districts.reason.message)})`,
      "warning");
  }
  if (stats.status === "fulfilled") {
    page.stats = stats.value;
  } else {
    say("stats", `等级统计不可用 · Grade counts unavailable (${escapeHTML(stats.reason.message)})`,
      "warning");
  }

  let mapStyle;
  if (style.status === "fulfilled") {
    mapStyle = absoluteSources(style.value, url("styles/onemap.json"));
    page.mode = "tiles";
  } else {
    page.mode = "fallback";
    mapStyle = fallbackStyle(districts.status === "fulfilled" ? districts.value
      : {type: "FeatureCollection", features: []});
    say("style", `矢量瓦片与地图样式不可用，仅显示区县 · Vector tiles and map style unavailable: `
      + `districts only (${escapeHTML(style.reason.message)})`, "warning");
  }
  page.style = mapStyle;
  deferHiddenData(mapStyle);
  await readPalette(mapStyle);
  readGroups(mapStyle);
  page.individualFrom = mapStyle.metadata?.["onemap:individual_from"] ?? {};

  const bounds = cityBounds();
  const map = new maplibregl.Map({
    container: "map",
    style: mapStyle,
    ...(bounds && !location.hash ? {bounds, fitBoundsOptions: {padding: 24}} : {}),
    hash: true,
    fadeDuration: 0,
    dragRotate: false,
    pitchWithRotate: false,
    attributionControl: {compact: true},
  });
  page.map = map;
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  map.addControl(new maplibregl.ScaleControl({unit: "metric"}), "bottom-right");
  map.on("styleimagemissing", (event) => planners.pattern(event.id));
  map.on("error", (event) => {
    const source = event.sourceId ?? "";
    const status = event.error?.status ? `HTTP ${event.error.status}` : "";
    const where = event.error?.url ? new URL(event.error.url).pathname : "";
    const what = [status, where].filter(Boolean).join(" ") || event.error?.message || "error";
    say(`error ${source}`, `地图数据加载失败 · <span class="en">Map data failed</span> `
      + `${escapeHTML(source)}: ${escapeHTML(what)}`, "warning");
  });

  fillGradeTable();
  fillLayerPanel();
  fillDistrictSelector();
  showCounts();

  await new Promise((resolve) => map.once("load", resolve));
  addSelectionOutline();
  addDistrictLabels();
  situation.start();
  alarms.start();
  map.on("click", onClick);
  map.on("mousemove", (event) => {
    const layers = [...page.groups.entries()].filter(([name]) => !AREA_LAYERS.has(name))
      .flatMap(([, g]) => g.layers).filter((id) => map.getLayer(id)?.type !== "raster");
    const hit = layers.length && map.queryRenderedFeatures(event.point, {layers}).length;
    map.getCanvas().style.cursor = hit ? "pointer" : "";
  });
  map.on("zoomend", () => { describeZoom(); markZoomRanges(); });
  describeZoom();
  markZoomRanges();

  await new Promise((resolve) => map.once("idle", resolve));
  placeLabels();
  page.counts = rendered;
  window.onemapReady = true;
  document.documentElement.dataset.ready = "true";
}

function describeZoom() {
  const zoom = page.map.getZoom();
  const starts = Object.values(page.individualFrom).filter((z) => zoom < z);
  if (starts.length) {
    const at = Math.min(...starts);
    say("zoom", `缩放 ${zoom.toFixed(1)}：风险单元与监测点按网格汇总，放大至 ${at} 级显示单个要素 · `
      + `<span class="en">aggregated in cells; single features from zoom ${at}</span>`);
  } else {
    say("zoom", `缩放 ${zoom.toFixed(1)} · <span class="en">zoom ${zoom.toFixed(1)}</span>`);
  }
}

main().catch((error) => {
  console.error(error);
  if (!page.messages.size || ![...page.messages.values()].some((m) => m.level === "error")) {
    say("fatal", `地图未能启动 · The map failed to start: ${escapeHTML(error.message)}`, "error");
  }
  window.onemapError = String(error?.message ?? error);
  document.documentElement.dataset.ready = "error";
});
