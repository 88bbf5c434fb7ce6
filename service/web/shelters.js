// The planners' view of the map page: shelters by class, the shelter area per resident
// (a choropleth of GET /analysis/shelters, district and sub-district), residents without
// a shelter place (the shelter_gaps tiles), and proposals for new shelters.
//
// The colours are the style's (layers/style.py); their legends come in the style's
// metadata (`onemap:legends`), read here. The choropleth's GeoJSON is fetched by app.js
// when the layer is first shown (`page.data[source id]`); this module only reads it.
// app.js calls the four functions of `planners`.

import {bilingual, districtName, escapeHTML, getJSON, numberText, page, say} from "./app.js";

const PROVISION = "shelter_provision";
const PROPOSALS = "onemap-proposals";
const PROPOSAL_COLOUR = "#263238";  // dark slate: no grade, no shelter class
const CLASS_NAMES = {
  emergency: ["紧急", "emergency"], fixed: ["固定", "fixed"], central: ["中心", "central"],
};
const LEVEL_NAMES = {district: ["区县", "District"], subdistrict: ["街道（乡镇）", "Sub-district"]};

const legends = () => page.style?.metadata?.["onemap:legends"] ?? {};
const shown = (value) => value !== undefined && value !== null && value !== "";

function decimals(value, digits = 2) {
  return Number(value).toLocaleString("zh-CN", {maximumFractionDigits: digits});
}

function percent(share) {
  return shown(share) ? `${(Number(share) * 100).toFixed(1)} %` : "–";
}

function m2(value) {
  return shown(value) ? `${numberText(Math.round(Number(value)))} m²` : "–";
}

function row(names, value, attributes = "") {
  return `<tr${attributes}><th>${bilingual(names)}</th><td class="num">${value}</td></tr>`;
}

// --- the choropleth -----------------------------------------------------------------------

// The standard the analysis applied (1.5 m² per resident in the rules), from its data.
function standard() {
  const key = legends()[PROVISION]?.standard_property ?? "standard_m2";
  for (const data of Object.values(page.data)) {
    const value = data?.features?.[0]?.properties?.[key];
    if (typeof value === "number") return value;
  }
  return null;
}

function binOf(p) {
  const bins = legends()[PROVISION]?.bins ?? [];
  if (typeof p.area_per_resident_m2 !== "number") return null;
  const share = p.area_per_resident_m2 / p.standard_m2;
  const side = bins.filter((b) => b.meets === Boolean(p.meets_standard));
  return side.find((b) => share >= b.low && (b.high === null || share < b.high))
    ?? side[side.length - 1] ?? null;
}

function verdict(p) {
  const legend = legends()[PROVISION] ?? {};
  const colour = binOf(p)?.colour ?? legend.no_residents?.colour ?? "#999";
  const words = p.meets_standard ? [legend.meets_zh ?? "达标", legend.meets_en ?? "meets"]
    : [legend.fails_zh ?? "未达标", legend.fails_en ?? "below"];
  return `<span class="verdict ${p.meets_standard ? "meets" : "fails"}" `
    + `style="background:${escapeHTML(colour)}">${escapeHTML(words[0])} · `
    + `${escapeHTML(words[1])}</span>`;
}

function provisionHTML(p) {
  const classes = Object.entries(CLASS_NAMES).filter(([c]) => shown(p[`shelters_${c}`]))
    .map(([c, [zh, en]]) => `${zh}<span class="en">${en}</span> ${numberText(p[`shelters_${c}`])}`)
    .join(" · ");
  const perResident = typeof p.area_per_resident_m2 === "number"
    ? `<b>${decimals(p.area_per_resident_m2)} m²</b><br><small>标准 <span class="en">standard</span>`
      + ` &gt; ${decimals(p.standard_m2)} m²</small>` : "–";
  const level = LEVEL_NAMES[p.level] ?? LEVEL_NAMES.district;
  const suggest = p.level === "district"
    ? `<p class="actions"><button type="button" class="suggest" data-code="${escapeHTML(p.code)}">`
      + `建议新址 <span class="en">Suggest sites</span></button></p><div class="proposals"></div>`
    : "";
  return `<div class="popup provision"><h3>${escapeHTML(p.name ?? p.code)} `
    + `<span class="en">${escapeHTML(p.name_en ?? "")}</span></h3>`
    + `<p class="layer-name">${bilingual(["人均避难面积", "Shelter area per resident"])} · `
    + `${bilingual(level)}</p><p>${verdict(p)}</p><table>`
    + row(["常住人口", "Residents"], numberText(p.population ?? 0))
    + row(["避难场所", "Shelters"], numberText(p.shelter_count ?? 0))
    + (classes ? `<tr class="sub"><td colspan="2">${classes}</td></tr>` : "")
    + row(["有效避难面积", "Shelter area"], m2(p.shelter_area_m2))
    + row(["人均避难面积", "Area per resident"], perResident, ' class="per-resident"')
    + row(["面积缺口", "Deficit"], m2(p.deficit_m2))
    + row(["步行范围覆盖", "Walking coverage"], `${percent(p.coverage_all)}<br><small>紧急 `
      + `<span class="en">emergency</span> ${percent(p.coverage_emergency)}</small>`)
    + row(["无避难位置居民", "Residents without a place"], numberText(p.uncovered_population ?? 0))
    + `</table>${suggest}</div>`;
}

// --- residents without a shelter place ------------------------------------------------------

function subdistrictName(code) {
  const data = page.data[`${PROVISION}_subdistricts`];
  const found = data?.features?.find((f) => f.properties?.code === code)?.properties;
  return found ? `${found.name} · ${found.name_en ?? ""}` : code;
}

function gapHTML(p) {
  const density = p.area_km2 > 0 ? Math.round(p.residents / p.area_km2) : null;
  return `<div class="popup gap"><h3>${bilingual(["避难场所覆盖缺口", "Shelter gap"])}</h3>`
    + `<p class="layer-name">步行范围内无避难位置（已计容量）· `
    + `<span class="en">no shelter place within walking range, capacity counted</span></p>`
    + `<table>${row(["无避难位置居民", "Residents without a place"],
      `<b>${numberText(p.residents ?? 0)}</b>`)}`
    + row(["面积", "Area"], shown(p.area_km2) ? `${decimals(p.area_km2)} km²` : "–")
    + row(["密度", "Per km²"], density === null ? "–" : numberText(density))
    + (shown(p.subdistrict_code) ? row(["街道（乡镇）", "Sub-district"],
      escapeHTML(subdistrictName(p.subdistrict_code))) : "")
    + row(["区县", "District"], escapeHTML(districtName(p.district_code))) + `</table></div>`;
}

// --- proposals for new shelters -------------------------------------------------------------

function clearProposals() {
  for (const marker of page.proposalMarkers ?? []) marker.remove();
  page.proposalMarkers = [];
  page.map.getSource(PROPOSALS)?.setData({type: "FeatureCollection", features: []});
}

function showProposals(answer, around) {
  const map = page.map;
  const features = (answer.candidates ?? []).map((c) => ({
    type: "Feature", geometry: {type: "Point", coordinates: [c.lon, c.lat]},
    properties: {rank: c.rank, gain: c.gain, cumulative_gain: c.cumulative_gain,
      district_code: answer.district_code}}));
  if (!map.getSource(PROPOSALS)) {
    map.addSource(PROPOSALS, {type: "geojson", data: {type: "FeatureCollection", features: []}});
    map.addLayer({id: PROPOSALS, type: "circle", source: PROPOSALS,
      paint: {"circle-color": PROPOSAL_COLOUR, "circle-radius": 11,
        "circle-stroke-color": "#FFFFFF", "circle-stroke-width": 2}});
  }
  clearProposals();
  map.getSource(PROPOSALS).setData({type: "FeatureCollection", features});
  // numbers as HTML over the discs: there is no glyph server for text layers
  page.proposalMarkers = features.map((f) => {
    const node = document.createElement("div");
    node.className = "proposal-number";
    node.textContent = String(f.properties.rank);
    node.title = `第 ${f.properties.rank} 处：可安置 ${numberText(f.properties.gain)} 人 · `
      + `site ${f.properties.rank}: places for ${numberText(f.properties.gain)}`;
    return new page.maplibregl.Marker({element: node, anchor: "center"})
      .setLngLat(f.geometry.coordinates).addTo(map);
  });
  // the proposals in view, with the place clicked (where the popup is)
  const points = [...features.map((f) => f.geometry.coordinates), [around.lng, around.lat]];
  const xs = points.map((c) => c[0]);
  const ys = points.map((c) => c[1]);
  map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]],
    {padding: {top: 60, bottom: 60, left: 60, right: 60}, maxZoom: 14, duration: 600});
}

function proposalsHTML(answer) {
  const items = (answer.candidates ?? []).map((c) => `<li title="${decimals(c.lon, 5)}, `
    + `${decimals(c.lat, 5)}"><b>${c.rank}</b>+${numberText(c.gain)}</li>`).join("");
  if (!items) return `<p>${bilingual(["无需新址", "Nobody left without a place"])}</p>`;
  const last = answer.candidates[answer.candidates.length - 1];
  const kind = CLASS_NAMES[answer.class] ?? [answer.class, answer.class];
  return `<p>每处 ${numberText(answer.area_m2)} m² ${escapeHTML(kind[0])}避难场所，新增位置 `
    + `<span class="en">${escapeHTML(kind[1])} shelter each, places gained</span></p>`
    + `<ol>${items}</ol><p>无避难位置居民 <span class="en">without a place</span> `
    + `${numberText(answer.unsheltered_before)} → <b>${numberText(last.unsheltered_after)}</b></p>`;
}

function wireSuggest(popup) {
  const button = popup.getElement()?.querySelector("button.suggest");
  if (!button) return;
  button.addEventListener("click", async () => {
    const box = popup.getElement().querySelector(".proposals");
    button.disabled = true;
    box.innerHTML = bilingual(["正在计算…", "Computing…"]);
    try {
      const answer = await getJSON(`analysis/shelters/${encodeURIComponent(button.dataset.code)}`
        + `/candidates?n=5`);
      showProposals(answer, popup.getLngLat());
      box.innerHTML = proposalsHTML(answer);
    } catch (error) {
      box.innerHTML = `建议新址失败 · <span class="en">No proposals</span>: `
        + `${escapeHTML(error.message)}`;
      say("proposals", `建议新址失败 · No proposals: ${escapeHTML(error.message)}`, "warning");
    } finally {
      button.disabled = false;
    }
  });
}

// --- legends --------------------------------------------------------------------------------

function swatch(colour, kind = "", style = "") {
  return `<span class="swatch ${kind}" style="background:${escapeHTML(colour)};${style}"></span>`;
}

function provisionLegend() {
  const legend = legends()[PROVISION];
  const value = standard();
  if (!legend || value === null) return "";
  const range = (b) => {
    const low = decimals(b.low * value);
    if (b.high === null) return b.meets ? `≥ ${low}` : `${low}–${decimals(value)}`;
    return b.low === 0 ? `< ${decimals(b.high * value)}` : `${low}–${decimals(b.high * value)}`;
  };
  const side = (meets, zh, en) => `<div class="legend-row"><span class="side">${escapeHTML(zh)} `
    + `<span class="en">${escapeHTML(en)}</span></span>`
    + legend.bins.filter((b) => b.meets === meets).map((b) => `<span class="step">`
      + `${swatch(b.colour)}<small>${range(b)}</small></span>`).join("") + `</div>`;
  const none = legend.no_residents;
  return `<p class="legend-title">${escapeHTML(legend.label_zh)} <span class="en">`
    + `${escapeHTML(legend.label_en)}</span> · 标准 <span class="en">standard</span> `
    + `&gt; ${decimals(value)}</p>`
    + side(false, legend.fails_zh, legend.fails_en) + side(true, legend.meets_zh, legend.meets_en)
    + (none ? `<div class="legend-row">${swatch(none.colour)}<small>${escapeHTML(none.label_zh)} `
      + `<span class="en">${escapeHTML(none.label_en)}</span></small></div>` : "");
}

function sheltersLegend() {
  const classes = legends().shelters ?? [];
  if (!classes.length) return "";
  return `<div class="legend-row">` + classes.map((c) => `<span class="step">`
    + `${swatch(c.colour, "dot")}<small>${escapeHTML(c.label_zh)} <span class="en">`
    + `${escapeHTML(c.label_en)}</span></small></span>`).join("") + `</div>`
    + `<p class="legend-note">圆面积示有效避难面积 <span class="en">circle area: effective area</span></p>`;
}

function gapsLegend() {
  const legend = legends().shelter_gaps;
  if (!legend) return "";
  const pattern = hatch(patterns()[legend.pattern] ?? {colour: legend.colour});
  return `<p class="legend-title">${escapeHTML(legend.label_zh)} <span class="en">`
    + `${escapeHTML(legend.label_en)}</span></p><div class="legend-row">`
    + legend.stops.map((s) => `<span class="step">${swatch(pattern, "hatch",
      `opacity:${s.opacity};border:1px dashed ${escapeHTML(legend.outline)}`)}`
      + `<small>${numberText(s.density)}</small></span>`).join("") + `</div>`;
}

// --- hatch patterns: the style names them (`onemap:patterns`); there is no sprite ---------

const patterns = () => page.style?.metadata?.["onemap:patterns"] ?? {};

// The pattern as CSS, for the panel.
function hatch(spec) {
  const colour = spec.colour ?? "#666";
  const width = spec.width ?? 2;
  return `repeating-linear-gradient(135deg, ${colour} 0 ${width}px, `
    + `transparent ${width}px ${(spec.size ?? 7) * 0.72}px)`;
}

// The pattern as an image for the map: diagonal stripes that tile seamlessly.
function addPattern(id) {
  const spec = patterns()[id];
  if (!spec || page.map.hasImage(id)) return;
  const ratio = 2;
  const n = Math.round((spec.size ?? 7) * ratio);
  const width = (spec.width ?? 2) * ratio;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(spec.colour.slice(i, i + 2), 16));
  const data = new Uint8Array(n * n * 4);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if ((x + y) % n < width) data.set([r, g, b, 255], (y * n + x) * 4);
    }
  }
  page.map.addImage(id, {width: n, height: n, data}, {pixelRatio: ratio});
}

// --- what app.js calls ----------------------------------------------------------------------

export const planners = {
  // The popup of a feature of the planners' layers, or null for the others.
  popup(name, feature) {
    if (name === PROVISION) return {html: provisionHTML(feature.properties), opened: wireSuggest};
    if (name === "shelter_gaps") return {html: gapHTML(feature.properties)};
    return null;
  },
  // The legend shown under a layer of the panel while it is on ("" for none).
  legend(name) {
    if (name === PROVISION) return provisionLegend();
    if (name === "shelters") return sheltersLegend();
    if (name === "shelter_gaps") return gapsLegend();
    return "";
  },
  // An image the style asks for and MapLibre does not have (MapLibre's styleimagemissing).
  pattern: addPattern,
  // The panel's symbol of a fill drawn with a pattern (null: not one of ours).
  symbol(patternId) {
    const spec = patterns()[patternId];
    return spec ? hatch(spec) : null;
  },
  // A layer of the panel switched on or off.
  toggled(name, visible) {
    if (name === PROVISION && !visible) clearProposals();
  },
};
