// 实时预警 Live alarms: the alarms not closed, kept up to date from the server's live feed.
//
// The panel lists the open and acknowledged alarms (GET /alarms, worst grade then newest),
// then follows GET /alarms/stream (server-sent events: each change carries the alarm as it
// is now), so nobody has to reload the page. On the map, points with an open alarm pulse
// in their grade's colour and acknowledged ones keep a steady ring (a GeoJSON source fed
// from the list); after each change the `alarms` and `monitoring_points` vector sources
// fetch their tiles again. A click on an item flies to the point and opens the alarm with
// its history. The page has no login: it shows what people did, it does not act.
//
// app.js calls `alarms.start()` once the map has loaded and offers it each map click
// (`alarms.click(event)`: true when it took it). For tests: `onemap.alarms` (the alarms
// held, by id; the connection; events and tile refreshes counted). The pulse is in
// alarm_pulse.js, the popup in alarm_popup.js, names and formats in alarm_words.js.

import {bilingual, escapeHTML, getJSON, page, say} from "./app.js";
import {SOURCE, addLayers, animate, drawPulse} from "./alarm_pulse.js";
import {showAlarm} from "./alarm_popup.js";
import {nodes, ordered, state} from "./alarm_state.js";
import {GRADES, GRADE_NAMES, GRADE_SHORT, KIND_NAMES, amount, clock, colour, district, latest,
  names, outline, peak, stateBadge, time} from "./alarm_words.js";

const CONNECTION_NAMES = {
  connecting: ["连接中…", "connecting"], live: ["实时", "live"],
  reconnecting: ["重连中…", "reconnecting"], offline: ["已断开，稍后重试", "offline, retrying"],
};
const LIMIT = 200;            // alarms listed at first (the API's order: worst, newest)
const TILE_SOURCES = ["alarms", "monitoring_points"];
const REFRESH_DELAY_MS = 400;  // a burst of events (a batch of readings) refreshes once
const REOPEN_DELAY_MS = 5000;  // after the browser gave the stream up (an HTTP error)

const $ = (selector) => document.querySelector(selector);
const shownHTML = new WeakMap();  // list item → the HTML it shows (rewritten only on change)
let streamed = new Set();  // alarms the stream brought while a list was on its way
let stream = null;
let reopenTimer = null;
let refreshTimer = null;
let hadError = false;
const baseTiles = new Map();  // vector source id → its tile URLs as the style gave them

// --- small helpers ---------------------------------------------------------------------------

function url(path) {
  return new URL(path, document.baseURI).href;
}

// --- what the alarms are ---------------------------------------------------------------------

// An alarm as it is now (from the list or an event). Returns whether anything changed.
function take(alarm) {
  if (!alarm || alarm.id === undefined) return false;
  const held = state.items.get(alarm.id);
  // the list and the stream may cross: an older copy never replaces a newer one
  if (held && time(held.updated_at) > time(alarm.updated_at)) return false;
  if (alarm.state === "closed") {
    state.closed.add(alarm.id);
    return state.items.delete(alarm.id);
  }
  if (state.closed.has(alarm.id)) return false;
  state.items.set(alarm.id, alarm);
  return true;
}

async function load() {
  streamed = new Set();
  try {
    const answer = await getJSON(`alarms?state=open,acknowledged&limit=${LIMIT}`);
    const listed = new Set();
    for (const alarm of answer.alarms ?? []) {
      listed.add(alarm.id);
      take(alarm);
    }
    // not in a fresh list (and only a list can say so): closed while the stream was away
    if (state.loaded) {
      for (const id of [...state.items.keys()]) {
        if (!listed.has(id) && !streamed.has(id)) state.items.delete(id);
      }
    }
    state.matched = answer.matched ?? listed.size;
    state.loaded = true;
    state.error = null;
    say("alarms", null);
  } catch (error) {
    state.error = error.message;
    say("alarms", `预警列表读取失败 · <span class="en">Alarms unavailable</span>: `
      + `${escapeHTML(error.message)}`, "warning");
  }
  render();
  drawPulse();
}

// --- the live feed ---------------------------------------------------------------------------

function connect() {
  clearTimeout(reopenTimer);
  // a stream the browser gave up on comes back where it stopped (`after`: as Last-Event-ID)
  const after = state.lastEventId !== null ? `?after=${encodeURIComponent(state.lastEventId)}` : "";
  stream = new EventSource(url(`alarms/stream${after}`));
  stream.addEventListener("open", () => {
    setConnection("live");
    if (hadError) {  // back after a break: what changed meanwhile
      hadError = false;
      load();
      refreshTiles();
    }
  });
  stream.addEventListener("alarm", onEvent);
  stream.addEventListener("error", () => {
    hadError = true;
    if (stream.readyState === EventSource.CLOSED) {
      // the browser retries by itself only after a dropped connection, not an HTTP error
      setConnection("offline");
      reopenTimer = setTimeout(connect, REOPEN_DELAY_MS);
    } else {
      setConnection("reconnecting");
    }
  });
}

function onEvent(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  state.events += 1;
  state.lastEventId = message.lastEventId || state.lastEventId;
  const alarm = event.alarm;
  if (!alarm) return;
  streamed.add(alarm.id);
  const changed = take(alarm);
  if (changed) {
    render(alarm.id);
    drawPulse();
  }
  if (state.popupFor === alarm.id) showAlarm(alarm.id);
  scheduleRefresh();
}

function setConnection(value) {
  state.connection = value;
  const badge = $("#alarm-panel .connection");
  if (!badge) return;
  badge.dataset.state = value;
  badge.querySelector(".text").innerHTML = bilingual(CONNECTION_NAMES[value]);
  badge.title = value === "live" ? "实时推送已连接 · The live feed is connected"
    : "实时推送中断，正在重连 · The live feed is down; reconnecting";
}

// --- fresh tiles -----------------------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshTiles, REFRESH_DELAY_MS);
}

// MapLibre keeps the tiles it has, and the browser may keep them too (Cache-Control may give
// them a max-age): new tile URLs (a version parameter the server ignores) make both fetch the
// tiles again; the server builds them once per change of its data.
function refreshTiles() {
  const map = page.map;
  if (!map) return;
  state.refreshes += 1;
  for (const id of TILE_SOURCES) {
    const source = map.getSource(id);
    if (!source || typeof source.setTiles !== "function") continue;
    if (!baseTiles.has(id)) {  // the first time: the URLs of the style's TileJSON
      if (!Array.isArray(source.tiles) || !source.tiles.length) continue;  // loading still
      baseTiles.set(id, [...source.tiles]);
    }
    // string joins: URL() would escape the braces of {z}/{x}/{y}
    source.setTiles(baseTiles.get(id).map((tiles) =>
      `${tiles}${tiles.includes("?") ? "&" : "?"}v=${state.refreshes}`));
  }
}

// --- the panel -------------------------------------------------------------------------------

function panelSkeleton() {
  const panel = $("#alarm-panel");
  panel.innerHTML = `<div class="alarm-head">`
    + `<h2 class="heading">${bilingual(["实时预警", "Live alarms"])}</h2>`
    + `<span class="connection" data-state="connecting" role="status"><i></i>`
    + `<span class="text"></span></span>`
    + `<button type="button" class="fold" aria-expanded="true" aria-controls="alarm-list" `
    + `title="收起 · Fold">▾</button></div>`
    + `<div class="counts" aria-label="按等级计数 · Counts by grade">${GRADES.map((g) =>
      `<span class="count" data-grade="${g}" title="${GRADE_NAMES[g].join(" · ")}">`
      + `<i></i><b>0</b><span class="names"><span>${GRADE_SHORT[g][0]}</span>`
      + `<span class="en">${GRADE_SHORT[g][1]}</span></span></span>`).join("")}</div>`
    + `<div class="body" id="alarm-list"><ol class="alarm-list"></ol>`
    + `<p class="empty" hidden>${bilingual(["暂无未关闭预警", "No open alarms"])}</p>`
    + `<p class="more" hidden></p></div>`;
  // the grade colours are the style's: handed to the style sheet as variables
  for (const g of GRADES) {
    panel.style.setProperty(`--alarm-${g}`, colour(g));
    panel.style.setProperty(`--alarm-${g}-dark`, outline(g));
  }
  panel.hidden = false;
  const fold = panel.querySelector("button.fold");
  fold.addEventListener("click", () => {
    const folded = panel.classList.toggle("folded");
    fold.setAttribute("aria-expanded", String(!folded));
    fold.title = folded ? "展开 · Unfold" : "收起 · Fold";
  });
  const list = panel.querySelector(".alarm-list");
  list.addEventListener("click", (event) => {
    const item = event.target.closest("li.alarm");
    if (item) showAlarm(Number(item.dataset.id), {open: true, fly: true});
  });
  list.addEventListener("keydown", (event) => {
    const item = event.target.closest("li.alarm");
    if (item && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      showAlarm(Number(item.dataset.id), {open: true, fly: true});
    }
  });
  setConnection(state.connection);
}

function itemHTML(a) {
  const [kindZh, kindEn] = names(KIND_NAMES, a.kind);
  const [gradeZh] = names(GRADE_SHORT, a.grade);
  const [districtZh, districtEn = ""] = district(a).split(" · ");
  const escalated = a.escalated_at ? ` · <span class="at">${bilingual(["升级", "escalated"])} `
    + `${clock(a.escalated_at)}</span>` : "";
  const moved = latest(a);
  const name = a.point_name ?? "";
  return `<div class="row1"><span class="grade">${escapeHTML(gradeZh)}</span>`
    + `<span class="code">${escapeHTML(a.point_code ?? a.point_id)}</span>`
    + `<span class="kind">${escapeHTML(kindZh)} <span class="en">${escapeHTML(kindEn)}</span>`
    + `</span><span class="value" title="最不利值 · worst reading">`
    + `${escapeHTML(amount(peak(a), a.unit))}</span></div>`
    + `<div class="row2">${stateBadge(a)}<span class="name" title="${escapeHTML(name)}">`
    + `${escapeHTML(name)}</span></div>`
    + `<div class="row3">${escapeHTML(districtZh)} `
    + `<span class="en">${escapeHTML(districtEn)}</span>`
    + ` · <span class="at">${bilingual(["发布", "raised"])} ${clock(a.raised_at)}</span>`
    + `${escalated}</div>`
    + (a.reason || moved ? `<div class="reason">${escapeHTML(a.reason ?? "")}`
      + `${a.reason && moved ? " · " : ""}${moved}</div>` : "");
}

// The list, each alarm's item kept (an item moved or rewritten only when it has to be, so
// the highlight of a change runs once); `changed`: the alarm just changed, highlighted.
function render(changed = null) {
  const panel = $("#alarm-panel");
  if (!panel || panel.hidden) return;
  const list = panel.querySelector(".alarm-list");
  const alarms = ordered();
  const keep = new Set(alarms.map((a) => a.id));
  for (const [id, item] of nodes) {
    if (keep.has(id)) continue;
    nodes.delete(id);
    item.classList.add("leaving");  // fades, then goes (the style sheet's transition)
    item.removeAttribute("tabindex");
    setTimeout(() => item.remove(), 600);
  }
  alarms.forEach((alarm, index) => {
    let item = nodes.get(alarm.id);
    if (!item) {
      item = document.createElement("li");
      item.tabIndex = 0;
      item.setAttribute("role", "button");
      nodes.set(alarm.id, item);
    }
    // grade and state classes replaced; "fresh" and "selected" stay
    for (const name of [...item.classList]) {
      if (/^(grade|state)-/.test(name)) item.classList.remove(name);
    }
    item.classList.add("alarm", `grade-${alarm.grade}`, `state-${alarm.state}`);
    item.dataset.id = String(alarm.id);
    item.dataset.grade = alarm.grade;
    item.dataset.state = alarm.state;
    item.title = `${alarm.point_code} · ${GRADE_NAMES[alarm.grade]?.join(" · ") ?? alarm.grade}`
      + " — 点击定位 · click to show on the map";
    const html = itemHTML(alarm);
    if (shownHTML.get(item) !== html) {
      item.innerHTML = html;
      shownHTML.set(item, html);
    }
    const live = [...list.children].filter((li) => !li.classList.contains("leaving"));
    if (live[index] !== item) list.insertBefore(item, live[index] ?? null);
  });
  if (changed !== null && nodes.has(changed)) flash(nodes.get(changed));
  const counts = Object.fromEntries(GRADES.map((g) => [g, 0]));
  for (const alarm of alarms) if (alarm.grade in counts) counts[alarm.grade] += 1;
  for (const g of GRADES) {
    const chip = panel.querySelector(`.count[data-grade="${g}"]`);
    chip.querySelector("b").textContent = String(counts[g]);
    chip.classList.toggle("zero", counts[g] === 0);
  }
  const empty = panel.querySelector(".empty");
  empty.hidden = alarms.length > 0 || (!state.loaded && !state.error);
  empty.innerHTML = state.error && !state.loaded
    ? bilingual(["预警列表读取失败", "Alarms unavailable"])
    : bilingual(["暂无未关闭预警", "No open alarms"]);
  const more = panel.querySelector(".more");
  const left = state.matched - LIMIT;
  more.hidden = left <= 0;
  more.innerHTML = left > 0 ? `另有 ${left} 条较早的预警未列出 · <span class="en">${left} older `
    + `alarms not listed</span>` : "";
  panel.classList.toggle("has-open", alarms.some((a) => a.state === "open"));
  state.counts = counts;
}

function flash(item) {
  item.classList.remove("fresh");
  void item.offsetWidth;  // a new start of the animation, even if it was running
  item.classList.add("fresh");
}

// --- what app.js calls -----------------------------------------------------------------------

export const alarms = {
  // Once the map has loaded: the panel, the pulse layers, the list and the live feed.
  start() {
    page.alarms = state;
    panelSkeleton();
    addLayers();
    connect();  // before the list: a change in between comes by the stream
    load();
    document.addEventListener("visibilitychange", animate);
  },
  // A map click on a pulsing point opens its alarm (unless the situation tool took it).
  click(event) {
    const map = page.map;
    const layers = [`${SOURCE}-core`, `${SOURCE}-ring`].filter((id) => map.getLayer(id));
    if (!layers.length) return false;
    const {x, y} = event.point;
    const hit = map.queryRenderedFeatures([[x - 5, y - 5], [x + 5, y + 5]], {layers})[0];
    if (!hit) return false;
    showAlarm(Number(hit.properties.id), {open: true});
    return true;
  },
};
